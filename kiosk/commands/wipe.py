"""`kiosk wipe`: delete every guest file now (operator action); prints counts only."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the `wipe` command."""
    p = sub.add_parser(
        "wipe",
        help="delete all guest data now (captures, results, prints, downloads, queued e-mail and hand-off)",
    )
    p.set_defaults(func=_wipe)


def _wipe(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.session.store import SessionStore

    cfg = load_config(args.config)
    with SessionStore(cfg.data_dir, cfg.retention) as store:
        report = store.wipe_all()
        left = [p for p in store.root.rglob("*") if p.is_file()]
    print(  # noqa: T201  # reason: CLI output
        f"wiped {report.sessions} sessions, {report.files} files ({report.bytes / 1e6:.1f} MB)"
        f" from {store.root}"
    )
    if left:
        print(f"{len(left)} files could not be removed: check permissions")  # noqa: T201  # reason: CLI output
        return 1
    return 0
