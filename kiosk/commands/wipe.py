"""`kiosk wipe`: delete every guest file now (operator action); prints counts only.

The same code as the operator menu's "Wipe all guest data now" (kiosk.app.wipe): every session in the store
(captures, results, prints, download links, queued e-mail and hand-off). A kiosk running beside it stops
serving the wiped links at once: its download server checks the store on every request.
"""

from __future__ import annotations

import argparse

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `wipe` command."""
    p = sub.add_parser(
        "wipe",
        help="delete all guest data now (captures, results, prints, download links, queued e-mail and hand-off)",
    )
    p.set_defaults(func=_wipe)


def _wipe(args: argparse.Namespace) -> int:
    from kiosk.app.wipe import wipe_everything
    from kiosk.config import load_config
    from kiosk.session.store import SessionStore

    cfg = load_config(args.config)
    with SessionStore(cfg.data_dir, cfg.retention) as store:
        report = wipe_everything(store)
        left = [p for p in store.root.rglob("*") if p.is_file()]
    print(f"{report.line()} from {cfg.data_dir}")  # noqa: T201  # reason: CLI output
    if left:
        print(f"{len(left)} files could not be removed: check permissions")  # noqa: T201  # reason: CLI output
        return 1
    return 0
