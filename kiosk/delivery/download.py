"""QR download to the guest's phone: a small local HTTP(S) server that reads only from the session store.

Use::

    server = DownloadServer(store, cfg.delivery.download).start()
    link, url = server.publish(session.id, {"studio-grey.jpg": jpeg, "white.jpg": jpeg2})
    png = qr_png(url)                 # for the delivery screen
    print(qr_terminal(url))           # for `kiosk share`
    terms = server.terms()            # what the guest's screen says: minutes, downloads, who may use it
    ...
    server.stop()

Each published link is a capability: ``/d/<token>`` where the token is 192 random bits
(``secrets.token_urlsafe(24)``). A link refers to the session's stored results (no copies): they are pinned
until the link expires, so retention keeps them past the session's end, and released when it ends. Under
the session's ``download`` files the store keeps each result's thumbnail (``t-<name>``) and ``link.json``
(the token's sha256, expiry, counts, mode and, for a first-device link, the sha256 of that phone's cookie:
no guest data), so a link survives a restart. Every request checks that the store still holds the link, so
a wipe from another process (`kiosk wipe`) ends it at once (410).

URL grammar (anything else is 400/404; percent-escapes and query strings are refused outright, so
``..%2f`` never reaches a file lookup):

    GET|HEAD /d/<token>            mobile page: thumbnails and a download button per variant (a view)
    GET|HEAD /d/<token>/t/<name>   a thumbnail (a view)
    GET|HEAD /d/<token>/f/<name>   a variant as an attachment (GET counts towards `max_downloads`)

A link ends when it expires (`link_minutes`, on the monotonic clock in-process), after `max_downloads` file
downloads or `max_views` page and thumbnail loads. Per link (`link_mode`): any device; only the first device
(a cookie set on its first request; others get 403); or only the first download. Every change of a link's
counts happens under that link's lock and is written to link.json before the reply, so two concurrent
last downloads cannot bring a spent link back.

Transport: :mod:`kiosk.delivery.http_listener` (connection caps per client with slots kept for new
clients, first-byte and head deadlines, rate limit at accept, size limits, GET/HEAD only), optionally
HTTPS with the operator's certificate (`tls_cert_file`, `tls_key_file`, `public_url`). Every response
carries no-store caching, a strict CSP, nosniff, no-referrer and DENY framing; logs never contain tokens,
paths or client addresses.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.delivery.config import DownloadConfig
from kiosk.delivery.http_listener import Limits, Listener, Request, Response
from kiosk.delivery.phone_page import STYLE_HASH, PhoneTexts
from kiosk.delivery.reach import phone_reach, resolve_bind, wifi_uri
from kiosk.errors import InputError
from kiosk.session.journal import SessionNotFound
from kiosk.session.store import FILE_NAME_RE, SessionStore, Step
from kiosk.status import Level, PartStatus

if TYPE_CHECKING:
    from kiosk.i18n import Texts

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
PATH_RE = re.compile(
    r"^/d/(?P<token>[A-Za-z0-9_-]{32})(?:/|/(?P<what>[ft])/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,99}))?$"
)
THUMB_PX = 360
LINK_FILE = "link.json"
DEVICE_COOKIE = "kiosk_device"
_COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}

SECURITY_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        f"default-src 'none'; img-src 'self'; style-src 'sha256-{STYLE_HASH}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True)
class LinkTerms:
    """What a new link allows, for the guest's screen.

    It works `minutes` minutes and `downloads` times; `mode` says who may use it (any_device, first_device,
    first_download); `views` bounds page and thumbnail loads.
    """

    minutes: int
    downloads: int
    views: int
    mode: str


def link_terms(cfg: DownloadConfig) -> LinkTerms:
    """The terms every new link of this configuration gets."""
    downloads = 1 if cfg.link_mode == "first_download" else cfg.max_downloads
    return LinkTerms(max(1, round(cfg.link_minutes)), downloads, cfg.max_views, cfg.link_mode)


@dataclass(eq=False)
class Link:
    """One published download link (in memory; persisted as link.json in the session's download files)."""

    session_id: str
    token_sha256: str
    expires_at: float  # wall clock, for restarts only
    max_downloads: int
    downloads: int
    variants: tuple[str, ...]
    url: str = ""
    lang: str | None = None  # the guest's kiosk language; None: the phone's own (Accept-Language)
    mode: str = "any_device"
    views: int = 0
    max_views: int = 30
    device_sha256: str | None = None
    valid_s: float = 0.0  # the link's whole life, s: a restart never trusts the wall clock for more
    expires_mono: float = 0.0  # monotonic deadline in this process
    dead: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_json(self) -> bytes:
        """The persisted form (no token, no guest data)."""
        return json.dumps(
            {
                "token_sha256": self.token_sha256,
                "expires_at": self.expires_at,
                "valid_s": self.valid_s,
                "max_downloads": self.max_downloads,
                "downloads": self.downloads,
                "max_views": self.max_views,
                "views": self.views,
                "mode": self.mode,
                "device_sha256": self.device_sha256,
                "variants": list(self.variants),
                "lang": self.lang,
            }
        ).encode()

    @classmethod
    def from_json(cls, session_id: str, data: bytes) -> Link:
        """Parse link.json (ValueError, KeyError or TypeError when damaged)."""
        d = json.loads(data)
        link = cls(
            session_id,
            str(d["token_sha256"]),
            float(d["expires_at"]),
            int(d["max_downloads"]),
            int(d["downloads"]),
            tuple(str(v) for v in d["variants"]),
            lang=str(d["lang"]) if isinstance(d.get("lang"), str) and len(d["lang"]) == 2 else None,
            mode=str(d.get("mode", "any_device")),
            views=int(d.get("views", 0)),
            max_views=int(d.get("max_views", 30)),
            device_sha256=str(d["device_sha256"]) if d.get("device_sha256") else None,
            valid_s=float(d.get("valid_s", 0.0)),
        )
        if link.mode not in ("any_device", "first_device", "first_download") or not TOKEN_HEX.fullmatch(
            link.token_sha256
        ):
            raise ValueError("bad mode or token hash")
        return link


TOKEN_HEX = re.compile(r"^[0-9a-f]{64}$")


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
    """A JPEG thumbnail whose longer side is px (raises InputError on an image the kiosk will not decode).

    The decoder is the kiosk's own (allow-listed formats, size and byte budget); a JPEG is decoded at a
    reduced DCT scale, so a large photo never needs its full size in memory.
    """
    from PIL import Image

    from kiosk.pipeline.imageio import check_image, open_image

    im = open_image(data, "the image", ("JPEG", "PNG", "WEBP"))
    try:
        scale = 1.0
        if im.format == "JPEG":
            scale = max(1 / 8, min(1.0, 2 * px / max(im.size)))
        check_image(im, "the image", scale=scale)
        if im.format == "JPEG":
            im.draft("RGB", (max(1, int(im.size[0] * scale)), max(1, int(im.size[1] * scale))))
        im.thumbnail((px, px))
        out = io.BytesIO()
        im.convert("RGB").save(out, "JPEG", quality=80)
        return out.getvalue()
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise InputError(f"cannot make a thumbnail: not a readable image ({err})") from err
    finally:
        im.close()


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


def _tls_context(cfg: DownloadConfig) -> ssl.SSLContext | None:
    if cfg.tls_cert_file is None or cfg.tls_key_file is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cfg.tls_cert_file), str(cfg.tls_key_file))
    except (OSError, ssl.SSLError) as err:
        why = getattr(err, "strerror", None) or getattr(err, "reason", None) or str(err)
        raise InputError(
            f"delivery.download.tls_cert_file/tls_key_file: cannot load the certificate and key ({why}); "
            "give a PEM certificate chain and its matching PEM private key"
        ) from err
    return ctx


def _cookie(headers: Mapping[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        k, sep, v = part.strip().partition("=")
        if sep and k == name and _COOKIE_RE.fullmatch(v):
            return v
    return None


class DownloadServer:
    """The download server: publishes links for sessions and serves them on the configured addresses."""

    def __init__(
        self,
        store: SessionStore,
        cfg: DownloadConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        texts: Texts | None = None,
    ) -> None:
        """Prepare (nothing listens until start()).

        Args:
            store: the session store (the only source of files).
            cfg: the `[delivery.download]` section.
            clock: wall-clock seconds, only to persist expiry across restarts.
            mono: monotonic seconds for link expiry in this process (connection deadlines and the rate
                limit always use time.monotonic).
            texts: the kiosk's texts for the phone page (default: the bundled languages).
        """
        self.store = store
        self.cfg = cfg or DownloadConfig()
        self.clock = clock
        self.mono = mono
        self._listener: Listener | None = None
        self._port = 0
        self._addresses = list(self.cfg.bind)
        self.wifi: str | None = None  # the WIFI: URI of the kiosk's access point (read at start)
        self.phone = PhoneTexts(texts)
        self._links: dict[str, Link] = {}
        self._lock = threading.Lock()
        self._last_reload = -1e9
        self._ended: dict[str, None] = {}  # token hashes of links ended in this process (bounded, ordered)

    # lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> DownloadServer:
        """Bind every configured address and serve them from one listener; reload persisted links."""
        tls = _tls_context(self.cfg)
        try:
            self.wifi = wifi_uri(self.cfg.wifi)
        except ValueError as err:
            raise InputError(str(err)) from err
        self._load_links()
        port = self.cfg.port
        socks: list[socket.socket] = []
        self._addresses = resolve_bind(self.cfg.bind)  # "auto": the address phones reach (see reach.py)
        addr = self._addresses[0]
        try:
            for addr in self._addresses:
                family = socket.AF_INET6 if ":" in addr else socket.AF_INET
                s = socket.socket(family, socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addr, port))
                s.listen(128)
                port = port or s.getsockname()[1]  # same port on every address when 0 was asked
        except OSError as err:
            for s in socks:
                s.close()
            raise InputError(
                f"download server cannot listen on {addr}:{port}: {err.strerror}"
                " (check delivery.download.bind/port: an address of this machine and a free port)"
            ) from err
        self._port = port
        c = self.cfg
        limits = Limits(c.max_connections, c.max_connections_per_client, c.first_byte_timeout_s,
                        c.request_timeout_s, c.rate_per_minute)  # fmt: skip
        # transport deadlines always run on the real monotonic clock (an injected one only moves links)
        self._listener = Listener(socks, self._handle, limits, tls=tls, extra_headers=SECURITY_HEADERS).start()
        log.info("download server listening on %d address(es), port %d%s", len(socks), port,
                 " (https)" if tls else "")  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop serving and close the sockets (returns within about a second)."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def __enter__(self) -> DownloadServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port actually bound."""
        return self._port if self._listener is not None else self.cfg.port

    @property
    def base_url(self) -> str:
        """Base URL of links: public_url, else the first (resolved) bind address and the bound port."""
        if self.cfg.public_url:
            return self.cfg.public_url
        host = self._addresses[0] if self._listener is not None else resolve_bind(self.cfg.bind)[0]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.cfg.uses_tls else 'http'}://{host}:{self.port}"

    def connections(self) -> int:
        """Connections held open now (waiting for their request, or being answered)."""
        return self._listener.connections() if self._listener is not None else 0

    def terms(self) -> LinkTerms:
        """What a new link allows (for the guest's screen)."""
        return link_terms(self.cfg)

    # links --------------------------------------------------------------------------------------------
    def publish(
        self,
        session_id: str,
        variants: Mapping[str, bytes],
        thumbs: Mapping[str, bytes] | None = None,
        *,
        lang: str | None = None,
        mode: str | None = None,
    ) -> tuple[Link, str]:
        """Store the variants as the session's results and publish a link to them; (link, url).

        For files that are not in the store yet (`kiosk share`, tests); the kiosk publishes the results it
        already stored with publish_stored().

        Args:
            session_id: a live session.
            variants: file name → image bytes (JPEG or PNG), in display order.
            thumbs: optional file name → thumbnail bytes (made with the kiosk's decoder when absent).
            lang: language of the phone page (the guest's kiosk language; None: the phone's own).
            mode: any_device, first_device or first_download (default: delivery.download.link_mode).
        """
        if not variants:
            raise InputError("nothing to publish: give at least one image")
        for name, data in variants.items():
            self._check_name(name)
            self.store.write_file(session_id, "result", name, data)
        return self.publish_stored(session_id, list(variants), thumbs, lang=lang, mode=mode)

    @staticmethod
    def _check_name(name: str) -> None:
        if not FILE_NAME_RE.fullmatch(name) or len(name) > 98:
            raise InputError(f"bad variant name {name!r}: letters, digits, '.', '_', '-'")

    def publish_stored(
        self,
        session_id: str,
        names: Sequence[str],
        thumbs: Mapping[str, bytes] | None = None,
        *,
        lang: str | None = None,
        mode: str | None = None,
    ) -> tuple[Link, str]:
        """Publish a link to results already in the store (references: no copy); (link, url).

        The referenced results are pinned until the link's expiry (retention keeps them past the session's
        end); when the link ends they are released, and deleted when the guest's session is over.
        """
        if not names:
            raise InputError("nothing to publish: give at least one stored result")
        mode = mode or self.cfg.link_mode
        if mode not in ("any_device", "first_device", "first_download"):
            raise InputError(f"link mode {mode!r}: use any_device, first_device or first_download")
        for name in names:
            self._check_name(name)
        token = secrets.token_urlsafe(24)
        valid_s = self.cfg.link_minutes * 60.0
        expires = self.clock() + valid_s
        link = Link(
            session_id,
            _hash_token(token),
            expires,
            1 if mode == "first_download" else self.cfg.max_downloads,
            0,
            tuple(names),
            lang=lang,
            mode=mode,
            max_views=self.cfg.max_views,
            valid_s=valid_s,
            expires_mono=self.mono() + valid_s,
        )
        for name in names:
            data = self.store.read_file(session_id, "result", name)  # SessionNotFound: not stored
            thumb = (thumbs or {}).get(name) or make_thumbnail(data)
            self.store.set_expiry(session_id, "result", name, expires)  # pinned while the link lives
            self.store.write_file(session_id, "download", f"t-{name}", thumb, expires_at=expires)
        self.store.write_file(session_id, "download", LINK_FILE, link.to_json(), expires_at=expires)
        with self._lock:
            self._links[link.token_sha256] = link
        url = f"{self.base_url}/d/{token}"
        link.url = url
        log.info("download link published for session %s (%d variants)", session_id, len(names))
        return link, url

    # the kiosk app's `Downloads` port (kiosk.delivery.ports) --------------------------------------------
    def offer(self, session_id: str, files: Mapping[str, Path], lang: str = "en") -> str | None:
        """Publish a session's stored results (label → path in the store); the URL for the QR code."""
        names = [Path(p).name for p in files.values() if Path(p).suffix.lower() in _TYPES]
        if not names:
            return None
        _, url = self.publish_stored(session_id, names, lang=lang)
        return url

    def withdraw(self, session_id: str) -> None:
        """The guest's session ended: revoke its links, unless `keep_after_session` keeps them.

        With keep_after_session the guest can still download later until the link expires or is used up;
        retention deletes the results then.
        """
        if self.cfg.keep_after_session:
            return
        self.revoke(session_id)

    def revoke(self, session_id: str) -> None:
        """Stop offering a session's files now: its links die and the results they pinned are released."""
        with self._lock:
            links = [link for link in self._links.values() if link.session_id == session_id]
        for link in links:
            with link.lock:
                self._expire(link)

    def revoke_all(self) -> int:
        """End every link now (the operator's wipe); how many were live."""
        with self._lock:
            links = list(self._links.values())
        for link in links:
            with link.lock:
                self._expire(link)
        return len(links)

    def status(self) -> PartStatus:
        """The server for the operator: where phones reach it, live links; a link phones cannot reach warns."""
        if self._listener is None:
            return PartStatus("phone download off (server not running)", Level.FAIL, "restart the kiosk")
        now = self.mono()
        with self._lock:
            live = sum(1 for link in self._links.values() if link.expires_mono > now and not link.dead)
        reach = phone_reach(self.cfg, self.base_url)
        line = f"phone download on {self.base_url} ({live} live links)"
        if reach.level is Level.OK:
            return PartStatus(line)
        return PartStatus(f"{line}: {reach.line}", reach.level, reach.fix)

    def _reload_due(self) -> bool:
        """At most one reload of the links from the store per second, whatever unknown tokens arrive."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_reload < 1.0:
                return False
            self._last_reload = now
        return True

    def _load_links(self) -> None:
        now_wall, now_mono = self.clock(), self.mono()
        for f in self.store.files_of_kind("download"):
            if f.name != LINK_FILE:
                continue
            try:
                link = Link.from_json(f.session_id, f.path.read_bytes())
            except (OSError, ValueError, KeyError, TypeError) as err:
                log.warning("ignoring an unreadable download link of session %s: %s", f.session_id, type(err).__name__)
                continue
            longest = link.valid_s if link.valid_s > 0 else self.cfg.link_minutes * 60.0
            link.expires_mono = now_mono + max(0.0, min(link.expires_at - now_wall, longest))
            with self._lock:
                if link.token_sha256 not in self._ended:
                    self._links.setdefault(link.token_sha256, link)  # a known link keeps its live object

    def _expire(self, link: Link) -> None:
        """End a link: its thumbnails and state go, the results it pinned are released (the caller holds link.lock).

        A released result of a session that is over (delivered) is deleted now; one of a session still at
        the kiosk stays until the session ends.
        """
        link.dead = True
        with self._lock:
            # Never loaded again: a reload racing this one may still read its link.json.
            self._ended[link.token_sha256] = None
            while len(self._ended) > 4096:
                self._ended.pop(next(iter(self._ended)))
            self._links.pop(link.token_sha256, None)
        try:
            for f in self.store.files(link.session_id, "download"):
                self.store.remove_file(link.session_id, "download", f.name)
            over = self.store.get(link.session_id).step is Step.DELIVERED
            for name in link.variants:
                try:
                    if over:
                        self.store.remove_file(link.session_id, "result", name)
                    else:
                        self.store.set_expiry(link.session_id, "result", name, None)
                except SessionNotFound:
                    continue
        except SessionNotFound:
            return

    # serving ------------------------------------------------------------------------------------------
    def _handle(self, req: Request) -> Response:
        """Answer one GET/HEAD request (called on the listener's responder threads)."""
        path = req.path
        if "%" in path or "?" in path or "#" in path or "\\" in path:
            return Response.text(400, "Bad request.")
        m = PATH_RE.fullmatch(path)
        if m is None:
            return Response.text(404, "Not found.")
        with self._lock:
            link = self._links.get(_hash_token(m["token"]))
        if link is None and self._reload_due():
            self._load_links()  # a link another process published (`kiosk share` beside `kiosk run`)
            with self._lock:
                link = self._links.get(_hash_token(m["token"]))
        accept = req.headers.get("accept-language", "")
        if link is None:
            return Response.text(404, self.phone.line(self.phone.language(None, accept), "invalid"))
        lang = self.phone.language(link.lang, accept)

        def say(status: int, key: str) -> Response:
            return Response.text(status, self.phone.line(lang, key))

        what, name = m["what"], m["name"]
        if what is not None and name not in link.variants:
            return Response.text(404, "Not found.")
        counts = req.method == "GET"
        headers: dict[str, str] = {}
        with link.lock:  # every change of this link's state, and its persisting, in one critical section
            if link.dead:
                return say(404, "invalid")
            if not self._still_stored(link):  # wiped or deleted, maybe by another process (`kiosk wipe`)
                self._expire(link)
                return say(410, "deleted")
            if self.mono() >= link.expires_mono:
                self._expire(link)
                return say(410, "expired")
            if link.mode == "first_device":
                cookie = _cookie(req.headers, DEVICE_COOKIE)
                if link.device_sha256 is None and counts:
                    cookie = secrets.token_urlsafe(24)
                    link.device_sha256 = _hash_token(cookie)
                    left = max(1, int(link.expires_mono - self.mono()))
                    headers["Set-Cookie"] = (
                        f"{DEVICE_COOKIE}={cookie}; Path=/d/{m['token']}; Max-Age={left}; HttpOnly; SameSite=Strict"
                        + ("; Secure" if req.tls else "")
                    )
                elif link.device_sha256 is not None and (
                    cookie is None or not secrets.compare_digest(_hash_token(cookie), link.device_sha256)
                ):
                    return say(403, "other_phone")
            if what == "f":
                if counts and link.downloads >= link.max_downloads:
                    return say(410, "limit")
            elif counts and link.views >= link.max_views:
                return say(410, "views")
            data = b""
            if what is not None:
                try:
                    kind, file_name = ("result", name) if what == "f" else ("download", f"t-{name}")
                    data = self.store.read_file(link.session_id, kind, file_name)
                except SessionNotFound:
                    self._expire(link)
                    return say(410, "deleted")
            if counts:
                if what == "f":
                    link.downloads += 1
                else:
                    link.views += 1
                self._persist(link)  # before the reply: the bytes are already in memory
            if what is None:
                return self._page(link, lang, m["token"], headers)
        if what == "f":
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(200, data, _sniff_type(data), headers)

    def _still_stored(self, link: Link) -> bool:
        """Whether the store still holds the link (the journal is shared by every kiosk process)."""
        try:
            self.store.file(link.session_id, "download", LINK_FILE)
        except SessionNotFound:
            return False
        return True

    def _persist(self, link: Link) -> None:
        """Write a link's counts (the caller holds link.lock); a spent link is ended instead."""
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

    def _page(self, link: Link, lang: str, token: str, headers: dict[str, str]) -> Response:
        left_min = max(0, int((link.expires_mono - self.mono()) // 60))
        page = self.phone.page(lang, token, link.variants, left_min, link.max_downloads - link.downloads)
        headers["Content-Language"] = lang
        return Response(200, page.encode(), "text/html; charset=utf-8", headers)
