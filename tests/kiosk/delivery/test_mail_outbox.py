"""E-mail outbox against a real local SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import email.policy
import io
import socket
import time
from pathlib import Path

import pytest
from PIL import Image

aiosmtpd = pytest.importorskip(
    "aiosmtpd.controller", reason="aiosmtpd (dev extra) is needed for the SMTP tests"
)

from kiosk.delivery.config import MailConfig  # noqa: E402
from kiosk.delivery.mail import MailOutbox, valid_address  # noqa: E402
from kiosk.errors import InputError  # noqa: E402
from kiosk.session.store import SessionStore, Step  # noqa: E402

ADDRESS = "ada.lovelace@example.org"


class Sink:
    def __init__(self, refuse: str | None = None) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((300, 400), 60).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def wait_for(cond, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@pytest.fixture
def cfg() -> MailConfig:
    return MailConfig(
        enabled=True,
        host="127.0.0.1",
        port=free_port(),
        security="none",
        retry_initial_s=0.05,
        retry_max_s=0.2,
        timeout_s=5,
    )


def test_address_validation() -> None:
    assert valid_address(ADDRESS)
    for bad in [
        "",
        "a",
        "a@b",
        "a@@b.org",
        "a b@c.org",
        "a@b.org\r\nBcc: x@y.org",
        "a..b@c.org",
        "x" * 300 + "@a.org",
    ]:
        assert not valid_address(bad), bad


def test_queued_while_down_then_delivered(tmp_path: Path, cfg: MailConfig) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    photo = jpeg()
    store.write_file(s.id, "result", "headshot.jpg", photo)
    outbox = MailOutbox(store, cfg)
    name = outbox.queue(s.id, ADDRESS, {"headshot.jpg": photo})
    store.advance(s.id, Step.DELIVERED)  # the guest leaves; only the outbox copy remains
    assert [f.name for f in store.files(s.id)] == [name]
    # server down: nothing sent, still queued, and it survives a restart of the kiosk
    assert outbox.send_due() == 0
    assert len(outbox.pending()) == 1
    store.close()
    store = SessionStore(tmp_path)
    outbox = MailOutbox(store, cfg)
    sink = Sink()
    controller = aiosmtpd.Controller(sink, hostname="127.0.0.1", port=cfg.port)
    controller.start()
    try:
        outbox.start()
        assert wait_for(lambda: sink.messages), "message never delivered"
        assert wait_for(lambda: not outbox.pending())
    finally:
        outbox.stop()
        controller.stop()
    (rcpts, raw) = sink.messages[0]
    assert rcpts == [ADDRESS]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "headshot.jpg" and att.get_content_type() == "image/jpeg"
    assert att.get_content() == photo
    assert len(sink.messages) == 1
    # delivered and sent: nothing of the guest is left
    assert [p for p in (tmp_path / "sessions").rglob("*") if p.is_file()] == []


def test_permanent_refusal_drops_the_message(tmp_path: Path, cfg: MailConfig) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    outbox = MailOutbox(store, cfg)
    outbox.queue(s.id, ADDRESS, {"a.jpg": jpeg()})
    controller = aiosmtpd.Controller(Sink(refuse="550 no such user"), hostname="127.0.0.1", port=cfg.port)
    controller.start()
    try:
        assert outbox.send_due() == 0
    finally:
        controller.stop()
    assert outbox.pending() == []
    assert store.get(s.id).meta["mail"] == "failed"


def test_transient_refusal_is_retried(tmp_path: Path, cfg: MailConfig) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    outbox = MailOutbox(store, cfg)
    outbox.queue(s.id, ADDRESS, {"a.jpg": jpeg()})
    sink = Sink(refuse="451 try again later")
    controller = aiosmtpd.Controller(sink, hostname="127.0.0.1", port=cfg.port)
    controller.start()
    try:
        assert outbox.send_due() == 0
        assert len(outbox.pending()) == 1
        sink.refuse = None
        assert wait_for(lambda: outbox.send_due() == 1)
    finally:
        controller.stop()
    assert outbox.pending() == [] and store.get(s.id).meta["mail"] == "sent"


def test_bad_input_is_refused(tmp_path: Path, cfg: MailConfig) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    outbox = MailOutbox(store, cfg)
    with pytest.raises(InputError):
        outbox.queue(s.id, "not-an-address", {"a.jpg": b"x"})
    with pytest.raises(InputError):
        outbox.queue(s.id, ADDRESS, {"../a.jpg": b"x"})
    with pytest.raises(InputError):
        outbox.queue(s.id, ADDRESS, {"a.exe": b"x"})
    small = MailConfig(max_attachment_mb=0.001)
    with pytest.raises(InputError):
        MailOutbox(store, small).queue(s.id, ADDRESS, {"a.jpg": b"x" * 5000})
    assert outbox.pending() == []


def test_retry_state_is_forgotten_when_retention_removes_the_message(tmp_path: Path, cfg: MailConfig) -> None:
    store = SessionStore(tmp_path)
    outbox = MailOutbox(store, cfg)
    outbox.queue(store.create().id, ADDRESS, {"a.jpg": jpeg()})
    assert outbox.send_due() == 0  # server down
    assert len(outbox._retry) == 1
    store.wipe_all()
    assert outbox.send_due() == 0
    assert outbox._retry == {}


def test_the_message_speaks_the_guests_language_unless_the_operator_wrote_it(tmp_path: Path, cfg: MailConfig) -> None:
    from kiosk.i18n import Texts

    store = SessionStore(tmp_path)
    texts = Texts(["en", "de", "zh"])

    def queued(outbox: MailOutbox, language: str) -> email.message.EmailMessage:
        s = store.create()
        name = outbox.queue(s.id, ADDRESS, {"a.jpg": jpeg()}, language)
        (f,) = [f for f in store.files(s.id, "mail") if f.name == name]
        return email.message_from_bytes(f.path.read_bytes(), policy=email.policy.default)

    bundled = MailOutbox(store, cfg, texts=texts)
    german = queued(bundled, "de")
    assert german["Subject"] == "Ihr Porträt" and "Porträt vom Fotokiosk" in german.get_body().get_content()
    chinese = queued(bundled, "zh")
    assert chinese["Subject"] == "您的头像照" and "头像照" in chinese.get_body().get_content()
    english = queued(MailOutbox(store, cfg), "fr")  # no texts given: English
    assert english["Subject"] == "Your headshot"
    own = MailOutbox(store, cfg.model_copy(update={"subject": "Spring gala 2026", "body": "See you next year."}),
                     texts=texts)
    written = queued(own, "de")
    assert written["Subject"] == "Spring gala 2026" and written.get_body().get_content().strip() == "See you next year."
