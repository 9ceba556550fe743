"""No e-mail addresses, names or typed ids in the logs; no guest file left after the session and a wipe."""

from __future__ import annotations

import io
import logging
import socket
import time
from pathlib import Path

import pytest
from PIL import Image

from kiosk.delivery.config import DownloadConfig, HandoffConfig, MailConfig
from kiosk.delivery.download import DownloadServer
from kiosk.delivery.handoff import HandoffOutbox
from kiosk.delivery.mail import MailOutbox
from kiosk.privacy import (
    forget_sensitive,
    install_redaction,
    pseudonym,
    redact,
    register_sensitive,
    uninstall_redaction,
)
from kiosk.session.store import SessionStore, Step

ADDRESS = "grace.hopper@navy.example.mil"
NAME = "Grace Brewster Hopper"
IDENT = "E-90210"


def test_redact() -> None:
    assert redact(f"to {ADDRESS}, cc a.b+c@x.io") == "to [email], cc [email]"
    register_sensitive(NAME)
    try:
        assert redact(f"hello {NAME}!") == "hello [redacted]!"
    finally:
        forget_sensitive(NAME)
    assert redact(f"hello {NAME}!") == f"hello {NAME}!"
    assert pseudonym(ADDRESS) == pseudonym(ADDRESS.upper()) and ADDRESS not in pseudonym(ADDRESS)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((200, 260), 50).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def test_a_whole_session_leaves_no_personal_data_in_logs_or_on_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    controller_mod = pytest.importorskip(
        "aiosmtpd.controller", reason="aiosmtpd (dev extra) runs the SMTP server"
    )
    install_redaction()
    request.addfinalizer(uninstall_redaction)  # leave other tests' log records as they were
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Sink:
        def __init__(self) -> None:
            self.got: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):
            self.got.append(envelope.content)
            return "250 OK"

    sink = Sink()
    controller = controller_mod.Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()  # aiosmtpd logs the envelope (the address) at debug level: it must come out redacted
    store = SessionStore(tmp_path / "data")
    mail = MailOutbox(store, MailConfig(enabled=True, host="127.0.0.1", port=port, security="none"))
    hand = HandoffOutbox(store, HandoffConfig(target="folder", folder=tmp_path / "hr"))
    server = DownloadServer(store, DownloadConfig(bind=["127.0.0.1"], port=0)).start()
    log = logging.getLogger("kiosk.test")
    try:
        s = store.create()
        register_sensitive(NAME, IDENT)
        store.advance(s.id, Step.CONSENTED)
        photo = jpeg()
        store.write_file(s.id, "capture", "shot-1.jpg", photo)
        store.advance(s.id, Step.CAPTURED)
        store.write_file(s.id, "result", "studio-grey.jpg", photo)
        store.write_file(s.id, "thumb", "studio-grey.jpg", photo)
        store.advance(s.id, Step.PROCESSED)
        server.publish(s.id, {"studio-grey.jpg": photo})
        mail.queue(s.id, ADDRESS, {"studio-grey.jpg": photo})
        hand.queue(s.id, IDENT, photo)
        log.info("guest %s <%s> typed id %s", NAME, ADDRESS, IDENT)  # a careless line elsewhere in the code
        try:
            raise ValueError(f"refused recipient {ADDRESS}")
        except ValueError:
            log.exception("a failure carrying the address")
        assert mail.send_due() == 1 and hand.send_due() == 1
        store.advance(s.id, Step.DELIVERED)
        forget_sensitive(NAME, IDENT)
        deadline = time.monotonic() + 5
        while not sink.got and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        server.stop()
        controller.stop()
    text = caplog.text + "".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "[email]" in text and "[redacted]" in text  # the careless line was there, scrubbed
    for secret in (ADDRESS, "grace.hopper", NAME, "Hopper", IDENT):
        assert secret not in text, f"{secret!r} leaked into the logs"
    # delivered: only what the live download link pins is left (the result it serves, its thumbnail and
    # record), each with the link's expiry; a wipe leaves no guest file at all
    left = [p for p in (tmp_path / "data" / "sessions").rglob("*") if p.is_file()]
    assert {p.parent.name for p in left} == {"download", "result"}
    assert [p.name for p in left if p.parent.name == "result"] == ["studio-grey.jpg"]
    assert all(f.expires_at is not None for f in store.files(s.id)), "nothing left without an end date"
    store.wipe_all()
    assert [p for p in (tmp_path / "data").rglob("*") if p.is_file() and "sessions" in p.parts] == []
    store.close()
