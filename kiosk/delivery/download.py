"""QR download to the guest's phone: a small local HTTP server that reads only from the session store.

Use::

    server = DownloadServer(store, cfg.delivery.download).start()
    link = server.publish(session.id, {"studio-grey.jpg": jpeg, "white.jpg": jpeg2})
    png = qr_png(link.url)            # for the delivery screen
    print(qr_terminal(link.url))      # for `kiosk share`
    ...
    server.stop()

Each published link is a capability: ``/d/<token>`` where the token is 192 random bits
(``secrets.token_urlsafe(24)``). The store keeps, under the session's ``download`` files, a copy of each
variant (``f-<name>``), its thumbnail (``t-<name>``) and ``link.json`` (the token's sha256, expiry, download
count: no guest data), so a link survives a restart and retention deletes the copies when it expires.

URL grammar (anything else is 400/404; percent-escapes and query strings are refused outright, so
``..%2f`` never reaches a file lookup):

    GET|HEAD /d/<token>            mobile page: thumbnails and a download button per variant
    GET|HEAD /d/<token>/t/<name>   a thumbnail (not counted)
    GET|HEAD /d/<token>/f/<name>   a variant as an attachment (GET counts towards `max_downloads`)

Defences: listens only on the configured addresses; request line ≤ 2 KiB, headers ≤ 8 KiB and ≤ 40
lines; a whole request must arrive within `request_timeout_s` (a reaper thread cuts slow clients); at most
`max_connections` at once; a token bucket per client IP (`rate_per_minute`, then 429); GET/HEAD only (405);
every response carries no-store caching, a strict CSP, nosniff, no-referrer and DENY framing; logs never
contain tokens, paths or client addresses.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import io
import json
import logging
import re
import secrets
import socket
import socketserver
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kiosk.delivery.config import DownloadConfig
from kiosk.errors import InputError
from kiosk.session.journal import SessionNotFound
from kiosk.session.store import FILE_NAME_RE, SessionStore, Step

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
PATH_RE = re.compile(
    r"^/d/(?P<token>[A-Za-z0-9_-]{32})(?:/|/(?P<what>[ft])/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,99}))?$"
)
MAX_REQUEST_LINE = 2048
MAX_HEADER_BYTES = 8192
MAX_HEADER_LINES = 40
THUMB_PX = 360
LINK_FILE = "link.json"
_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;padding:16px;background:#f4f4f4;color:#222}"
    "h1{font-size:1.4em;margin:0 0 4px}p{margin:4px 0 16px;color:#555}"
    ".v{background:#fff;border-radius:12px;padding:12px;margin:0 0 16px;box-shadow:0 1px 3px #0002}"
    ".v img{width:100%;height:auto;border-radius:8px;display:block}"
    ".b{display:block;text-align:center;margin-top:10px;padding:14px;border-radius:8px;background:#1F4E79;"
    "color:#fff;text-decoration:none;font-size:1.1em}"
)
# The phone page in the kiosk's languages: (title, info with {minutes} and {downloads}, button).
PAGE_TEXT: dict[str, tuple[str, str, str]] = {
    "en": (
        "Your headshot",
        "This link works for {minutes} more minutes and {downloads} more downloads; "
        "then the photos are deleted from the kiosk.",
        "Download",
    ),
    "es": (
        "Tu retrato",
        "Este enlace funciona {minutes} minutos más y permite {downloads} descargas más; "
        "después, las fotos se borran del quiosco.",
        "Descargar",
    ),
    "fr": (
        "Votre portrait",
        "Ce lien fonctionne encore {minutes} minutes et pour {downloads} téléchargements ; "
        "ensuite, les photos sont effacées de la borne.",
        "Télécharger",
    ),
    "de": (
        "Ihr Porträt",
        "Dieser Link gilt noch {minutes} Minuten und für {downloads} Downloads; "
        "danach werden die Fotos vom Kiosk gelöscht.",
        "Herunterladen",
    ),
    "pt": (
        "O seu retrato",
        "Este link funciona por mais {minutes} minutos e {downloads} transferências; "
        "depois, as fotos são apagadas do quiosque.",
        "Transferir",
    ),
    "zh": (
        "您的头像照",
        "此链接在接下来 {minutes} 分钟内有效，还可下载 {downloads} 次；之后照片将从自助机中删除。",
        "下载",
    ),
}
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
SECURITY_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        f"default-src 'none'; img-src 'self'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass
class Link:
    """One published download link (in memory; persisted as link.json in the session's download files)."""

    session_id: str
    token_sha256: str
    expires_at: float
    max_downloads: int
    downloads: int
    variants: tuple[str, ...]
    url: str = ""
    lang: str = "en"

    def to_json(self) -> bytes:
        """The persisted form (no token, no guest data)."""
        return json.dumps(
            {
                "token_sha256": self.token_sha256,
                "expires_at": self.expires_at,
                "max_downloads": self.max_downloads,
                "downloads": self.downloads,
                "variants": list(self.variants),
                "lang": self.lang,
            }
        ).encode()


def _sniff_type(data: bytes) -> str:
    """The content type from the bytes themselves (a thumbnail of a PNG is a JPEG; nosniff is on)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_thumbnail(data: bytes, px: int = THUMB_PX) -> bytes:
    """A JPEG thumbnail whose longer side is px (raises InputError on an undecodable image)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.thumbnail((px, px))
            out = io.BytesIO()
            im.convert("RGB").save(out, "JPEG", quality=80)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(f"cannot make a thumbnail: not a readable image ({err})") from err


def qr_png(url: str, scale: int = 8) -> bytes:
    """The URL as a QR code PNG (scale: px per module; quiet zone included)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_terminal(url: str) -> str:
    """The URL as a QR code in Unicode half blocks (two modules per character row), dark on light."""
    import segno

    matrix = [list(row) for row in segno.make(url, error="m", micro=False).matrix]
    border = 2
    width = len(matrix[0]) + 2 * border
    rows = [[0] * width for _ in range(border)]
    rows += [[0] * border + [int(v) for v in r] + [0] * border for r in matrix]
    rows += [[0] * width for _ in range(border + (len(rows) + border) % 2)]
    # light modules are drawn as full blocks so the code reads on a dark terminal
    chars = {(0, 0): "█", (0, 1): "▀", (1, 0): "▄", (1, 1): " "}
    lines = []
    for y in range(0, len(rows), 2):
        lines.append("".join(chars[(rows[y][x], rows[y + 1][x])] for x in range(width)))
    return "\n".join(lines)


class _TooLarge(http.client.LineTooLong):
    """Request head over the byte budget: parse_request answers it with 431."""


class _CappedReader:
    """Wraps the socket's reader for the request head: a byte budget across all lines."""

    def __init__(self, raw: Any, budget: int) -> None:
        self.raw = raw
        self.budget = budget

    def readline(self, size: int = -1) -> bytes:
        limit = self.budget + 1 if size < 0 else min(size, self.budget + 1)
        line = self.raw.readline(limit)
        self.budget -= len(line)
        if self.budget < 0:
            raise _TooLarge("header")
        return line

    def read(self, size: int = -1) -> bytes:
        return b""  # GET and HEAD carry no body; we never read one

    def close(self) -> None:
        self.raw.close()


class _RateLimiter:
    """A token bucket per client address, bounded in memory (oldest clients are forgotten)."""

    def __init__(self, per_minute: int, clock: Callable[[], float], max_clients: int = 4096) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait


class _Reaper:
    """Cuts connections whose request head has not arrived by its deadline (slowloris)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._watch: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="download-reaper", daemon=True)

    def start(self) -> _Reaper:
        self._thread.start()
        return self

    def watch(self, sock: socket.socket, deadline: float) -> None:
        with self._lock:
            self._watch[sock] = deadline

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            self._watch.pop(sock, None)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = self.clock()
            with self._lock:
                late = [s for s, d in self._watch.items() if d <= now]
                for s in late:
                    del self._watch[s]
            for s in late:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue  # already closed by its handler


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "kiosk"
    sys_version = ""

    def version_string(self) -> str:
        """The Server header: no software versions."""
        return "kiosk"

    protocol_version = "HTTP/1.0"

    def handle(self) -> None:
        app = self.server.app
        app.reaper.watch(self.connection, app.mono() + app.cfg.request_timeout_s)
        try:
            self.handle_one_request()
        except OSError:
            self.close_connection = True  # the client vanished or the reaper cut it
        finally:
            app.reaper.unwatch(self.connection)

    def handle_one_request(self) -> None:
        self.close_connection = True
        self.command, self.request_version, self.requestline = "", "HTTP/1.0", ""
        self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if not self.raw_requestline:
            return
        if len(self.raw_requestline) > MAX_REQUEST_LINE:
            self._reply(414, "Request too long.")
            return
        raw = self.rfile
        self.rfile = _CappedReader(raw, MAX_HEADER_BYTES)  # type: ignore[assignment]  # reason: duck-typed reader
        try:
            ok = self.parse_request()
        finally:
            self.rfile = raw
        if not ok:
            return
        if len(self.headers) > MAX_HEADER_LINES:
            self._reply(431, "Too many headers.")
            return
        self.server.app.reaper.unwatch(self.connection)
        wait = self.server.app.limiter.allow(self.client_address[0])
        if wait > 0:
            self._reply(429, "Too many requests: wait a moment.", {"Retry-After": str(int(wait) + 1)})
            return
        if self.command not in ("GET", "HEAD"):
            self._reply(405, "Only GET and HEAD are served.", {"Allow": "GET, HEAD"})
            return
        self.server.app.serve(self)
        self.wfile.flush()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer protocol errors found by http.server with our minimal, header-hardened page."""
        self._reply(code, "Bad request." if code < 500 else "Server error.")

    def _reply(
        self,
        status: int,
        text: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        ctype: str = "text/plain; charset=utf-8",
    ) -> None:
        payload = text.encode() + b"\n" if body is None else body
        self.close_connection = True
        self.request_version = "HTTP/1.0"  # never answer in HTTP/0.9 (no status line, no headers)
        try:
            self.send_response(status)
            for k, v in {**SECURITY_HEADERS, **(headers or {})}.items():
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            return  # the client went away mid-reply

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("download %s %s", self.command or "-", code)

    def log_message(self, format: str, *args: Any) -> None:
        return  # http.server's own lines carry paths (tokens) and addresses


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: DownloadServer, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.app = app
        self._slots = threading.BoundedSemaphore(app.cfg.max_connections)
        # StreamRequestHandler applies `timeout` to every socket read and write of the connection
        handler = type("_TimedHandler", (_Handler,), {"timeout": app.cfg.request_timeout_s})
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # http.server's server_bind resolves our own FQDN (a DNS lookup that can hang offline): skip it
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class DownloadServer:
    """The download server: publishes links for sessions and serves them on the configured addresses."""

    def __init__(
        self,
        store: SessionStore,
        cfg: DownloadConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare (nothing listens until start()).

        Args:
            store: the session store (the only source of files).
            cfg: the `[delivery.download]` section.
            clock: wall-clock seconds for link expiry (persisted across restarts).
            mono: monotonic seconds for timeouts and rate limiting.
        """
        self.store = store
        self.cfg = cfg or DownloadConfig()
        self.clock = clock
        self.mono = mono
        self.limiter = _RateLimiter(self.cfg.rate_per_minute, mono)
        self.reaper = _Reaper(mono)
        self._servers: list[_HTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._links: dict[str, Link] = {}
        self._lock = threading.Lock()

    # lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> DownloadServer:
        """Bind every configured address and serve each in its own thread; reload persisted links."""
        self._load_links()
        self.reaper = _Reaper(self.mono).start()
        port = self.cfg.port
        try:
            for addr in self.cfg.bind:
                family = socket.AF_INET6 if ":" in addr else socket.AF_INET
                srv = _HTTPServer((addr, port), self, family)
                self._servers.append(srv)
                port = port or srv.server_port  # same port on every address when 0 was asked
        except OSError as err:
            self.stop()
            raise InputError(
                f"download server cannot listen on {addr}:{port}: {err.strerror}"
                " (check delivery.download.bind/port: an address of this machine and a free port)"
            ) from err
        for srv in self._servers:
            t = threading.Thread(
                target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="download-server"
            )
            t.start()
            self._threads.append(t)
        log.info("download server listening on %d address(es), port %d", len(self._servers), self.port)
        return self

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(2.0)
        self._servers.clear()
        self._threads.clear()
        self.reaper.stop()

    def __enter__(self) -> DownloadServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port actually bound."""
        return self._servers[0].server_port if self._servers else self.cfg.port

    @property
    def base_url(self) -> str:
        """Base URL of links: public_url, else the first bind address and the bound port."""
        if self.cfg.public_url:
            return self.cfg.public_url
        host = self.cfg.bind[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    # links --------------------------------------------------------------------------------------------
    def publish(
        self,
        session_id: str,
        variants: Mapping[str, bytes],
        thumbs: Mapping[str, bytes] | None = None,
        *,
        lang: str = "en",
    ) -> tuple[Link, str]:
        """Copy the variants into the session's download area and return (link, url).

        Args:
            session_id: a live session.
            variants: file name → image bytes (JPEG or PNG), in display order.
            thumbs: optional file name → thumbnail bytes (made with Pillow when absent).
            lang: language of the phone page (the guest's kiosk language; PAGE_TEXT keys, else English).
        """
        if not variants:
            raise InputError("nothing to publish: give at least one image")
        for name in variants:
            if not FILE_NAME_RE.fullmatch(name) or len(name) > 98:
                raise InputError(f"bad variant name {name!r}: letters, digits, '.', '_', '-'")
        token = secrets.token_urlsafe(24)
        expires = self.clock() + self.cfg.link_minutes * 60.0
        link = Link(
            session_id,
            _hash_token(token),
            expires,
            self.cfg.max_downloads,
            0,
            tuple(variants),
            lang=lang if lang in PAGE_TEXT else "en",
        )
        for name, data in variants.items():
            thumb = (thumbs or {}).get(name) or make_thumbnail(data)
            self.store.write_file(session_id, "download", f"f-{name}", data, expires_at=expires)
            self.store.write_file(session_id, "download", f"t-{name}", thumb, expires_at=expires)
        self.store.write_file(session_id, "download", LINK_FILE, link.to_json(), expires_at=expires)
        with self._lock:
            self._links[link.token_sha256] = link
        url = f"{self.base_url}/d/{token}"
        link.url = url
        log.info("download link published for session %s (%d variants)", session_id, len(variants))
        return link, url

    # the kiosk app's `Downloads` port (kiosk.ui.delivery_port) -----------------------------------------
    def offer(self, session_id: str, files: Mapping[str, Path]) -> str | None:
        """Publish a session's result files (label → path); return the URL for the QR code.

        A session the store does not know yet (the app named it) is adopted and marked delivered, so only
        the download copies remain, until the link expires or is used up.
        """
        variants: dict[str, bytes] = {}
        for label, path in files.items():
            suffix = Path(path).suffix.lower()
            if suffix not in _TYPES:
                continue
            stem = re.sub(r"[^A-Za-z0-9_-]+", "-", str(label))[:60].strip("-_") or "headshot"
            try:
                variants[f"{stem}{suffix}"] = Path(path).read_bytes()
            except OSError as err:
                log.warning("cannot offer a result file of session %s: %s", session_id, err.strerror)
        if not variants:
            return None
        adopted = False
        try:
            self.store.get(session_id)
        except SessionNotFound:
            self.store.create(session_id=session_id)
            adopted = True
        _, url = self.publish(session_id, variants)
        if adopted:
            self.store.advance(session_id, Step.DELIVERED)
        return url

    def withdraw(self, session_id: str) -> None:
        """The guest's session ended: revoke its links, unless `keep_after_session` keeps them.

        With keep_after_session the guest can still download later until the link expires or is used up;
        retention deletes the copies then.
        """
        if self.cfg.keep_after_session:
            return
        self.revoke(session_id)

    def revoke(self, session_id: str) -> None:
        """Stop offering a session's files now: its links die and its download copies are deleted."""
        with self._lock:
            dead = [k for k, link in self._links.items() if link.session_id == session_id]
            links = [self._links.pop(k) for k in dead]
        for link in links:
            self._expire(link)
        try:
            for f in self.store.files(session_id, "download"):
                self.store.remove_file(session_id, "download", f.name)
        except SessionNotFound:
            return

    def status(self) -> str:
        """One line for the operator."""
        if not self._servers:
            return "phone download off (server not running)"
        with self._lock:
            live = sum(1 for link in self._links.values() if link.expires_at > self.clock())
        return f"phone download on {self.base_url} ({live} live links)"

    def _load_links(self) -> None:
        for f in self.store.files_of_kind("download"):
            if f.name != LINK_FILE:
                continue
            try:
                d = json.loads(f.path.read_bytes())
                link = Link(
                    f.session_id,
                    str(d["token_sha256"]),
                    float(d["expires_at"]),
                    int(d["max_downloads"]),
                    int(d["downloads"]),
                    tuple(str(v) for v in d["variants"]),
                    lang=str(d.get("lang", "en")) if d.get("lang") in PAGE_TEXT else "en",
                )
            except (OSError, ValueError, KeyError, TypeError) as err:
                log.warning("ignoring an unreadable download link of session %s: %s", f.session_id, err)
                continue
            with self._lock:
                self._links[link.token_sha256] = link

    def _find(self, token: str) -> Link | None:
        with self._lock:
            return self._links.get(_hash_token(token))

    def _expire(self, link: Link) -> None:
        with self._lock:
            self._links.pop(link.token_sha256, None)
        try:
            for f in self.store.files(link.session_id, "download"):
                self.store.remove_file(link.session_id, "download", f.name)
        except SessionNotFound:
            return

    # serving ------------------------------------------------------------------------------------------
    def serve(self, req: _Handler) -> None:
        """Answer one validated GET/HEAD request."""
        path = req.path
        if "%" in path or "?" in path or "#" in path or "\\" in path:
            req._reply(400, "Bad request.")
            return
        m = PATH_RE.fullmatch(path)
        if m is None:
            req._reply(404, "Not found.")
            return
        link = self._find(m["token"])
        if link is None:
            req._reply(404, "This link is not valid.")
            return
        if self.clock() >= link.expires_at:
            self._expire(link)
            req._reply(410, "This link has expired: the photos were deleted from the kiosk.")
            return
        what, name = m["what"], m["name"]
        if what is None:
            self._page(req, link, m["token"])
            return
        if name not in link.variants:
            req._reply(404, "Not found.")
            return
        if what == "f" and req.command == "GET":
            with self._lock:
                if link.downloads >= link.max_downloads:
                    spent = True
                else:
                    spent = False
                    link.downloads += 1
            if spent:
                req._reply(410, "The download limit of this link is reached.")
                return
        try:
            data = self.store.read_file(link.session_id, "download", f"{what}-{name}")
        except SessionNotFound:
            req._reply(410, "These photos were deleted from the kiosk.")
            return
        headers = {}
        if what == "f":
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        if what == "f" and req.command == "GET":
            self._record_download(link)  # before replying: the bytes are already in memory
        req._reply(200, "", headers, data, _sniff_type(data))

    def _record_download(self, link: Link) -> None:
        if link.downloads >= link.max_downloads:
            log.info("download link of session %s spent; copies deleted", link.session_id)
            self._expire(link)
            return
        try:
            self.store.write_file(
                link.session_id, "download", LINK_FILE, link.to_json(), expires_at=link.expires_at
            )
        except SessionNotFound:
            self._expire(link)

    def _page(self, req: _Handler, link: Link, token: str) -> None:
        left_min = max(0, int((link.expires_at - self.clock()) // 60))
        left_dl = link.max_downloads - link.downloads
        title, info, button = PAGE_TEXT[link.lang]
        items = []
        for name in link.variants:
            n = html.escape(name)
            items.append(
                f'<div class="v"><img src="/d/{token}/t/{n}" alt="{n}">'
                f'<a class="b" href="/d/{token}/f/{n}" download="{n}">{html.escape(button)} {n}</a></div>'
            )
        page = (
            f'<!doctype html><html lang="{link.lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(info.format(minutes=left_min, downloads=left_dl))}</p>"
            + "".join(items)
            + "</body></html>"
        )
        req._reply(200, "", None, page.encode(), "text/html; charset=utf-8")
