"""`kiosk share FILE`: put a photo in a new session's download area, print its URL and QR code."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

MAX_SHARE_BYTES = 50_000_000


def register(sub: Any) -> None:
    """Add the `share` command."""
    p = sub.add_parser(
        "share",
        help="offer a photo for download to a phone: prints the URL and a QR code",
        description="Copy FILE (JPEG or PNG) into a new session's download area and print the link and a QR "
        "code. The copy is deleted when the link expires or is used up (delivery.download).",
    )
    p.add_argument("file", help="the photo to share (JPEG or PNG)")
    p.add_argument(
        "--serve",
        type=float,
        metavar="SECONDS",
        default=0.0,
        help="keep the download server running this long (0: only publish; `kiosk run` serves it)",
    )
    p.set_defaults(func=_share)


def _read_image(path: Path) -> bytes:
    from PIL import Image, UnidentifiedImageError

    from kiosk.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: no such file (give the path of a JPEG or PNG photo)")
    size = path.stat().st_size
    if size > MAX_SHARE_BYTES:
        raise InputError(f"{path}: {size / 1e6:.0f} MB is too large to share (limit 50 MB)")
    try:
        data = path.read_bytes()
        with Image.open(path) as im:
            fmt = im.format
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{path}: not a readable image ({err}); share a JPEG or PNG") from err
    if fmt not in ("JPEG", "PNG"):
        raise InputError(f"{path}: {fmt} images cannot be shared; convert it to JPEG or PNG")
    return data


def _share(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.delivery.download import DownloadServer, qr_terminal
    from kiosk.errors import InputError
    from kiosk.session.store import SessionStore, Step

    if not 0 <= args.serve <= 86400:
        raise InputError("--serve takes 0..86400 seconds")
    path = Path(args.file)
    data = _read_image(path)
    cfg = load_config(args.config)
    dl = cfg.delivery.download
    if not args.serve and dl.port == 0 and not dl.public_url:
        raise InputError("delivery.download.port is 0 (any free port): set a port, or use --serve SECONDS")
    suffix = ".png" if data.startswith(b"\x89PNG") else ".jpg"
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem)[:60].strip("-_") or "photo"
    store = SessionStore(cfg.data_dir, cfg.retention)
    server = DownloadServer(store, dl)
    try:
        if args.serve:
            server.start()
        session = store.create()
        _, url = server.publish(session.id, {f"{stem}{suffix}": data})
        store.advance(session.id, Step.DELIVERED)  # only the download copy stays, until the link ends
        print(url)  # noqa: T201  # reason: CLI output
        print(qr_terminal(url))  # noqa: T201  # reason: CLI output
        print(  # noqa: T201  # reason: CLI output
            f"link valid {dl.link_minutes:g} min, {dl.max_downloads} downloads"
            + (f"; serving for {args.serve:g} s (Ctrl-C stops)" if args.serve else "; served by `kiosk run`"),
            file=sys.stderr,
        )
        sys.stdout.flush()
        deadline = time.monotonic() + args.serve
        while time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    finally:
        server.stop()
        store.close()
    return 0
