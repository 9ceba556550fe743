"""`kiosk generate INPUT -o OUTPUT --pack DIR --style NAME [...]`: one photo to one generative headshot."""

from __future__ import annotations

import argparse
import errno
import json
import sys
from typing import Any

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `generate` command."""
    from kiosk.pipeline.background import STYLES
    from kiosk.pipeline.formats import FORMATS

    p = sub.add_parser(
        "generate",
        help="turn a photo into a generative headshot (the guest's own face, a generated studio look)",
        description="Studio headshot first, then img2img with the model pack; the guest's own face is pasted "
        "back. When generation cannot run, the studio headshot is written and the reason printed.",
    )
    p.add_argument("input", help="the photo (JPEG, PNG, …)")
    p.add_argument("-o", "--output", required=True, help="where to write the headshot (.jpg)")
    p.add_argument("--pack", help="model pack folder (default: config generation.pack_dir)")
    p.add_argument("--style", help="the pack's style preset (default: config generation.style)")
    p.add_argument("--steps", type=int, help="denoising schedule length, 1..100 (default: the style's)")
    p.add_argument("--strength", type=float, help="img2img strength, 0..1 (default: the style's)")
    p.add_argument("--seed", type=int, help="noise seed, ≥ 0 (default: random, printed)")
    p.add_argument(
        "--backdrop", choices=STYLES, help="studio backdrop under the generation (default: config)"
    )
    p.add_argument("--format", dest="fmt", choices=list(FORMATS), help="output format (default: config)")
    p.add_argument("--no-fallback", action="store_true", help="exit 1 instead of writing the studio result")
    p.add_argument("--save-stages", metavar="DIR",
                   help="also write the model's input, mask and raw output (.npy and .png) and the composite to DIR")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of a line")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from kiosk.errors import InputError

    if not str(args.output).lower().endswith((".jpg", ".jpeg")):
        raise InputError(f"{args.output}: the output must be a .jpg file")
    if args.steps is not None and not 1 <= args.steps <= 100:
        raise InputError(f"--steps {args.steps}: give a number of steps from 1 to 100")
    if args.strength is not None and not 0.0 < args.strength <= 1.0:
        raise InputError(f"--strength {args.strength}: give a strength above 0 and at most 1")
    if args.seed is not None and args.seed < 0:
        raise InputError(f"--seed {args.seed}: give a seed of 0 or more")


def _save_stages(folder: str, stages: dict[str, Any]) -> None:
    """Each stage as .npy (exact values, for parity checks) and .png (to look at)."""
    from pathlib import Path

    import cv2
    import numpy as np

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, arr in stages.items():
        np.save(out / f"{name}.npy", arr)
        img = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
        cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img)


def run(args: argparse.Namespace) -> int:
    """Render the headshot, write it atomically, say whether it is the AI composite or the studio fallback."""
    from pathlib import Path

    from calibration.profile import profile_for_config
    from kiosk.commands.packs import build_hint
    from kiosk.config import load_config
    from kiosk.delivery.provenance import encode_delivery
    from kiosk.errors import InputError
    from kiosk.generation.local import LocalGenerator
    from kiosk.pipeline.generative import GenerativePipeline
    from kiosk.pipeline.imageio import load_image
    from kiosk.pipeline.studio import StudioPipeline
    from models.diffusion.pack import load_pack
    from models.store import atomic_write_bytes

    _check_args(args)
    cfg = load_config(args.config)
    gcfg = cfg.generation
    style = args.style or gcfg.style
    fmt = args.fmt or cfg.pipeline.default_format
    pack_dir = Path(args.pack) if args.pack else gcfg.resolved_pack_dir(cfg.models_dir)
    photo = load_image(args.input, max_megapixels=cfg.pipeline.max_input_megapixels)

    generator = None
    reason = None
    if not gcfg.enabled and not args.pack:
        reason = "generation is disabled in the config (generation.enabled)"
    elif not (pack_dir / "manifest.json").exists() and not args.pack:
        reason = f"no model pack installed at {pack_dir}: {build_hint(pack_dir)}"
    else:
        pack = load_pack(pack_dir)  # an explicit but broken pack is bad input: exit 2 with the reason
        if style not in pack.manifest.styles:
            raise InputError(
                f"--style {style}: not in this pack (choose one of: {', '.join(pack.manifest.styles)})"
            )
        steps = args.steps or gcfg.steps or pack.style(style).steps
        strength = args.strength or gcfg.strength or pack.style(style).strength
        if pack.manifest.scheduler.name != "lcm" and int(steps * strength) < 1:
            raise InputError(f"--steps {steps} × --strength {strength} runs no step: raise either")
        generator = LocalGenerator(pack_dir, gcfg.runtime)

    profile, calibration_notes = profile_for_config(cfg.calibration, cfg.data_dir)
    with StudioPipeline(cfg.models_dir, cfg.pipeline, profile=profile) as studio:
        pipe = GenerativePipeline(studio, generator, reason)
        result = pipe.make(
            photo.bgr,
            style=style,
            formats=[fmt],
            backdrop=args.backdrop,
            seed=args.seed if args.seed is not None else gcfg.seed,
            steps=args.steps or gcfg.steps,
            strength=args.strength or gcfg.strength,
        )
    if args.save_stages and result.stages:
        _save_stages(args.save_stages, result.stages)
    if args.no_fallback and not result.generated:
        print(f"kiosk: no AI headshot: {result.fallback_reason}", file=sys.stderr)  # noqa: T201  # reason: CLI output
        return 1
    image = result.image(fmt)
    # XMP disclosure always (ai-composite when generated); a signed C2PA manifest when configured.
    data = encode_delivery(
        image,
        result.source_type,
        cfg.delivery.provenance,
        cfg.pipeline.jpeg_quality,
        description=result.description(fmt),
        title=Path(args.output).name,
    )
    try:
        out = atomic_write_bytes(args.output, data)
    except OSError as err:
        why = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise InputError(f"{args.output}: cannot write the headshot: {why}") from err
    h, w = image.shape[:2]
    notes = photo.notes + calibration_notes + result.notes
    gate = result.gate
    if args.json:
        print(  # noqa: T201  # reason: CLI output
            json.dumps(
                {
                    "output": str(out),
                    "width": w,
                    "height": h,
                    "format": fmt,
                    "generated": result.generated,
                    "source_type": result.source_type,
                    "fallback_reason": result.fallback_reason,
                    "seed": result.seed,
                    "style": style,
                    "gate": None if gate is None else {"passed": gate.passed, "failed": gate.failed,
                                                       "measures": gate.measures},
                    "notes": notes,
                    "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()},
                }
            )
        )
    elif result.generated:
        print(f"wrote {out} ({w}×{h}, AI composite, style {style}, seed {result.seed})")  # noqa: T201  # reason: CLI output
    else:
        print(f"wrote {out} ({w}×{h}, studio headshot): {result.fallback_reason}")  # noqa: T201  # reason: CLI output
    return 0
