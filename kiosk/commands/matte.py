"""`kiosk matte INPUT -o ALPHA.png`: the guest's matte in the photo's own frame, 8-bit, the photo's size."""

from __future__ import annotations

import argparse
import errno

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `matte` command."""
    p = sub.add_parser("matte", help="write the guest's matte (8-bit PNG, the photo's size)")
    p.add_argument("input", help="the photo (JPEG, PNG, …)")
    p.add_argument("-o", "--output", required=True, help="where to write the matte (.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Find the guest, matte them, write the alpha atomically."""
    import cv2
    import numpy as np

    from kiosk.config import load_config
    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import load_image
    from kiosk.pipeline.studio import StudioPipeline
    from models.store import atomic_write_bytes

    cfg = load_config(args.config)
    if not str(args.output).lower().endswith(".png"):
        raise InputError(f"{args.output}: the output must be a .png file")
    photo = load_image(args.input, max_megapixels=cfg.pipeline.max_input_megapixels)
    with StudioPipeline(cfg.models_dir, cfg.pipeline) as pipe:
        alpha = pipe.matte(photo.bgr)
    ok, buf = cv2.imencode(".png", np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    try:
        out = atomic_write_bytes(args.output, buf.tobytes())
    except OSError as err:
        why = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise InputError(f"{args.output}: cannot write the matte: {why}") from err
    h, w = alpha.shape
    print(f"wrote {out} ({w}×{h} matte)"  # noqa: T201  # reason: CLI output
          + (f"; note: {'; '.join(photo.notes)}" if photo.notes else ""))
    return 0
