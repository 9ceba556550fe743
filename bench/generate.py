"""AI headshot: per-stage times, the share of time outside the network calls, and the gate's own cost.

Runs the whole generative path on a photo (studio headshots first, the canvas, masked generation, the
neck match and composite, the gate, the cuts) with a model pack on the configured runtime. By default the
pack is the SD-Turbo-shaped one built by `kiosk models build-pack` from a random-weight checkpoint with SD
2.1's real architecture (scripts/make_random_checkpoint.py --shape sd-turbo; built once into build/, minutes,
~6 GB): its images are noise (the gate refuses them, as it must), but every network has its real size, so
the times are what the CPU would spend on a real pack.

Reported, all medians over --repeat jobs:
- per-stage times (ms);
- the generation job's time outside the three networks (VAE encoder, UNet, VAE decoder), as a share of the
  job (canvas → gate → cuts; the studio results made first are not part of it): target ≤ 5 %;
- the floor, measured in the same run: the networks' own time for one job; the job's ratio to it;
- the gate: its time, and its ratio to a floor of one face detection on the canvas (the gate runs the
  thorough detection plus three measures).

Usage: python -m bench.generate [--pack DIR | --shape tiny|sd-turbo] [--photo FILE] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from bench._common import REPO, emit
from kiosk.config import load_config
from kiosk.generation.local import LocalGenerator
from kiosk.pipeline.generative import GenerativePipeline
from kiosk.pipeline.imageio import load_image
from kiosk.pipeline.studio import StudioPipeline
from models.runtime import OrtConfig

NETWORK = ("generate.vae_encode", "generate.unet", "generate.vae_decode")
JOB = ("canvas", "generate", "compose", "gate", "cut")
SAMPLE = REPO / "kiosk" / "assets" / "sample_portrait.png"


def random_pack(shape: str) -> Path:
    """The random-weight pack of `shape`, built once under build/bench-packs by the product's own build-pack."""
    import subprocess
    import sys

    from models.diffusion.build import build_pack

    ckpt = REPO / "build" / f"random-{shape}"
    pack = REPO / "build" / "bench-packs" / shape
    if not (ckpt / "model_index.json").exists():
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_random_checkpoint.py"), "--shape", shape,
                        "--out", str(ckpt)], check=True)
    if not (pack / "manifest.json").exists():
        size = (512, 640) if shape == "sd-turbo" else (128, 160)
        build_pack(str(ckpt), pack, family="sd-turbo", resolution=size, force=True)
    return pack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, help="a pack folder (default: the random pack of --shape)")
    ap.add_argument("--shape", choices=("sd-turbo", "tiny"), default="sd-turbo",
                    help="random pack to build and time when no --pack is given")
    ap.add_argument("--photo", type=Path, default=SAMPLE)
    ap.add_argument("--style", default="corporate")
    ap.add_argument("--formats", default="portrait,print-4x6")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--strength", type=float, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--providers", default="cpu", help="comma-separated ORT providers in priority order")
    args = ap.parse_args()

    pack = args.pack or random_pack(args.shape)
    cfg = load_config()
    photo = load_image(args.photo).bgr
    formats = args.formats.split(",")
    t0 = time.perf_counter()
    generator = LocalGenerator(pack, OrtConfig(providers=args.providers.split(",")))
    load_ms = (time.perf_counter() - t0) * 1000.0
    runs: list[dict[str, float]] = []
    detect_ms: list[float] = []
    outcome = ""
    with StudioPipeline(cfg.models_dir, cfg.pipeline) as studio:
        pipe = GenerativePipeline(studio, generator)
        img = studio.prepare(photo)
        analysis = studio.analyse(img)
        made = {f: studio.headshot(img, fmt=f, analysis=analysis) for f in formats}
        for i in range(args.repeat):
            res = pipe.make(img, style=args.style, formats=formats, analysis=analysis, studio=made, seed=i,
                            steps=args.steps, strength=args.strength)
            runs.append(dict(res.timings_ms))
            outcome = "generated" if res.generated else f"refused: {res.fallback_reason}"
            canvas = res.stages["composite"]
            bgr = (canvas[..., ::-1] * 255).astype("uint8")
            t = time.perf_counter()
            studio.detect(bgr)
            detect_ms.append((time.perf_counter() - t) * 1000.0)
    stages = sorted({k for r in runs for k in r})
    med = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in stages}

    def job(r: dict[str, float]) -> float:
        return sum(r.get(k, 0.0) for k in JOB)

    def network(r: dict[str, float]) -> float:
        return sum(r[k] for k in NETWORK)

    # Shares per run, then their median (medians of parts do not add up to the median of the whole).
    outside = statistics.median((job(r) - network(r)) / job(r) for r in runs)
    floor = statistics.median(network(r) for r in runs)
    gate_floor = statistics.median(detect_ms)
    out = {
        "bench": "generate",
        "pack": str(pack),
        "size": list(generator.size),
        "precision": generator.pipeline.precision,
        "runtime": generator.runtime.describe(),
        "formats": formats,
        "repeat": args.repeat,
        "outcome": outcome,
        "load_and_warmup_ms": round(load_ms, 1),
        "stage_ms_median": {k: round(v, 1) for k, v in med.items()},
        "job_ms_median": round(statistics.median(job(r) for r in runs), 1),
        "floor_network_ms_median": round(floor, 1),
        "ratio_job_to_network_floor": round(statistics.median(job(r) / network(r) for r in runs), 4),
        "outside_network_share": round(outside, 4),
        "gate_ms_median": round(med.get("gate", 0.0), 1),
        "floor_face_detection_ms": round(gate_floor, 1),
        "ratio_gate_to_detection": round(med.get("gate", 0.0) / gate_floor, 2),
        "gate_share_of_job": round(statistics.median(r.get("gate", 0.0) / job(r) for r in runs), 4),
        "target": "outside_network_share <= 0.05 on the SD-Turbo-shaped pack on CPU",
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }
    out["target_met"] = out["outside_network_share"] <= 0.05
    emit(out)


if __name__ == "__main__":
    main()
