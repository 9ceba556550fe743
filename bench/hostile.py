"""Hostile inputs against what faces the LAN and the operator: the download server, the CLI's decoder, the
configuration, the operator PIN and the serial link, all real and on loopback.

    python -m bench.hostile [--quick]

Prints one JSON object: ``tried``, ``handled``, ``failed`` (the names of the cases that were not handled,
with what happened) and ``seconds``. A case is handled when the part refuses it the way the house says:
HTTP status and no leak for the server, exit 2 with exactly one stderr line for the CLI, no decoder run for
a format outside the allow-list, no file written by a crafted EPS. ``--quick`` leaves out the slow
connection-flood cases.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PIN_HASH = (
    "pbkdf2_sha256$120000$00112233445566778899aabbccddeeff$"
    "e3711062fe6201e1f4ceb4183b7926a3bf1b7af61c13f881a935e4fd89fddf46"
)  # PIN 482916


class Cases:
    """Runs named checks; a check returns None when handled, else a short description of what happened."""

    def __init__(self) -> None:
        self.tried = 0
        self.failed: dict[str, str] = {}

    def run(self, name: str, check: Callable[[], str | None]) -> None:
        self.tried += 1
        try:
            problem = check()
        except Exception as err:  # noqa: BLE001  # reason: a crash of the part under test is the finding
            problem = f"raised {type(err).__name__}: {err}"
        if problem:
            self.failed[name] = problem[:300]


# --- helpers -------------------------------------------------------------------------------------------


def _jpeg(color: tuple[int, int, int] = (120, 120, 120), size: tuple[int, int] = (400, 500)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def _png_header_only(width: int, height: int, depth: int = 8, color_type: int = 2, rows: int = 4) -> bytes:
    """A PNG whose header claims width×height; only a few rows of data follow (refused before decoding)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = b"\x00" + bytes(width * channels * depth // 8)
    idat = zlib.compress(row * rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def big_png_16bit_rgba(path: Path, side: int = 12207) -> Path:
    """A real, complete 149 MP 16-bit RGBA PNG (all zero, so small on disk), written streaming."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row = b"\x00" + bytes(side * 8)
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _cli(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, list[str]]:
    """Run `kiosk ARGS` as a process; (exit code, stderr lines)."""
    done = subprocess.run(
        [sys.executable, "-m", "kiosk", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)},
    )
    return done.returncode, [ln for ln in done.stderr.splitlines() if ln.strip()]


def _main(args: list[str]) -> tuple[int, list[str]]:
    """Run the CLI in this process (fast); (exit code, lines it printed to stderr)."""
    from kiosk.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, [ln for ln in err.getvalue().splitlines() if ln.strip() and not ln.startswith(("WARNING", "INFO"))]


def _exit2(result: tuple[int, list[str]], needle: str = "") -> str | None:
    code, lines = result
    if code != 2 or len(lines) != 1 or "Traceback" in "".join(lines) or needle.lower() not in lines[0].lower():
        return f"exit {code}, stderr {lines[:3]}"
    return None


def _exit2_of(args: list[str], needle: str = "") -> str | None:
    """`kiosk ARGS` in this process exits 2 with one line naming needle (see _exit2), or what went wrong."""
    return _exit2(_main(args), needle)


def _raw(port: int, data: bytes, source: str = "127.0.0.1", timeout: float = 10.0) -> bytes:
    with socket.socket() as s:
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(data)
        out = b""
        while True:
            try:
                c = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not c:
                break
            out += c
    return out


def _status(reply: bytes) -> int:
    try:
        return int(reply.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def _answers(port: int, request: bytes, want: int) -> str | None:
    """None when the server answers request with status want, else what it answered."""
    got = _status(_raw(port, request))
    return None if got == want else f"status {got}, wanted {want}"


def _closed(s: socket.socket, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            if s.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


# --- the download server -------------------------------------------------------------------------------


def server_cases(cases: Cases, work: Path, quick: bool) -> None:
    """Traversal, methods, headers, lengths, slow and flooding clients, link state, modes, HTTPS."""
    from kiosk.delivery.config import DownloadConfig
    from kiosk.delivery.download import DownloadServer
    from kiosk.session.store import SessionStore

    store = SessionStore(work / "server")
    cfg = DownloadConfig(bind=["127.0.0.1"], port=0, rate_per_minute=10000, request_timeout_s=1.0,
                         first_byte_timeout_s=1.0, max_downloads=1000, max_views=10000)  # fmt: skip
    with DownloadServer(store, cfg) as server:
        port = server.port
        _, url = server.publish(store.create().id, {"white.jpg": _jpeg()}, thumbs={"white.jpg": b"t"})
        t = url.rsplit("/", 1)[1]
        for path in ["/", "/d/", "/d", "/favicon.ico", "/sessions/", "/journal.sqlite3", "/d/{t}/f/..%2f..%2fj",
                     "/d/{t}/f/../../journal.sqlite3", "/d/{t}/../../journal.sqlite3", "/d/%2e%2e/%2e%2e/j",
                     "/../../../etc/passwd", "/d/{t}/f/link.json", "/d/{t}/f/f-white.jpg", "/d/{t}/x/white.jpg",
                     "/d/{t}/f/", "/d/{t}?a=b", "/d/{t}/f/white.jpg%00.png", "//etc/passwd", "/d/{t}/f/white.jpg/",
                     "/d/{t}\\..\\journal", "http://evil/d/{t}", "*", "/d/{t}/t/link.json", "/d/{t}#x"]:  # fmt: skip

            def traversal(path: str = path) -> str | None:
                reply = _raw(port, f"GET {path.format(t=t)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                leak = any(x in reply for x in (b"SQLite", b"root:", b"token_sha256", b"\xff\xd8"))
                return None if _status(reply) in (400, 404) and not leak else f"status {_status(reply)} leak={leak}"

            cases.run(f"server: traversal {path}", traversal)
        other = ("A" if t[0] != "A" else "B") + t[1:]
        for bad in [other, t[:-1], t + "x", "x" * 32, "-" * 32]:
            request = f"GET /d/{bad} HTTP/1.0\r\n\r\n".encode()
            cases.run(f"server: bad token {bad[:6]}…", partial(_answers, port, request, 404))
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW", "TRACE", "CONNECT"):
            request = f"{method} /d/{t} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".encode()
            cases.run(f"server: method {method}", partial(_answers, port, request, 405))
        sixty = b"".join(f"X-{i}: v\r\n".encode() for i in range(60))
        for name, data, want in [
            ("garbage request line", b"GARBAGE\r\n\r\n", 400),
            ("HTTP/0.9 request", b"GET /\r\n\r\n", 400),
            ("bad version", b"GET / HTTP/9.9\r\n\r\n", 400),
            ("NUL in the path", b"GET /d/\x00 HTTP/1.0\r\n\r\n", 400),
            ("non-ASCII head", "GET /d/é HTTP/1.0\r\n\r\n".encode(), 400),
            ("header without a colon", f"GET /d/{t} HTTP/1.0\r\nnocolon\r\n\r\n".encode(), 400),
            ("folded header", f"GET /d/{t} HTTP/1.0\r\nX-A: 1\r\n  folded\r\n\r\n".encode(), 400),
            ("CRLF injection in the target", f"GET /d/{t}\r\nSet-Cookie: x=1 HTTP/1.0\r\n\r\n".encode(), 400),
            ("100 KB request line", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n", 414),
            ("20 KB header", f"GET /d/{t} HTTP/1.1\r\nX-Big: {'b' * 20000}\r\n\r\n".encode(), 431),
            ("60 headers", f"GET /d/{t} HTTP/1.1\r\n".encode() + sixty + b"\r\n", 431),
        ]:
            cases.run(f"server: {name}", partial(_answers, port, data, want))

        def slowloris() -> str | None:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(f"GET /d/{t} HTTP/1.1\r\n".encode())
                start = time.monotonic()
                while time.monotonic() - start < 30:
                    try:
                        s.sendall(b"X")
                    except OSError:
                        return None
                    if _closed(s, 0.2):
                        return None
            return "a client sending one byte at a time was never cut"

        cases.run("server: slowloris (one byte at a time)", slowloris)

        def silent() -> str | None:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                return None if _closed(s, 30) else "a silent connection was never cut"

        cases.run("server: connect and send nothing", silent)

        def tls_garbage() -> str | None:
            reply = _raw(port, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(64))
            return None if _status(reply) in (0, 400) else f"status {_status(reply)}"

        cases.run("server: TLS hello to the HTTP port", tls_garbage)
    store.close()
    link_cases(cases, work)
    if not quick:
        flood_cases(cases, work)
    https_cases(cases, work)


def link_cases(cases: Cases, work: Path) -> None:
    """Counting, races, modes, monotonic expiry, rate limit."""
    from kiosk.delivery.config import DownloadConfig
    from kiosk.delivery.download import DownloadServer
    from kiosk.session.store import SessionStore

    class Clock:
        def __init__(self) -> None:
            self.t = 2_000_000.0

        def __call__(self) -> float:
            return self.t

    wall, mono = Clock(), Clock()
    store = SessionStore(work / "links")
    cfg = DownloadConfig(bind=["127.0.0.1"], port=0, max_downloads=1, max_views=3, rate_per_minute=10000,
                         max_connections_per_client=64)  # fmt: skip
    with DownloadServer(store, cfg, clock=wall, mono=mono) as server:
        port = server.port

        def get(path: str, headers: str = "") -> bytes:
            return _raw(port, f"GET {path} HTTP/1.0\r\n{headers}\r\n".encode())

        def thumbs_counted() -> str | None:
            _, url = server.publish(store.create().id, {"a.jpg": _jpeg()}, thumbs={"a.jpg": b"t"})
            t = url.rsplit("/", 1)[1]
            codes = [_status(get(f"/d/{t}/t/a.jpg")) for _ in range(5)]
            return None if codes == [200, 200, 200, 410, 410] else f"thumbnail codes {codes}"

        cases.run("link: thumbnails counted", thumbs_counted)

        def race() -> str | None:
            for _ in range(5):
                s = store.create()
                _, url = server.publish(s.id, {"a.jpg": _jpeg()}, thumbs={"a.jpg": b"t"})
                t = url.rsplit("/", 1)[1]
                codes: list[int] = []
                go = threading.Barrier(8)

                def fetch(t: str = t, go: threading.Barrier = go, codes: list[int] = codes) -> None:
                    go.wait()
                    codes.append(_status(get(f"/d/{t}/f/a.jpg")))

                threads = [threading.Thread(target=fetch) for _ in range(8)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join(60)
                if codes.count(200) != 1 or store.files(s.id, "download"):
                    return f"codes {codes}, files left {len(store.files(s.id, 'download'))}"
            return None

        cases.run("link: concurrent last downloads (race on link.json)", race)

        def monotonic() -> str | None:
            _, url = server.publish(store.create().id, {"a.jpg": _jpeg()}, thumbs={"a.jpg": b"t"})
            t = url.rsplit("/", 1)[1]
            wall.t += 86400
            first = _status(get(f"/d/{t}/t/a.jpg"))
            wall.t -= 86400
            mono.t += cfg.link_minutes * 60
            second = _status(get(f"/d/{t}/t/a.jpg"))
            return None if (first, second) == (200, 410) else f"after a wall-clock jump {first}, after expiry {second}"

        cases.run("link: wall-clock jump does not move expiry", monotonic)

        def first_device() -> str | None:
            _, url = server.publish(store.create().id, {"a.jpg": _jpeg()}, thumbs={"a.jpg": b"t"}, mode="first_device")
            t = url.rsplit("/", 1)[1]
            reply = get(f"/d/{t}")
            cookie = next((ln.split(":", 1)[1].strip().split(";")[0] for ln in reply.decode("latin-1").split("\r\n")
                           if ln.lower().startswith("set-cookie:")), "")  # fmt: skip
            other = _status(get(f"/d/{t}/f/a.jpg"))
            forged = _status(get(f"/d/{t}/f/a.jpg", f"Cookie: {cookie.split('=')[0]}={'A' * 32}\r\n"))
            mine = _status(get(f"/d/{t}/f/a.jpg", f"Cookie: {cookie}\r\n"))
            return None if (other, forged, mine) == (403, 403, 200) else f"other {other} forged {forged} own {mine}"

        cases.run("link: first device only", first_device)

        def first_download() -> str | None:
            _, url = server.publish(store.create().id, {"a.jpg": _jpeg(), "b.jpg": _jpeg()},
                                    thumbs={"a.jpg": b"t", "b.jpg": b"t"}, mode="first_download")  # fmt: skip
            t = url.rsplit("/", 1)[1]
            codes = (_status(get(f"/d/{t}/f/a.jpg")), _status(get(f"/d/{t}/f/b.jpg")))
            return None if codes[0] == 200 and codes[1] in (404, 410) else f"codes {codes}"

        cases.run("link: first download only", first_download)
    store.close()

    def rate_limit() -> str | None:
        st = SessionStore(work / "rate")
        with DownloadServer(st, DownloadConfig(bind=["127.0.0.1"], port=0, rate_per_minute=5)) as srv:
            codes = [_status(_raw(srv.port, b"GET / HTTP/1.0\r\n\r\n")) for _ in range(7)]
            half_open = socket.create_connection(("127.0.0.1", srv.port))  # counted at accept, unfinished
            half_open.close()
        st.close()
        return None if codes[:5] == [404] * 5 and codes[5:] == [429, 429] else f"codes {codes}"

    cases.run("server: rate limit per client", rate_limit)


def flood_cases(cases: Cases, work: Path) -> None:
    """40 half-open connections from one client, then from 40 rotating addresses; 25 guests download."""
    from kiosk.delivery.config import DownloadConfig
    from kiosk.delivery.download import DownloadServer
    from kiosk.delivery.http_listener import client_group
    from kiosk.session.store import SessionStore

    store = SessionStore(work / "flood")
    cfg = DownloadConfig(bind=["127.0.0.1"], port=0, rate_per_minute=1000, request_timeout_s=60.0,
                         first_byte_timeout_s=60.0)  # fmt: skip
    with DownloadServer(store, cfg) as server:
        tokens = []
        for i in range(25):
            _, url = server.publish(store.create().id, {"a.jpg": _jpeg((i, i, i))}, thumbs={"a.jpg": b"t"})
            tokens.append(url.rsplit("/", 1)[1])

        def guests() -> list[int]:
            return [_status(_raw(server.port, f"GET /d/{t}/f/a.jpg HTTP/1.0\r\n\r\n".encode(), f"127.0.0.{i + 2}"))
                    for i, t in enumerate(tokens)]  # fmt: skip

        def flood(sources: list[str]) -> str | None:
            socks = []
            try:
                for src in sources:
                    s = socket.socket()
                    s.bind((src, 0))
                    s.connect(("127.0.0.1", server.port))
                    s.sendall(b"GET /d/")
                    socks.append(s)
                codes = guests()
                return None if codes == [200] * 25 else f"{codes.count(200)} of 25 guests got their photo"
            finally:
                for s in socks:
                    s.close()

        cases.run("server: 40 half-open connections from one client", lambda: flood(["127.0.0.1"] * 40))
        cases.run("server: 40 half-open connections from 40 addresses",
                  lambda: flood([f"127.0.1.{i + 1}" for i in range(40)]))  # fmt: skip
        rotating = {client_group(f"2001:db8:0:1:{random.getrandbits(16):x}::{i:x}") for i in range(40)}
        cases.run("server: rotating IPv6 privacy addresses count as one client",
                  lambda: None if len(rotating) == 1 else "not grouped")  # fmt: skip
    store.close()


def https_cases(cases: Cases, work: Path) -> None:
    """The HTTPS option with an operator's certificate; its configuration refusals."""
    import ssl

    from pydantic import ValidationError

    from kiosk.delivery.config import DownloadConfig
    from kiosk.delivery.download import DownloadServer
    from kiosk.session.store import SessionStore

    folder = work / "tls"
    folder.mkdir()
    cert, key = folder / "c.pem", folder / "k.pem"
    done = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-nodes", "-days", "2", "-subj", "/CN=kiosk.test", "-addext",
                           "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    if done.returncode != 0:
        cases.run("https: certificate made", lambda: "openssl could not make a test certificate")
        return
    key.chmod(0o600)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = DownloadConfig(bind=["127.0.0.1"], port=port, public_url=f"https://127.0.0.1:{port}",
                         tls_cert_file=cert, tls_key_file=key)  # fmt: skip
    store = SessionStore(work / "https")
    with DownloadServer(store, cfg) as server:
        _, url = server.publish(store.create().id, {"a.jpg": _jpeg()}, thumbs={"a.jpg": b"t"})
        path = url.split(str(port), 1)[1]

        def https_ok() -> str | None:
            ctx = ssl.create_default_context(cafile=str(cert))
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, ctx.wrap_socket(
                raw, server_hostname="127.0.0.1"
            ) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            return None if _status(reply) == 200 and b"a.jpg" in reply else f"status {_status(reply)}"

        cases.run("https: page over TLS with the operator's certificate", https_ok)
        cases.run("https: plain HTTP to the HTTPS port gets nothing", lambda: None if b"a.jpg" not in _raw(
            port, f"GET {path} HTTP/1.0\r\n\r\n".encode()) else "page served in clear")  # fmt: skip

        def stalled_handshake() -> str | None:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"\x16\x03\x01")
                return None if _closed(s, 30) else "a stalled TLS handshake was never cut"

        cases.run("https: stalled handshake is cut", stalled_handshake)
    store.close()

    def refused(kw: dict[str, object], needle: str) -> str | None:
        try:
            DownloadConfig(**kw)
        except ValidationError as err:
            return None if needle in str(err) else f"refused without naming {needle}"
        return "accepted"

    cases.run("https: certificate without public_url", lambda: refused(
        {"tls_cert_file": cert, "tls_key_file": key}, "public_url"))  # fmt: skip
    cases.run("https: certificate without key", lambda: refused(
        {"tls_cert_file": cert, "public_url": "https://k.test"}, "tls_key_file"))  # fmt: skip
    key.chmod(0o644)
    cases.run("https: world-readable key", lambda: refused(
        {"tls_cert_file": cert, "tls_key_file": key, "public_url": "https://k.test"}, "chmod 600"))  # fmt: skip


# --- configuration, PIN ----------------------------------------------------------------------------------


def config_cases(cases: Cases, work: Path) -> None:
    """Bad values in kiosk.toml: exit 2 from `kiosk config check`, one line naming the key."""
    secret = work / "secret.txt"
    secret.write_text("pw\n")
    secret.chmod(0o644)
    pin = f'[ui]\npin_hash = "{PIN_HASH}"\n'
    bad = {
        "max_downloads = true": ("[delivery.download]\nmax_downloads = true\n" + pin, "max_downloads"),
        "integer as a string": ('[delivery.download]\nport = "8080"\n' + pin, "port"),
        "float for an integer": ("[delivery.download]\nport = 8080.5\n" + pin, "port"),
        "boolean as a string": ('[ui]\nfullscreen = "yes"\n' + f'pin_hash = "{PIN_HASH}"\n', "fullscreen"),
        "boolean as 1": ("[delivery.download]\nenabled = 1\n" + pin, "enabled"),
        "malformed pin_hash": ('[ui]\npin_hash = "pbkdf2_sha256$abc"\n', "pin_hash"),
        "pin_hash with 1 iteration": (f'[ui]\npin_hash = "{PIN_HASH.replace("$120000$", "$1$")}"\n', "iterations"),
        "pin_hash not hex": (f'[ui]\npin_hash = "{PIN_HASH[:-4]}zzzz"\n', "pin_hash"),
        "old default PIN 1234": (
            '[ui]\npin_hash = "pbkdf2_sha256$120000$6b696f736b2d64656661756c74$'
            'f88a42e64b8933b73756de6079a7e179f2f20c0ce59cdafad2eaf749d24b2169"\n', "kiosk config pin"),
        "no PIN at all": ("", "kiosk config pin"),
        "identity_pattern (a+)+": ('[delivery.handoff]\nidentity_pattern = "^(a+)+$"\n' + pin, "identity_pattern"),
        "identity_pattern (a|aa)*": ('[delivery.handoff]\nidentity_pattern = "^(a|aa)*$"\n' + pin, "identity_pattern"),
        "identity_pattern many repeats": (
            '[delivery.handoff]\nidentity_pattern = "^a*a*a*a*a*a*a*b$"\n' + pin, "identity_pattern"),
        "identity_pattern back-reference": (
            '[delivery.handoff]\nidentity_pattern = "^(\\\\w+)\\\\1$"\n' + pin, "identity_pattern"),
        "identity_pattern 300 chars": (f'[delivery.handoff]\nidentity_pattern = "{"a" * 300}"\n' + pin,
                                       "identity_pattern"),
        "CR/LF in mail sender": ('[delivery.mail]\nsender = "k@x.org\\r\\nBcc: all@x.org"\n' + pin, "sender"),
        "LF in mail subject": ('[delivery.mail]\nsubject = "Hi\\nBcc: all@x.org"\n' + pin, "subject"),
        "CR in SMTP user": ('[delivery.mail]\nusername = "u\\r\\nRCPT TO:x"\n' + pin, "username"),
        "sender without an address": ('[delivery.mail]\nsender = "nobody"\n' + pin, "sender"),
        "world-readable password_file": (f'[delivery.mail]\npassword_file = "{secret}"\n' + pin, "chmod 600"),
        "world-readable webhook token": (
            f'[delivery.handoff]\ntarget = "webhook"\nwebhook_url = "https://x.org/h"\nwebhook_token_file = '
            f'"{secret}"\n' + pin, "chmod 600"),
        "SMTP plain to a remote host": (
            '[delivery.mail]\nhost = "smtp.example.org"\nsecurity = "none"\n' + pin, "security"),
        "tables nested 5000 deep": ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nest"),
        "arrays nested 40 deep": ("a = " + "[" * 40 + "]" * 40 + "\n", "nest"),
        "inline tables nested 3000 deep": ("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", "nest"),
        "unknown key": ("[ui]\nretake_limt = 1\n", "retake_limt"),
        "download URL with credentials": (
            '[delivery.download]\npublic_url = "http://u:p@k.test"\n' + pin, "public_url"),
        "NUL in a path": ('data_dir = "/tmp/a\\u0000b"\n' + pin, "data_dir"),
    }
    for name, (text, needle) in bad.items():
        path = work / f"cfg-{abs(hash(name))}.toml"
        path.write_text(text, encoding="utf-8")
        cases.run(f"config: {name}", partial(_exit2_of, ["config", "check", str(path)], needle))
    path = work / "cfg-deep-proc.toml"
    path.write_text("a = " + "[" * 100000 + "]" * 100000 + "\n")
    cases.run("config: 100000-deep arrays in a real process",
              lambda: _exit2(_cli(["config", "check", str(path)]), "nest"))  # fmt: skip
    empty = work / "no-pin.toml"
    empty.write_text(f'data_dir = "{work / "run-data"}"\n')
    cases.run("pin: kiosk run refuses a missing PIN", lambda: _exit2(_main(["--config", str(empty), "run"]),
                                                                     "kiosk config pin"))  # fmt: skip
    for weak in ("1234", "12345", "111111", "123456", "abcdef", "１２３４５６"):
        cases.run(f"pin: `kiosk config pin` refuses {weak!r}", partial(_pin_refused, weak))

    def doctor() -> str | None:
        from kiosk.commands.doctor import FAIL, check_pin
        from kiosk.config import KioskConfig

        c = check_pin(KioskConfig())
        return None if c.level == FAIL and "kiosk config pin" in c.fix else f"doctor says {c.level}"

    cases.run("pin: doctor fails without a PIN", doctor)
    cases.run("pin: lockout persists across restarts and doubles", lambda: _lockout(work / "pin"))


def _pin_refused(pin: str) -> str | None:
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        import unittest.mock

        stack.enter_context(unittest.mock.patch("sys.stdin", io.StringIO(pin + "\n")))
        return _exit2(_main(["config", "pin"]), "pin")


def _lockout(folder: Path) -> str | None:
    from kiosk.app.operator import PinGate, hash_pin, pin_state_file

    t = [1000.0]
    wall = [5_000_000.0]
    pin_hash = hash_pin("482916")
    state = pin_state_file(folder)

    def gate() -> PinGate:
        return PinGate(pin_hash, 3, 60.0, lambda: t[0], state_file=state, wall=lambda: wall[0])

    g = gate()
    for _ in range(3):
        g.try_pin("000000")
    first = g.locked_for()
    g2 = gate()  # a restart (plug pulled)
    if not (first == 60.0 and g2.locked_for() > 59.0 and not g2.try_pin("482916")):
        return f"after restart: locked for {g2.locked_for()}"
    if state.stat().st_mode & 0o077:
        return f"state file mode {oct(state.stat().st_mode & 0o777)}"
    t[0] += 61
    wall[0] += 61
    for _ in range(3):
        g2.try_pin("000000")
    if g2.locked_for() != 120.0:
        return f"second lock {g2.locked_for()} s, not doubled"
    t[0] += 121
    wall[0] += 121
    if not g2.try_pin("482916") or gate().lockouts != 0:
        return "the right PIN does not reset the count"
    return None


# --- decoder ----------------------------------------------------------------------------------------------


def decoder_cases(cases: Cases, work: Path) -> None:
    """Decompression bombs, formats outside the allow-list, odd shapes: exit 2, one line, in four commands."""
    marker = work / "eps-wrote-this"
    eps = (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n"
        + f"/f ({marker}) (w) file def f (owned) writestring f closefile\n".encode()
        + b"newpath 0 0 moveto 64 64 lineto stroke showpage\n%%EOF\n"
    )
    pdf = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
           b"trailer<</Root 1 0 R>>\n%%EOF\n")  # fmt: skip
    gif = io.BytesIO()
    Image.new("RGB", (64, 64)).save(gif, "GIF")
    bmp = io.BytesIO()
    Image.new("RGB", (64, 64)).save(bmp, "BMP")
    jpeg = _jpeg(size=(640, 800))
    files = {
        "EPS that writes a file": ("x.eps", eps),
        "PDF": ("x.pdf", pdf),
        "GIF": ("x.gif", gif.getvalue()),
        "BMP": ("x.bmp", bmp.getvalue()),
        "149 MP 16-bit RGBA PNG": ("big16.png", _png_header_only(12207, 12207, 16, 6)),
        "400 MP PNG": ("huge.png", _png_header_only(20000, 20000, 8, 2)),
        "1,000,000×100 PNG": ("wide.png", _png_header_only(1_000_000, 100, 8, 0)),
        "100×1,000,000 PNG": ("tall.png", _png_header_only(100, 1_000_000, 8, 0, rows=1)),
        "truncated JPEG": ("cut.jpg", jpeg[: len(jpeg) // 2]),
        "garbage bytes": ("noise.jpg", os.urandom(4096)),
        "PNG with a broken header": ("broken.png", b"\x89PNG\r\n\x1a\n" + os.urandom(64)),
        "empty file": ("empty.jpg", b""),
        "16×16 image": ("tiny.png", _png_header_only(16, 16, 8, 2, rows=16)),
    }
    cfg = work / "decoder.toml"
    cfg.write_text(
        f'data_dir = "{work / "decoder-data"}"\n[delivery.download]\nport = 8099\n[ui]\npin_hash = "{PIN_HASH}"\n'
    )
    out = work / "out.jpg"
    for name, (fname, data) in files.items():
        path = work / fname
        path.write_bytes(data)
        for command in (["headshot", str(path), "-o", str(out)], ["generate", str(path), "-o", str(out)],
                        ["share", str(path)], ["print", str(path), "--no-wait"]):  # fmt: skip
            # the one line must be about this file (not, say, a printer that is missing)
            cases.run(f"decoder: {name} → kiosk {command[0]}",
                      partial(_exit2_of, ["--config", str(cfg), *command], str(path)))
    # The EPS in a real process: exit 2, one line, and Ghostscript never ran (the file it asks for is absent).
    eps_path = work / "x.eps"
    share_eps = ["--config", str(cfg), "share", str(eps_path)]
    cases.run("decoder: EPS in a real `kiosk share` process", lambda: _exit2(_cli(share_eps), "x.eps"))
    cases.run("decoder: the EPS never wrote its file", lambda: None if not marker.exists() else "Ghostscript ran")


# --- serial link ----------------------------------------------------------------------------------------


def serial_cases(cases: Cases) -> None:
    """Garbage on the serial line: the decoders never raise or stall; the link survives it."""
    from firmware_bridge import codec
    from firmware_bridge.errors import FrameError

    def decoder_garbage() -> str | None:
        rng = random.Random(15)
        for _ in range(300):
            d = codec.Decoder()
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 400)))
            frames = d.feed(data)
            for _ in range(codec.MAX_FRAME + 1):
                if not d.pending:
                    break
                frames += d.expire()
            if d.pending:
                return "decoder stalled on garbage"
            for f in frames:
                with contextlib.suppress(FrameError):
                    codec.decode_message(f)
        return None

    cases.run("serial: random bytes into the host decoder", decoder_garbage)

    def link_garbage() -> str | None:
        from firmware_bridge import sim
        from firmware_bridge.client import BridgeClient

        url = f"sim://hostile-{os.getpid()}"
        board = sim.start(url)
        with BridgeClient(url) as bridge:
            bridge.wait_ready(timeout_s=10)
            board.inject_tx(b"\xa5\x5a\x30\x01\x90" + bytes(range(256)) + os.urandom(512))
            board.inject_rx(b"\xa5\x5a\x07noise\xa5" + os.urandom(512))
            bridge.set_light(0, 5, max_ms=1000)
            level = bridge.status().levels[0]
        return None if level == 5 else f"level {level} after garbage"

    cases.run("serial: garbage both ways on a live link", link_garbage)


def main() -> None:
    """Run every case and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="leave out the connection floods")
    parser.add_argument(
        "--memory", action="store_true", help="also measure `kiosk headshot`'s peak memory on a real 149 MP 16-bit PNG"
    )
    args = parser.parse_args()
    start = time.monotonic()
    cases = Cases()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        work = Path(tmp)
        os.environ["KIOSK_DATA_DIR"] = str(work / "data")
        os.environ.pop("KIOSK_CONFIG", None)
        server_cases(cases, work, args.quick)
        config_cases(cases, work)
        decoder_cases(cases, work)
        serial_cases(cases)
        if args.memory:
            result["memory"] = _memory(work)
    result = {
        "benchmark": "hostile",
        "tried": cases.tried,
        "handled": cases.tried - len(cases.failed),
        "failed": cases.failed,
        "seconds": round(time.monotonic() - start, 1),
        **result,
    }
    print(json.dumps(result, indent=1, ensure_ascii=False))  # reason: the benchmark's output


def _memory(work: Path) -> dict[str, object]:
    """Peak RSS of `kiosk headshot` refusing a real, complete 149 MP 16-bit RGBA PNG (GNU time-free)."""
    big = big_png_16bit_rgba(work / "real-149mp-16bit-rgba.png")
    code = (
        "import resource, sys; from kiosk.cli import main; "
        f"rc = main(['headshot', {str(big)!r}, '-o', {str(work / 'o.jpg')!r}]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rc, file=sys.stdout)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    kib, rc = done.stdout.split()[-2:]
    return {"case": "149 MP 16-bit RGBA PNG, kiosk headshot", "file_bytes": big.stat().st_size,
            "peak_rss_mb": round(int(kib) / 1024, 1), "exit": int(rc),
            "stderr": done.stderr.strip()[-200:]}  # fmt: skip


if __name__ == "__main__":
    main()
