"""The delivery screen's ports from the config: a real download server over HTTP, a real private cupsd."""

from __future__ import annotations

import http.client
import io
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cups_harness import CupsServer, running_cups  # reason: test helper beside this file

from kiosk.config import parse_config  # reason: after the helper path is set
from kiosk.delivery.adapters import (  # reason: as above
    DownloadsUnavailable,
    SessionPrinter,
    StoreDownloads,
    make_ports,
)
from kiosk.delivery.ports import NoPrinter, OfflineDownloads, close_delivery  # reason: as above
from kiosk.delivery.printing import JobState  # reason: as above
from kiosk.delivery.reach import auto_address  # reason: as above
from kiosk.session.store import SessionStore  # reason: as above


def jpeg_file(path: Path, color: tuple[int, int, int] = (90, 120, 160)) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (600, 800), color).save(out, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return path


def get(url: str) -> tuple[int, bytes]:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/" + path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.fixture
def no_cups(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point libcups at a socket nobody listens on, so no system CUPS leaks into the test."""
    monkeypatch.setenv("CUPS_SERVER", str(tmp_path / "no-cups.sock"))


def config(tmp_path: Path, **delivery: object) -> object:
    return parse_config({"data_dir": str(tmp_path / "data"), "delivery": delivery})


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[SessionStore]:
    with SessionStore(tmp_path / "data") as st:
        yield st


def test_download_disabled_and_no_printer_give_the_offline_ports(
    tmp_path: Path, no_cups: None, store: SessionStore
) -> None:
    cfg = config(tmp_path, download={"enabled": False})
    downloads, printer = make_ports(cfg, store)
    assert isinstance(downloads, OfflineDownloads) and isinstance(printer, NoPrinter)
    assert downloads.offer("a" * 32, {"portrait": tmp_path / "x.jpg"}) is None
    assert not printer.available() and "no printer" in printer.status()


def test_download_server_serves_the_offered_files_until_withdrawn(
    tmp_path: Path, no_cups: None, store: SessionStore
) -> None:
    cfg = config(tmp_path, download={"port": 0, "keep_after_session": False})
    downloads, printer = make_ports(cfg, store)
    try:
        assert isinstance(downloads, StoreDownloads) and isinstance(printer, NoPrinter)
        sid = store.begin()
        stored = store.write_file(sid, "result", "portrait.jpg", jpeg_file(tmp_path / "p.jpg").read_bytes())
        url = downloads.offer(sid, {"portrait": stored})
        # bind = ["auto"] (the default): the link names the address of the default route's interface
        assert url is not None and url.startswith(f"http://{auto_address()}:")
        status, page = get(url)
        assert status == 200 and b"portrait.jpg" in page
        status, body = get(url + "/f/portrait.jpg")
        assert status == 200 and body.startswith(b"\xff\xd8\xff")
        assert "1 live links" in downloads.status()
        downloads.withdraw(sid)
        assert get(url)[0] in (404, 410)
        assert not store.files_of_kind("download"), "a withdrawn link's thumbnails and state are deleted"
    finally:
        close_delivery(downloads, printer)


def test_a_port_in_use_keeps_the_kiosk_running_without_download(
    tmp_path: Path, no_cups: None, store: SessionStore
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = config(tmp_path, download={"port": port, "bind": ["127.0.0.1"]})
        downloads, _ = make_ports(cfg, store)
    assert isinstance(downloads, DownloadsUnavailable)
    assert downloads.offer("c" * 32, {}) is None
    assert f"127.0.0.1:{port}" in downloads.status() and "delivery.download" in downloads.status()


@pytest.fixture(scope="module")
def cups_server() -> Iterator[CupsServer]:
    with running_cups(["adapt"]) as server:
        yield server


def test_configured_printer_prints_and_renews_the_allowance_per_session(
    cups_server: CupsServer, tmp_path: Path, store: SessionStore
) -> None:
    queue = f"{cups_server.tag}adapt"
    cfg = config(
        tmp_path,
        download={"enabled": False},
        printing={"server": str(cups_server.socket), "printer": queue, "copies_per_session": 1,
                  "poll_interval_ms": 50},
    )
    downloads, printer = make_ports(cfg, store)
    assert isinstance(printer, SessionPrinter)
    try:
        assert printer.available() and printer.paper_left() == 400
        first = jpeg_file(tmp_path / "s1" / "portrait.jpg")
        printer.print_file(first)
        with pytest.raises(Exception, match=r"(?i)cop"):
            printer.print_file(first)  # one copy per session
        printer.print_file(jpeg_file(tmp_path / "s2" / "portrait.jpg"))  # the next guest may print
        assert printer.join(90), "both jobs followed to their end"
        states = [o.state for o in printer.outcomes if not isinstance(o, BaseException)]
        assert states == [JobState.COMPLETED, JobState.COMPLETED], printer.outcomes
        assert printer.paper_left() == 398
        cups_server.lp("cupsdisable", queue)
        try:
            assert not printer.available() and "paused" in printer.status()
        finally:
            cups_server.lp("cupsenable", queue)
        assert printer.available(), "recovers once the queue is enabled again"
    finally:
        close_delivery(downloads, printer)


def test_unreachable_configured_cups_is_a_printer_that_is_not_available(tmp_path: Path, store: SessionStore) -> None:
    cfg = config(tmp_path, download={"enabled": False}, printing={"server": str(tmp_path / "gone.sock")})
    _, printer = make_ports(cfg, store)
    assert isinstance(printer, SessionPrinter)
    assert not printer.available() and "cannot reach CUPS" in printer.status()
