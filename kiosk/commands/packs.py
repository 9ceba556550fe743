"""`kiosk models pull | pack-info | build-engines`: diffusion model packs (added to `models`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def register(msub: Any) -> None:
    """Add the pack actions to the `models` group."""
    p = msub.add_parser("pull", help="download a diffusion model pack (resumable, sha256-verified, atomic)")
    p.add_argument(
        "source", help="https URL of the pack folder, or a Hugging Face repo id (org/name[@revision])"
    )
    p.add_argument("--to", dest="dest", help="target folder (default: config generation.pack_dir)")
    p.add_argument("--force", action="store_true", help="replace an existing pack at the target")
    p.add_argument("--sha256", help="expected sha256 of the pack's manifest.json")
    p.add_argument("--timeout", type=float, default=60.0, help="socket timeout per request, s (default 60)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_pull)

    i = msub.add_parser("pack-info", help="validate a model pack and print what it holds")
    i.add_argument("pack", nargs="?", help="pack folder (default: config generation.pack_dir)")
    i.add_argument("--no-verify", action="store_true", help="skip the sha256 pass over every file")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_pack_info)

    b = msub.add_parser("build-engines", help="build and cache TensorRT engines for a pack on this GPU")
    b.add_argument("pack", nargs="?", help="pack folder (default: config generation.pack_dir)")
    b.add_argument(
        "--backend",
        choices=("tensorrt", "ort"),
        default="tensorrt",
        help="native TensorRT engines, or the ONNX Runtime TensorRT provider's cache (default tensorrt)",
    )
    b.add_argument("--cache", help="engine cache folder (default: <pack>/trt_engines)")
    b.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="engine precision")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.set_defaults(func=_build_engines)


def _pack_dir(args: argparse.Namespace, given: str | None) -> Path:
    if given:
        return Path(given)
    from kiosk.config import load_config

    cfg = load_config(args.config)
    return cfg.generation.resolved_pack_dir(cfg.models_dir)


def _pull(args: argparse.Namespace) -> int:
    from models.pull import pull_pack

    dest = _pack_dir(args, args.dest)
    last = [0.0]

    def progress(name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if args.quiet or (now - last[0] < 0.5 and done != total):
            return
        last[0] = now
        size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        print(f"  {name}: {size}", file=sys.stderr)  # noqa: T201  # reason: CLI progress

    result = pull_pack(
        args.source,
        dest,
        force=args.force,
        manifest_sha256=args.sha256,
        timeout_s=args.timeout,
        progress=progress,
    )
    info = result.pack.describe()
    print(  # noqa: T201  # reason: CLI output
        f"installed {info['model_id']} ({info['files']} files, {info['bytes'] / 1e6:.1f} MB) "
        f"in {result.dest}"
        + (f"; resumed {len(result.resumed_files)} file(s)" if result.resumed_files else "")
    )
    return 0


def _pack_info(args: argparse.Namespace) -> int:
    from models.diffusion.pack import load_pack

    pack = load_pack(_pack_dir(args, args.pack), verify=not args.no_verify)
    info = pack.describe()
    info["verified"] = not args.no_verify
    if args.json:
        print(json.dumps(info, indent=2))  # noqa: T201  # reason: CLI output
        return 0
    lines = [
        f"pack        {info['path']}" + ("  (sha256 verified)" if info["verified"] else ""),
        f"model       {info['model_id']}  [{info['family']}]",
        f"licence     {info['license']}",
        f"resolution  {info['resolution']} px, latent {'×'.join(map(str, info['latent']))}, "
        f"scaling {info['scaling_factor']}",
        f"scheduler   {info['scheduler']} (defaults: {info['defaults']})",
        f"files       {info['files']} ({info['bytes'] / 1e6:.1f} MB)",
        "styles",
        *(f"  {name:12} {prompt}" for name, prompt in info["styles"].items()),
    ]
    print("\n".join(lines))  # noqa: T201  # reason: CLI output
    return 0


def _build_engines(args: argparse.Namespace) -> int:
    from models.diffusion.pack import load_pack
    from models.runtime import OrtConfig, TensorRTConfig, make_runtime

    pack = load_pack(_pack_dir(args, args.pack))
    cache = Path(args.cache) if args.cache else pack.root / "trt_engines"
    if args.backend == "tensorrt":
        runtime: Any = make_runtime(TensorRTConfig(cache_dir=cache, precision=args.precision))
    else:
        runtime = make_runtime(
            OrtConfig(providers=["tensorrt"], cache_dir=cache, fp16=args.precision == "fp16")
        )
    m = pack.manifest
    r, lat, te = m.resolution, pack.latent_size, m.text_embeddings
    latent = (1, m.latent_channels, lat, lat)
    graphs = {
        "unet": {"sample": latent, "timestep": (1,), "encoder_hidden_states": (1, te.tokens, te.dim)},
        "vae_encoder": {"sample": (1, 3, r, r)},
        "vae_decoder": {"latent_sample": latent},
    }
    report = []
    for name, shapes in graphs.items():
        t0 = time.monotonic()
        runtime.load(pack.component(name), shapes)  # type: ignore[arg-type]  # reason: names are the pack's components
        report.append({"graph": name, "seconds": round(time.monotonic() - t0, 2)})
    out = {
        "backend": runtime.describe(),
        "cache": str(cache),
        "graphs": report,
        "engines": getattr(runtime, "built", []),
    }
    if args.json:
        print(json.dumps(out, indent=2))  # noqa: T201  # reason: CLI output
    else:
        for row in report:
            print(f"{row['graph']:12} ready in {row['seconds']:.1f} s")  # noqa: T201  # reason: CLI output
        print(f"engines cached in {cache}")  # noqa: T201  # reason: CLI output
    return 0
