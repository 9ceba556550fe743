"""`kiosk run`: start the kiosk full screen on the configured camera, lights and printer."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the `run` command."""
    p = sub.add_parser("run", help="start the kiosk (full screen touchscreen app)")
    p.add_argument("--windowed", action="store_true", help="open a window instead of full screen (set-up)")
    p.add_argument("--size", help="window size WIDTHxHEIGHT with --windowed (default: from [ui])")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.ui.i18n import Texts
    from kiosk.ui.runner import run_app, window_size
    from models.store import ModelStore

    cfg = load_config(args.config)
    Texts(list(cfg.ui.languages), cfg.ui.i18n_dir)  # a broken text file is a start-up error (exit 2)
    store = ModelStore(cfg.models_dir)
    for name in ("face_detector_short", "selfie_segmenter"):
        store.path(name)  # raises ModelMissing with the fix (`kiosk models fetch`)
    fullscreen = cfg.ui.fullscreen and not args.windowed
    return run_app(cfg, fullscreen=fullscreen, size=window_size(cfg, args.size))
