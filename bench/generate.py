"""Generative headshot: per-stage times and the share of time spent outside the network calls.

Runs the whole generative path (studio headshot, crop, img2img, face paste-back, composition) on a
test portrait with a model pack on the configured runtime (default: the tiny test pack on the CPU),
and reports per-stage medians, the share of the img2img time spent outside the network calls
(encoder, denoiser, decoder; target ≤ 5 % with the tiny pack on CPU), the same share for the whole
generative step (crop + img2img + paste-back), and ratios against a floor measured in the same run:
one JPEG decode + encode of an image of the output size.
Usage: python -m bench.generate [--pack DIR] [--photo FILE] [--repeat N] [--steps N] [--format NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from kiosk.config import load_config
from kiosk.generation.local import LocalGenerator
from kiosk.pipeline.generative import GenerativePipeline
from kiosk.pipeline.imageio import load_image
from kiosk.pipeline.studio import StudioPipeline
from models.runtime import OrtConfig

REPO = Path(__file__).resolve().parents[1]
NETWORK = ("generate.vae_encode", "generate.unet", "generate.vae_decode")


def jpeg_floor_ms(image: np.ndarray, repeat: int) -> float:
    """Median of one JPEG encode + decode of `image` (q92)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        cv2.imdecode(buf, cv2.IMREAD_COLOR)
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, default=REPO / "tests" / "fixtures" / "tiny_pack")
    ap.add_argument(
        "--photo",
        type=Path,
        default=REPO / ".." / "shared" / "testdata" / "portraits" / "nasa_woman_dark_skin_01.jpg",
    )
    ap.add_argument("--style", default="studio")
    ap.add_argument("--format", dest="fmt", default="portrait")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--strength", type=float, default=None)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--providers", default="cpu", help="comma-separated ORT providers in priority order")
    args = ap.parse_args()

    cfg = load_config()
    photo = load_image(args.photo).bgr
    t0 = time.perf_counter()
    generator = LocalGenerator(args.pack, OrtConfig(providers=args.providers.split(",")))
    load_ms = (time.perf_counter() - t0) * 1000.0
    runs: list[dict[str, float]] = []
    with StudioPipeline(cfg.models_dir, cfg.pipeline) as studio:
        pipe = GenerativePipeline(studio, generator)
        pipe.headshot(photo, style=args.style, fmt=args.fmt, seed=0, steps=args.steps, strength=args.strength)
        for i in range(args.repeat):
            res = pipe.headshot(
                photo, style=args.style, fmt=args.fmt, seed=i, steps=args.steps, strength=args.strength
            )
            if not res.generated:
                raise SystemExit(f"generation fell back: {res.fallback_reason}")
            runs.append(dict(res.timings_ms))
        floor = jpeg_floor_ms(res.image, max(5, args.repeat))
    stages = sorted({k for r in runs for k in r})
    med = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in stages}
    # Shares per run, then their median (medians of parts do not add up to the median of the whole).
    img2img_share = statistics.median(
        (r["generate.total"] - sum(r[k] for k in NETWORK)) / r["generate.total"] for r in runs
    )
    step_share = statistics.median(
        (r["crop"] + r["generate"] + r["paste_back"] - sum(r[k] for k in NETWORK))
        / (r["crop"] + r["generate"] + r["paste_back"])
        for r in runs
    )
    img2img = med["generate.total"]
    step = med["crop"] + med["generate"] + med["paste_back"]
    out = {
        "bench": "generate",
        "pack": str(args.pack),
        "resolution": generator.resolution,
        "runtime": generator.pipeline.unet.device,
        "providers": args.providers,
        "format": args.fmt,
        "output_size": list(res.image.shape[1::-1]),
        "repeat": args.repeat,
        "load_and_warmup_ms": round(load_ms, 1),
        "stage_ms_median": {k: round(v, 2) for k, v in med.items()},
        "img2img_outside_network_share": round(img2img_share, 4),
        "generative_step_outside_network_share": round(step_share, 4),
        "floor_jpeg_decode_encode_ms": round(floor, 2),
        "ratio_to_floor": {
            "img2img": round(img2img / floor, 2),
            "paste_back": round(med["paste_back"] / floor, 2),
            "generative_step": round(step / floor, 2),
            "studio": round(med["studio"] / floor, 2),
        },
        "target": "img2img_outside_network_share <= 0.05 (tiny pack, CPU)",
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    out["img2img_target_met"] = out["img2img_outside_network_share"] <= 0.05
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
