"""A small HTTP/1.0 listener for hostile networks: a selector thread reads heads, a thread answers each.

A connection costs a file descriptor, not a thread, until its whole request head has arrived, so clients
that connect and send nothing (or one byte a second) cannot starve the others. Limits, all enforced by the
selector thread with monotonic deadlines:

- at most `max_connections` at once; a client (an IPv4 address, or an IPv6 /64, so rotating privacy
  addresses count as one) holds at most `max_connections_per_client`, and one that already holds any may
  not take the last quarter of the slots: those are kept for clients that hold none;
- the first byte must arrive within `first_byte_timeout_s` of the accept, the whole head within
  `request_timeout_s`; a late connection is closed;
- request line ≤ 2 KiB (else 414), head ≤ 8 KiB and ≤ 40 header lines (else 431), no bodies, one request
  per connection (HTTP/1.0, `Connection: close`);
- a token bucket per client counts connections at accept time (`rate_per_minute`), so half-open ones
  count too; a client over it is answered 429 once its head is in;
- with an `ssl.SSLContext` the TLS handshake runs non-blocking in the selector thread under the same
  deadlines.

A response is written by its own thread in blocks, each block within `STALL_S`, the whole within a
deadline that grows with its size. Logs carry neither paths nor addresses.
"""

from __future__ import annotations

import contextlib
import http
import ipaddress
import logging
import selectors
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 2048
MAX_HEADER_BYTES = 8192
MAX_HEADER_LINES = 40
STALL_S = 20.0  # a client that takes no block of a response for this long is cut, s
MIN_RATE_BPS = 20_000  # a response may take size / this, s (plus a minute), then it is cut
_BLOCK = 64 * 1024


@dataclass
class Request:
    """One parsed request head."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    client: str  # the client's group key (IPv4 address or IPv6 /64): never logged
    tls: bool


@dataclass
class Response:
    """What to send back."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
        """A plain-text reply."""
        return cls(status, text.encode() + b"\n", headers=dict(headers or {}))


@dataclass(frozen=True)
class Limits:
    """The listener's limits (see the module docstring); seconds and counts."""

    max_connections: int = 64
    max_connections_per_client: int = 6
    first_byte_timeout_s: float = 2.0
    request_timeout_s: float = 5.0
    rate_per_minute: int = 60

    @property
    def reserved(self) -> int:
        """Slots only a client holding no connection may take."""
        return max(1, self.max_connections // 4) if self.max_connections > 1 else 0


def client_group(address: str) -> str:
    """The rate-limit and connection-cap key of a client: its IPv4 address, or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class RateLimiter:
    """A token bucket per client, bounded in memory (the least recently seen clients are forgotten)."""

    def __init__(self, per_minute: int, clock: Callable[[], float], max_clients: int = 4096) -> None:
        """Args: per_minute requests (burst as large); clock is monotonic seconds."""
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


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    client: str
    first_byte_by: float
    head_by: float
    wait: float  # rate limiter's verdict at accept
    tls: bool
    handshaken: bool = True
    buf: bytearray = field(default_factory=bytearray)


class Listener:
    """Serves `handler(request) -> Response` on listening sockets; start() and stop() it."""

    def __init__(
        self,
        sockets: list[socket.socket],
        handler: Callable[[Request], Response],
        limits: Limits,
        *,
        tls: ssl.SSLContext | None = None,
        extra_headers: Mapping[str, str] | None = None,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args: bound, listening sockets; mono is monotonic seconds for every deadline."""
        self.sockets = sockets
        self.handler = handler
        self.limits = limits
        self.tls = tls
        self.extra_headers = dict(extra_headers or {})
        self.mono = mono
        self.limiter = RateLimiter(limits.rate_per_minute, mono)
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="download-listener", daemon=True)
        self._pending: set[_Conn] = set()
        self._active: set[socket.socket] = set()  # being answered by a responder thread
        self._per_client: dict[str, int] = {}
        self._lock = threading.Lock()

    # lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> Listener:
        """Start the selector thread."""
        for s in self.sockets:
            s.setblocking(False)
            self._sel.register(s, selectors.EVENT_READ, None)
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop accepting, close every connection (pending and being answered), close the sockets."""
        self._stop = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        with self._lock:
            active = list(self._active)
        for s in active:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # its responder thread ends on the error
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()
        for s in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                s.close()
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            self._sel.close()

    def connections(self) -> int:
        """Connections held now (pending heads and responses)."""
        with self._lock:
            return sum(self._per_client.values())

    # the selector thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop:
            try:
                events = self._sel.select(timeout=0.1)
            except (OSError, ValueError):
                break
            for key, mask in events:
                if key.data == "wake":
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(64)
                elif key.data is None:
                    self._accept(key.fileobj)  # type: ignore[arg-type]  # reason: registered as a socket
                else:
                    self._readable(key.data, mask)
            self._reap()
        for conn in list(self._pending):
            self._drop(conn)

    def _accept(self, lsock: socket.socket) -> None:
        lim = self.limits
        for _ in range(64):  # a burst of connects must not starve the reads
            try:
                sock, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                log.warning("download server: accept failed: %s", err.strerror)
                return
            client = client_group(str(addr[0]))
            with self._lock:
                held = self._per_client.get(client, 0)
                total = sum(self._per_client.values())
                full = (
                    total >= lim.max_connections
                    or held >= min(lim.max_connections_per_client, lim.max_connections)
                    or (held > 0 and total >= lim.max_connections - lim.reserved)
                )
                if not full:
                    self._per_client[client] = held + 1
            if full:
                with contextlib.suppress(OSError):
                    sock.close()
                continue
            now = self.mono()
            wait = self.limiter.allow(client)
            first = min(lim.first_byte_timeout_s, lim.request_timeout_s)
            conn = _Conn(sock, client, now + first, now + lim.request_timeout_s, wait, self.tls is not None)
            try:
                sock.setblocking(False)
                if self.tls is not None:
                    conn.sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                    conn.handshaken = False
                self._sel.register(conn.sock, selectors.EVENT_READ, conn)
            except (OSError, ValueError):
                self._release(conn)
                continue
            self._pending.add(conn)

    def _readable(self, conn: _Conn, mask: int) -> None:
        try:
            if not conn.handshaken:
                tls_sock: ssl.SSLSocket = conn.sock  # type: ignore[assignment]  # reason: wrapped when tls
                conn.first_byte_by = conn.head_by  # bytes arrived: the handshake runs on the head's deadline
                try:
                    tls_sock.do_handshake()
                except ssl.SSLWantReadError:
                    self._sel.modify(conn.sock, selectors.EVENT_READ, conn)
                    return
                except ssl.SSLWantWriteError:
                    self._sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
                    return
                conn.handshaken = True
                self._sel.modify(conn.sock, selectors.EVENT_READ, conn)
            while True:
                try:
                    chunk = conn.sock.recv(4096)
                except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
                    break
                if not chunk:
                    self._drop(conn)
                    return
                conn.buf += chunk
                conn.first_byte_by = conn.head_by
                if len(conn.buf) > MAX_REQUEST_LINE + MAX_HEADER_BYTES + 4:
                    break
                if not (isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending()):
                    break
        except (OSError, ssl.SSLError, ValueError):
            self._drop(conn)
            return
        self._check_head(conn)

    def _check_head(self, conn: _Conn) -> None:
        buf = bytes(conn.buf)
        line_end = buf.find(b"\n")
        if (line_end < 0 and len(buf) > MAX_REQUEST_LINE) or line_end > MAX_REQUEST_LINE:
            self._dispatch(conn, Response.text(414, "Request too long."))
            return
        end = buf.find(b"\r\n\r\n")
        end = end + 4 if end >= 0 else -1
        lf = buf.find(b"\n\n")
        if lf >= 0 and (end < 0 or lf + 2 < end):
            end = lf + 2
        if end < 0:
            if len(buf) - max(line_end, 0) > MAX_HEADER_BYTES:
                self._dispatch(conn, Response.text(431, "Request headers too large."))
            return
        if end - max(line_end, 0) > MAX_HEADER_BYTES + 4:
            self._dispatch(conn, Response.text(431, "Request headers too large."))
            return
        self._dispatch(conn, buf[:end])

    def _reap(self) -> None:
        now = self.mono()
        late = [c for c in self._pending if now >= (c.head_by if c.buf else min(c.first_byte_by, c.head_by))]
        for conn in late:
            self._drop(conn)  # slow or silent: closed without a word (a reply would only feed a slowloris)

    def _unregister(self, conn: _Conn) -> None:
        self._pending.discard(conn)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(conn.sock)

    def _drop(self, conn: _Conn) -> None:
        self._unregister(conn)
        with contextlib.suppress(OSError):
            conn.sock.close()
        self._release(conn)

    def _release(self, conn: _Conn) -> None:
        with self._lock:
            left = self._per_client.get(conn.client, 0) - 1
            if left > 0:
                self._per_client[conn.client] = left
            else:
                self._per_client.pop(conn.client, None)

    def _dispatch(self, conn: _Conn, head: bytes | Response) -> None:
        self._unregister(conn)
        with self._lock:
            self._active.add(conn.sock)
        t = threading.Thread(target=self._respond, args=(conn, head), name="download-response", daemon=True)
        try:
            t.start()
        except RuntimeError:  # no more threads: drop this one rather than the server
            with self._lock:
                self._active.discard(conn.sock)
            self._drop(conn)

    # a responder thread ----------------------------------------------------------------------------------
    def _respond(self, conn: _Conn, head: bytes | Response) -> None:
        method = "GET"
        try:
            if isinstance(head, Response):
                reply = head
            else:
                parsed = self._parse(head, conn)
                if isinstance(parsed, Response):
                    reply = parsed
                else:
                    method = parsed.method
                    reply = self._answer(parsed, conn)
            self._send(conn.sock, reply, head_only=method == "HEAD")
        except Exception:  # reason: a responder thread must never die silently; log and close
            log.exception("download server: answering a request failed")
        finally:
            with self._lock:
                self._active.discard(conn.sock)
            with contextlib.suppress(OSError):
                conn.sock.close()
            self._release(conn)

    def _answer(self, req: Request, conn: _Conn) -> Response:
        if conn.wait > 0:
            return Response.text(
                429, "Too many requests: wait a moment.", {"Retry-After": str(int(conn.wait) + 1)}
            )
        if req.method not in ("GET", "HEAD"):
            return Response.text(405, "Only GET and HEAD are served.", {"Allow": "GET, HEAD"})
        return self.handler(req)

    @staticmethod
    def _parse(head: bytes, conn: _Conn) -> Request | Response:
        bad = Response.text(400, "Bad request.")
        try:
            text = head.decode("ascii")
        except UnicodeDecodeError:
            return bad
        lines = [ln.rstrip("\r") for ln in text.split("\n")]
        while lines and lines[-1] == "":
            lines.pop()
        if not lines:
            return bad
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0].isalpha() or not parts[0].isupper():
            return bad
        method, target, version = parts
        if version not in ("HTTP/1.0", "HTTP/1.1") or not target or any(ord(c) < 33 for c in target):
            return bad
        if len(lines) - 1 > MAX_HEADER_LINES:
            return Response.text(431, "Too many headers.")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or " " in name or line[0] in " \t":
                return bad
            headers[name.lower()] = value.strip()
        return Request(method, target, headers, conn.client, conn.tls)

    def _send(self, sock: socket.socket, reply: Response, head_only: bool) -> None:
        phrase = http.HTTPStatus(reply.status).phrase
        fields = {
            "Server": "kiosk",
            "Date": formatdate(usegmt=True),
            **self.extra_headers,
            **reply.headers,
            "Content-Type": reply.content_type,
            "Content-Length": str(len(reply.body)),
            "Connection": "close",
        }
        out = f"HTTP/1.0 {reply.status} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        data = memoryview(out.encode("latin-1") + (b"" if head_only else reply.body))
        deadline = self.mono() + 60.0 + len(data) / MIN_RATE_BPS
        sock.setblocking(True)
        sock.settimeout(STALL_S)
        try:
            for start in range(0, len(data), _BLOCK):
                if self._stop or self.mono() > deadline:
                    return
                sock.sendall(data[start : start + _BLOCK])
            sock.shutdown(socket.SHUT_WR)
            self._drain(sock)
        except (OSError, ssl.SSLError):
            return  # the client went away or stalled
        log.debug("download %s", reply.status)

    def _drain(self, sock: socket.socket, limit_s: float = 1.0, limit_bytes: int = 256 * 1024) -> None:
        """Read what the client still sends until it closes (briefly).

        Closing a socket with unread input sends a reset, which can destroy the reply before it is read.
        """
        deadline = self.mono() + limit_s
        got = 0
        while got < limit_bytes and not self._stop:
            left = deadline - self.mono()
            if left <= 0:
                return
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not chunk:
                return
            got += len(chunk)
