"""`kiosk share FILE`: put a photo in a new session's download area, print its URL and QR code."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import select
import signal
import sys
import time
from pathlib import Path

from kiosk.commands import Subparsers

MAX_SHARE_BYTES = 50_000_000


def register(sub: Subparsers) -> None:
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


def _read_image(path: Path, max_megapixels: float) -> bytes:
    """The file's bytes once the kiosk's decoder accepts it as a JPEG or PNG (InputError otherwise)."""
    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import check_image, open_image

    if not path.is_file():
        raise InputError(f"{path}: no such file (give the path of a JPEG or PNG photo)")
    size = path.stat().st_size
    if size > MAX_SHARE_BYTES:
        raise InputError(f"{path}: {size / 1e6:.0f} MB is too large to share (limit 50 MB)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from err
    im = open_image(data, str(path))  # allow-listed decoders only: never EPS/PDF (Ghostscript)
    try:
        fmt = im.format
        if fmt not in ("JPEG", "PNG"):
            raise InputError(f"{path}: {fmt} images cannot be shared; convert it to JPEG or PNG")
        # only a thumbnail is ever decoded here: a JPEG at 1/8 scale, a PNG whole (so within the byte budget)
        check_image(im, str(path), max_megapixels, scale=0.125 if fmt == "JPEG" else 1.0)
        if fmt == "JPEG":  # decoded at 1/8 scale: cheap, and a truncated or corrupt file shows here
            im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
            im.load()
        else:
            im.verify()  # chunk CRCs, without inflating the pixels
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise InputError(f"{path}: not a readable image ({err}); share a JPEG or PNG") from err
    finally:
        im.close()
    return data


class _Stop:
    """SIGINT/SIGTERM while serving: the handler only notes the signal; the main loop wakes on a pipe.

    Raising from a handler (KeyboardInterrupt) could land inside a lock or a write; taking a lock in it
    (threading.Event.set) can deadlock. The wakeup fd is written by the interpreter's C-level handler, so
    the select() below returns at once even on a loaded machine.
    """

    def __init__(self) -> None:
        self.signum = 0
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, self._note) for s in (signal.SIGINT, signal.SIGTERM)}

    def _note(self, signum: int, _frame: object) -> None:
        self.signum = signum

    def wait(self, seconds: float) -> None:
        """Return after seconds, or at once when a stop signal arrives."""
        deadline = time.monotonic() + seconds
        while not self.signum:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            select.select([self._r], [], [], left)
            with contextlib.suppress(BlockingIOError):
                os.read(self._r, 512)

    def close(self) -> None:
        """Put the previous handlers back."""
        for s, old in self._old.items():
            signal.signal(s, old)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._r)
        os.close(self._w)


def _share(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.delivery.download import DownloadServer, qr_terminal
    from kiosk.errors import InputError
    from kiosk.session.store import SessionStore, Step

    if not 0 <= args.serve <= 86400:
        raise InputError("--serve takes 0..86400 seconds")
    path = Path(args.file)
    cfg = load_config(args.config)
    data = _read_image(path, cfg.pipeline.max_input_megapixels)
    dl = cfg.delivery.download
    if not args.serve and dl.port == 0 and not dl.public_url:
        raise InputError("delivery.download.port is 0 (any free port): set a port, or use --serve SECONDS")
    suffix = ".png" if data.startswith(b"\x89PNG") else ".jpg"
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem)[:60].strip("-_") or "photo"
    stop = _Stop()  # before the server starts: a Ctrl-C at any moment from here on is a clean stop
    store = SessionStore(cfg.data_dir, cfg.retention)
    server = DownloadServer(store, dl)
    try:
        if args.serve:
            server.start()
        session = store.create()
        _, url = server.publish(session.id, {f"{stem}{suffix}": data})
        store.advance(session.id, Step.DELIVERED)  # the shared file stays, pinned by its link, until it ends
        terms = server.terms()
        print(url)  # noqa: T201  # reason: CLI output
        print(qr_terminal(url))  # noqa: T201  # reason: CLI output
        print(  # noqa: T201  # reason: CLI output
            f"link valid {dl.link_minutes:g} min, {terms.downloads} downloads ({terms.mode.replace('_', ' ')})"
            + (f"; serving for {args.serve:g} s (Ctrl-C stops)" if args.serve else "; served by `kiosk run`"),
            file=sys.stderr,
        )
        sys.stdout.flush()
        if args.serve:
            stop.wait(args.serve)
    finally:
        server.stop()
        store.close()
        stop.close()
    return 128 + stop.signum if stop.signum else 0
