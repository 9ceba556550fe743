"""Short soak of the delivery path: 60 sessions through store, download, e-mail and hand-off, no leaks."""

from __future__ import annotations

import http.client
import io
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from kiosk.delivery.config import DownloadConfig, HandoffConfig, MailConfig
from kiosk.delivery.download import DownloadServer
from kiosk.delivery.handoff import HandoffOutbox
from kiosk.delivery.mail import MailOutbox
from kiosk.session.store import SessionStore, Step

SESSIONS = 60


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def settle(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@pytest.mark.slow
def test_short_soak_no_failures_no_fd_or_thread_growth(tmp_path: Path) -> None:
    controller_mod = pytest.importorskip(
        "aiosmtpd.controller", reason="aiosmtpd (dev extra) runs the SMTP server"
    )

    class Sink:
        def __init__(self) -> None:
            self.count = 0

        async def handle_DATA(self, server, session, envelope):
            self.count += 1
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        smtp_port = s.getsockname()[1]
    sink = Sink()
    smtp = controller_mod.Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    store = SessionStore(tmp_path / "data")
    server = DownloadServer(
        store, DownloadConfig(bind=["127.0.0.1"], port=0, max_downloads=1, rate_per_minute=10000)
    ).start()
    mail = MailOutbox(store, MailConfig(enabled=True, host="127.0.0.1", port=smtp_port, security="none"))
    hand = HandoffOutbox(store, HandoffConfig(target="folder", folder=tmp_path / "hr"))
    out = io.BytesIO()
    Image.effect_noise((300, 400), 40).convert("RGB").save(out, "JPEG")
    photo = out.getvalue()
    fds = threads = 0
    try:
        for i in range(SESSIONS):
            if i == 10:  # after warm-up: every lazy thread and socket exists by now
                fds, threads = open_fds(), threading.active_count()
            sess = store.create()
            store.advance(sess.id, Step.CONSENTED)
            store.write_file(sess.id, "capture", "shot.jpg", photo)
            store.advance(sess.id, Step.CAPTURED)
            store.write_file(sess.id, "result", "studio-grey.jpg", photo)
            store.advance(sess.id, Step.PROCESSED)
            _, url = server.publish(sess.id, {"studio-grey.jpg": photo})
            token = url.rsplit("/", 1)[1]
            mail.queue(sess.id, f"guest{i}@example.org", {"studio-grey.jpg": photo})
            hand.queue(sess.id, f"E-{i:05d}", photo)
            store.advance(sess.id, Step.DELIVERED)
            assert get(server.port, f"/d/{token}")[0] == 200
            assert get(server.port, f"/d/{token}/f/studio-grey.jpg") == (200, photo)
            assert mail.send_due() == 1 and hand.send_due() == 1
            assert store.sessions() == [], f"session {i} was not deleted after delivery"
        assert settle(lambda: open_fds() <= fds), f"descriptors grew: {fds} -> {open_fds()}"
        assert settle(lambda: threading.active_count() <= threads), (
            f"threads grew: {threads} -> {threading.active_count()}"
        )
    finally:
        server.stop()
        smtp.stop()
        store.close()
    assert sink.count == SESSIONS
    assert len(os.listdir(tmp_path / "hr")) == SESSIONS
    assert not [p for p in (tmp_path / "data" / "sessions").rglob("*") if p.is_file()]
