"""`kiosk headshot INPUT -o OUTPUT [--style NAME] [--format NAME]`: one photo to one studio headshot.

`--style transparent` writes a PNG whose alpha channel is the guest's matte (badge and ID systems), declared
as the JPEGs are (sRGB, XMP DigitalSourceType, C2PA when configured).
"""

from __future__ import annotations

import argparse
import errno
import json
from pathlib import Path

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `headshot` command."""
    from kiosk.pipeline.background import STYLES
    from kiosk.pipeline.formats import FORMATS

    p = sub.add_parser("headshot", help="turn a photo into a studio headshot (JPEG, or PNG with alpha)")
    p.add_argument("input", help="the photo (JPEG, PNG, …)")
    p.add_argument("-o", "--output", required=True, help="where to write the headshot (.jpg; .png for transparent)")
    p.add_argument("--style", choices=[*STYLES, "transparent"],
                   help="backdrop style, or transparent for a PNG with alpha (default: config pipeline.default_style)")
    p.add_argument("--format", dest="fmt", choices=list(FORMATS), help="output format (default: config)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of a line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render the headshot and write it atomically."""
    from calibration.profile import profile_for_config
    from kiosk.config import load_config
    from kiosk.delivery.provenance import encode_delivery, encode_png_delivery
    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import load_image
    from kiosk.pipeline.studio import TRANSPARENT, StudioPipeline
    from models.store import atomic_write_bytes

    cfg = load_config(args.config)
    transparent = args.style == TRANSPARENT
    suffixes = (".png",) if transparent else (".jpg", ".jpeg")
    if not str(args.output).lower().endswith(suffixes):
        kind = "a .png file (the transparent style has an alpha channel)" if transparent else "a .jpg file"
        raise InputError(f"{args.output}: the output must be {kind}")
    photo = load_image(args.input, max_megapixels=cfg.pipeline.max_input_megapixels)
    profile, calibration_notes = profile_for_config(cfg.calibration, cfg.data_dir)
    with StudioPipeline(cfg.models_dir, cfg.pipeline, profile=profile) as pipe:
        result = pipe.headshot(photo.bgr, style=args.style, fmt=args.fmt)
    # XMP disclosure always (the PNG's in an iTXt chunk); a signed C2PA manifest too when
    # [delivery.provenance] names a key.
    about = f"Studio headshot ({result.spec.name}, {result.style}) by Headshot Kiosk"
    if transparent:
        data = encode_png_delivery(result.bgra(), "edited", cfg.delivery.provenance, description=about,
                                   title=Path(args.output).name)
    else:
        data = encode_delivery(result.image, "edited", cfg.delivery.provenance, cfg.pipeline.jpeg_quality,
                               description=about, title=Path(args.output).name)
    try:
        out = atomic_write_bytes(args.output, data)
    except OSError as err:
        why = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise InputError(f"{args.output}: cannot write the headshot: {why}") from err
    notes = photo.notes + calibration_notes + result.notes
    h, w = result.image.shape[:2]
    if args.json:
        print(json.dumps({"output": str(out), "width": w, "height": h, "format": result.spec.name,  # noqa: T201  # reason: CLI output
                          "style": result.style, "notes": notes,
                          "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()}}))
    else:
        print(f"wrote {out} ({w}×{h}, {result.spec.name}, {result.style})"  # noqa: T201  # reason: CLI output
              + (f"; note: {'; '.join(notes)}" if notes else ""))
    return 0

