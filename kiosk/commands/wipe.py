"""`kiosk wipe`: delete every guest file now (operator action); prints counts only."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

# Guest folders under the data folder that are not (yet) written through the SessionStore: the kiosk app's
# per-session working folders (kiosk.app.assemble.SESSIONS_SUBDIR). Wipe empties them too.
UNTRACKED_GUEST_DIRS: tuple[str, ...] = ("kiosk-sessions",)


def register(sub: Any) -> None:
    """Add the `wipe` command."""
    p = sub.add_parser(
        "wipe",
        help="delete all guest data now (captures, results, prints, downloads, queued e-mail and hand-off)",
    )
    p.set_defaults(func=_wipe)


def _empty(folder: Path) -> tuple[int, int]:
    """Delete everything inside folder; return (files, bytes) removed."""
    files = size = 0
    if not folder.is_dir() or folder.is_symlink():
        return 0, 0
    for entry in list(folder.iterdir()):
        for p in [entry, *entry.rglob("*")] if entry.is_dir() and not entry.is_symlink() else [entry]:
            if p.is_file() and not p.is_symlink():
                files += 1
                size += p.stat().st_size
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return files, size


def _wipe(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.session.store import SessionStore

    cfg = load_config(args.config)
    with SessionStore(cfg.data_dir, cfg.retention) as store:
        report = store.wipe_all()
        for name in UNTRACKED_GUEST_DIRS:
            files, size = _empty(cfg.data_dir / name)
            report.files += files
            report.bytes += size
        roots = [store.root, *(cfg.data_dir / n for n in UNTRACKED_GUEST_DIRS)]
        left = [p for r in roots if r.is_dir() for p in r.rglob("*") if p.is_file()]
    print(  # noqa: T201  # reason: CLI output
        f"wiped {report.sessions} sessions, {report.files} files ({report.bytes / 1e6:.1f} MB)"
        f" from {cfg.data_dir}"
    )
    if left:
        print(f"{len(left)} files could not be removed: check permissions")  # noqa: T201  # reason: CLI output
        return 1
    return 0
