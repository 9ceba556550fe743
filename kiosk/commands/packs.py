"""`kiosk models build-pack | pull | pack-info | build-engines`: diffusion model packs (added to `models`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kiosk.commands import Subparsers


def build_hint(pack_dir: Path) -> str:
    """The exact commands that build a pack on a connected machine and where to put it."""
    return (f"on a connected machine run `pip install 'headshot-kiosk[export]' && kiosk models build-pack "
            f"stabilityai/sd-turbo -o sd-turbo-pack --fp16`, then copy sd-turbo-pack to {pack_dir} "
            "(SD-Turbo is licensed for non-commercial use; see the operator docs for an sd15-lcm pack)")


def register(msub: Subparsers) -> None:
    """Add the pack actions to the `models` group."""
    from models.diffusion.build.families import FAMILIES

    bp = msub.add_parser(
        "build-pack",
        help="build a model pack from a published checkpoint (diffusers folder, Optimum export or hub id)",
        description="Export the UNet and VAE to ONNX at static shapes, encode the style presets with the "
        "checkpoint's own text encoder, and write a verified pack. Needs the export extra "
        "(pip install 'headshot-kiosk[export]'); a hub id needs a connected machine.",
    )
    bp.add_argument("source", help="checkpoint folder, or a hub id org/name[@revision]")
    bp.add_argument("-o", "--out", required=True, help="pack folder to create")
    bp.add_argument("--family", choices=sorted(FAMILIES), help="model family (default: from the scheduler)")
    bp.add_argument("--styles", help="style presets TOML (default: the built-in professional looks)")
    bp.add_argument("--fp16", action="store_true", help="also export the half-precision UNet (GPUs)")
    bp.add_argument("--resolution", help="generation size WxH, px (default: the family's, 512x640 for 4:5)")
    bp.add_argument("--revision", help="revision of a hub id (default: main)")
    bp.add_argument("--license", dest="license_id", help="licence id when the model card names none")
    bp.add_argument("--force", action="store_true", help="replace an existing pack at --out")
    bp.add_argument("--json", action="store_true", help="print JSON")
    bp.set_defaults(func=_build_pack)

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

    i = msub.add_parser("pack-info", help="validate a model pack and print what it holds (licence included)")
    i.add_argument("pack", nargs="?", help="pack folder (default: config generation.pack_dir)")
    i.add_argument("--no-verify", action="store_true", help="skip the sha256 pass over every file")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_pack_info)

    b = msub.add_parser("build-engines", help="build and cache TensorRT engines for a pack on this GPU")
    b.add_argument("pack", nargs="?", help="pack folder (default: config generation.pack_dir)")
    b.add_argument(
        "--backend",
        choices=("tensorrt", "ort"),
        help="native TensorRT engines, or the ONNX Runtime TensorRT provider's (default: the config's runtime)",
    )
    b.add_argument("--precision", choices=("fp16", "fp32"), help="which graphs to build (default: the config's)")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.set_defaults(func=_build_engines)


def _pack_dir(args: argparse.Namespace, given: str | None) -> Path:
    if given:
        return Path(given)
    from kiosk.config import load_config

    cfg = load_config(args.config)
    return cfg.generation.resolved_pack_dir(cfg.models_dir)


def _resolution(text: str | None) -> tuple[int, int] | None:
    from kiosk.errors import InputError

    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--resolution {text}: give WIDTHxHEIGHT in px, e.g. 512x640") from None
    return w, h


def _quiet_export_libraries() -> None:
    """Keep the export libraries' own chatter off the operator's terminal (`kiosk -v` shows it).

    diffusers and transformers print hints (install accelerate or torchvision), weight-loading progress bars
    and a tokenizer warning about a prompt longer than the text encoder's window, which build-pack refuses
    with its own message anyway; build-pack's result or its one error line is what the operator needs.
    """
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for lib in (diffusers_logging, transformers_logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()


def _build_pack(args: argparse.Namespace) -> int:
    from kiosk.errors import InputError

    resolution = _resolution(args.resolution)
    try:
        from models.diffusion.build import build_pack
    except ImportError as err:
        raise InputError(f"build-pack needs the export extra ({err.name} is missing): "
                         "pip install 'headshot-kiosk[export]'") from err
    try:
        import diffusers  # noqa: F401  # reason: fail early with the fix, before any work
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        raise InputError(f"build-pack needs the export extra ({err.name} is missing): "
                         "pip install 'headshot-kiosk[export]'") from err
    if not args.verbose:
        _quiet_export_libraries()
    report = build_pack(
        args.source, Path(args.out), family=args.family, styles_file=Path(args.styles) if args.styles else None,
        fp16=args.fp16, resolution=resolution, revision=args.revision, license_id=args.license_id, force=args.force,
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))  # noqa: T201  # reason: CLI output
        return 0
    from models.diffusion.licence import verdict

    lic = verdict(report.license)
    print(  # noqa: T201  # reason: CLI output
        f"built {report.path}: {report.model_id} [{report.family}] {report.size[0]}×{report.size[1]} px, "
        f"graphs {'+'.join(report.variants)}, {len(report.styles)} styles, {report.bytes / 1e6:.1f} MB "
        f"in {report.timings_s['total']:.0f} s\nlicence: {lic.message}"
    )
    return 0


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
        + f"\nlicence: {info['license_note']}"
    )
    return 0


def _pack_info(args: argparse.Namespace) -> int:
    from models.diffusion.pack import load_pack

    pack = load_pack(_pack_dir(args, args.pack), verify="none" if args.no_verify else "full")
    info = pack.describe()
    info["verified"] = not args.no_verify
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))  # noqa: T201  # reason: CLI output
        return 0
    rev = f" @ {info['revision']}" if info["revision"] else ""
    lines = [
        f"pack        {info['path']}" + ("  (sha256 verified)" if info["verified"] else ""),
        f"model       {info['model_id']}{rev}  [{info['family']}]",
        f"source      {info['source']}",
        f"licence     {info['license']} ({info['license_use']}): {info['license_note']}",
        f"size        {info['size'][0]}×{info['size'][1]} px, latent {'×'.join(map(str, info['latent']))}, "
        f"scaling {info['scaling_factor']}",
        f"graphs      {', '.join(info['precisions'])}",
        f"scheduler   {info['scheduler']} (defaults: {info['defaults']})",
        f"files       {info['files']} ({info['bytes'] / 1e6:.1f} MB)",
        "styles",
        *(f"  {name:14} {s['labels'].get('en', name)}: {s['prompt']}" for name, s in info["styles"].items()),
    ]
    print("\n".join(lines))  # noqa: T201  # reason: CLI output
    return 0


def _build_engines(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from models.diffusion.pack import COMPONENTS, load_pack
    from models.runtime import OrtConfig, TensorRTConfig, make_runtime

    cfg = load_config(args.config).generation.runtime
    pack = load_pack(_pack_dir(args, args.pack), verify="full")
    backend = args.backend or ("tensorrt" if isinstance(cfg, TensorRTConfig) else "ort")
    precision = args.precision or (cfg.precision if isinstance(cfg, TensorRTConfig) else
                                   ("fp16" if cfg.fp16 else "fp32"))
    engines = pack.root / "engines"
    runtime_cfg: OrtConfig | TensorRTConfig
    if backend == "tensorrt":
        base = cfg if isinstance(cfg, TensorRTConfig) else TensorRTConfig()
        runtime_cfg = base.model_copy(update={"precision": precision})
    else:
        base_o = cfg if isinstance(cfg, OrtConfig) else OrtConfig()
        runtime_cfg = base_o.model_copy(update={"providers": ["tensorrt"], "fp16": precision == "fp16"})
    runtime = make_runtime(runtime_cfg, engine_dir=engines, allow_build=True)
    graphs = pack.precision(runtime.prefers_fp16)
    report = []
    for name in COMPONENTS:
        t0 = time.monotonic()
        runtime.load(pack.graph(name, graphs), pack.static_shapes(name), digests=pack.graph_digests(name, graphs))
        report.append({"graph": name, "precision": graphs, "seconds": round(time.monotonic() - t0, 2)})
    out = {"backend": runtime.describe(), "cache": str(runtime.engine_dir), "graphs": report}
    if args.json:
        print(json.dumps(out, indent=2))  # noqa: T201  # reason: CLI output
    else:
        for row in report:
            print(f"{row['graph']:12} {row['precision']} ready in {row['seconds']:.1f} s")  # noqa: T201  # reason: CLI output
        print(f"engines cached in {runtime.engine_dir} (where the kiosk looks)")  # noqa: T201  # reason: CLI output
    return 0
