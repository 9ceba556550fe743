"""`kiosk run`: start the kiosk full screen on the configured camera, lights and printer."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from kiosk.app.appliance import EXIT_RESTART
from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `run` command."""
    p = sub.add_parser("run", help="start the kiosk (full screen touchscreen app)")
    p.add_argument("--windowed", action="store_true", help="open a window instead of full screen (set-up)")
    p.add_argument("--size", help="window size WIDTHxHEIGHT with --windowed (default: from [ui])")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config, require_operator_pin
    from kiosk.i18n import Texts
    from kiosk.ui.runner import run_app, window_size
    from models.store import ModelStore

    # A reload asked for while starting (or restarting in place) must not kill us: SIGHUP's default
    # action is to terminate. The handler proper is installed once the app runs.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    cfg = load_config(args.config)
    require_operator_pin(cfg)  # never a kiosk whose operator menu opens with a known or missing PIN
    Texts(list(cfg.ui.languages), cfg.ui.i18n_dir)  # a broken text file is a start-up error (exit 2)
    store = ModelStore(cfg.models_dir)
    for name in ("face_detector_short", "selfie_segmenter"):
        store.path(name)  # raises ModelMissing with the fix (`kiosk models fetch`)
    fullscreen = cfg.ui.fullscreen and not args.windowed
    code = run_app(cfg, fullscreen=fullscreen, size=window_size(cfg, args.size, fullscreen), reload_on_hangup=True,
                   config_path=args.config)
    if code == EXIT_RESTART:
        _restart_in_place(args.argv)
    return code


def _restart_in_place(argv: list[str]) -> None:
    """Replace this process with a fresh `kiosk run` (same PID, so systemd's watchdog and notify socket hold).

    On failure it returns, and `kiosk run` exits with EXIT_RESTART for systemd to start it again.
    """
    from kiosk.nativelog import restore_stderr

    logging.shutdown()  # flush the log file before the process image goes
    restore_stderr()  # the new process must find the journal, not native.log, on fd 2
    try:
        os.execv(sys.executable, [sys.executable, "-m", "kiosk", *argv])
    except OSError as err:
        print(f"kiosk: cannot restart in place ({err}); exiting for the supervisor to start it", file=sys.stderr)  # noqa: T201  # reason: logging is shut down

