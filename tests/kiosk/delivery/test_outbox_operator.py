"""Outboxes that tell the operator, against real loopback servers: a webhook that refuses the kiosk (401/403)
and one that fails then takes the photo (same idempotency key on every retry), an SFTP server (paramiko) with
an unknown key, an SMTP server (aiosmtpd) without STARTTLS; items that expire unsent are recorded; and
`kiosk doctor` tries each target the same way.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kiosk.commands.doctor import FAIL, OK, WARN, check_handoff, check_mail
from kiosk.config import KioskConfig
from kiosk.delivery.config import DeliveryConfig, HandoffConfig, MailConfig
from kiosk.delivery.handoff import HandoffOutbox
from kiosk.delivery.mail import MailOutbox
from kiosk.session.retention import RetentionConfig
from kiosk.session.store import SessionStore
from kiosk.status import Level
from tests.kiosk.delivery.test_handoff_export import Hook as _Hook
from tests.kiosk.delivery.test_handoff_export import SFTPServer, _sftp_cfg, free_port, jpeg, keys  # noqa: F401  # reason: keys is a fixture

aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (dev extra) is needed for the SMTP tests")
from tests.kiosk.delivery.test_mail_outbox import Sink  # noqa: E402


def _webhook(tmp_path: Path, port: int, token: str = "s3cret") -> HandoffConfig:
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    return HandoffConfig(target="webhook", webhook_url=f"http://127.0.0.1:{port}/hr",
                         webhook_token_file=tmp_path / "token", retry_initial_s=0.05, retry_max_s=0.3, timeout_s=5)


class Hook(_Hook):
    """The local webhook, answering HEAD (the doctor's probe) with the status too."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        hook = self
        handler = self.server.RequestHandlerClass

        def do_head(req) -> None:  # http.server's handler method
            hook.received.append(({k.lower(): v for k, v in req.headers.items()}, b""))
            req.send_response(hook.status)
            req.send_header("Content-Length", "0")
            req.end_headers()

        handler.do_HEAD = do_head


def test_webhook_401_needs_the_operator_then_sends_once_fixed(tmp_path: Path) -> None:
    port = free_port()
    store = SessionStore(tmp_path / "data")
    out = HandoffOutbox(store, _webhook(tmp_path, port))
    s = store.create()
    photo = jpeg()
    out.queue(s.id, "E-10442", photo)
    hook = Hook(port)
    try:
        hook.status = 401
        assert out.send_due() == 0
        assert len(hook.received) == 1
        assert store.get(s.id).meta["handoff"] == "needs operator"
        status = out.status()
        assert status.level is Level.FAIL and "1 need operator" in status and "401" in status
        assert status.fix is not None and "[delivery.handoff]" in status.fix
        assert out.send_due() == 0 and len(hook.received) == 1, "held: not retried at the transient pace"
        assert len(out.pending()) == 1, "held, not dropped: the photo waits for the fix"
        hook.status = 201  # the HR system's administrator restored the kiosk's token
        deadline = time.monotonic() + 10
        while out.send_due() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # the held item is tried again after retry_max_s
    finally:
        hook.close()
    assert out.pending() == []
    assert hook.received[-1][1] == photo
    assert out.status().level is Level.OK and "1 sent" in out.status()


def test_retry_sending_tries_held_items_at_once(tmp_path: Path) -> None:
    from kiosk.app.outboxes import Outboxes

    port = free_port()
    store = SessionStore(tmp_path / "data")
    cfg = _webhook(tmp_path, port).model_copy(update={"retry_max_s": 3600.0})  # held for an hour
    boxes = Outboxes(store, handoff=HandoffOutbox(store, cfg))
    out = boxes.handoff
    assert out is not None
    hook = Hook(port)
    try:
        hook.status = 403
        sid = boxes.export("E-10442", jpeg())
        assert out.send_due() == 0 and out.status().level is Level.FAIL
        assert "Retry sending" in (out.status().fix or "")
        hook.status = 201  # the HR system's administrator let the kiosk in again
        assert out.send_due() == 0 and len(hook.received) == 1, "held: not tried before retry_max_s"
        assert boxes.retry_now() == "retrying 1 queued item(s) now"
        assert out.send_due() == 1 and len(hook.received) == 2
    finally:
        hook.close()
    assert boxes.outcome(sid, "handoff") == "sent" and out.status().level is Level.OK
    assert Outboxes(store).retry_now() == "no e-mail or hand-off is configured"


def test_webhook_retries_carry_one_idempotency_key(tmp_path: Path) -> None:
    port = free_port()
    store = SessionStore(tmp_path / "data")
    out = HandoffOutbox(store, _webhook(tmp_path, port))
    a, b = store.create(), store.create()
    out.queue(a.id, "E-1", jpeg())
    out.queue(b.id, "E-2", jpeg())
    hook = Hook(port)
    try:
        hook.status = 503  # busy: a transient answer (as a timeout that hid a success would be)
        assert out.send_due() == 0
        assert out.status().level is Level.WARN and "webhook answered 503" in out.status()
        hook.status = 200
        deadline = time.monotonic() + 10
        while out.pending() and time.monotonic() < deadline:
            out.send_due()
            time.sleep(0.02)  # the retry delay (retry_initial_s) passes
    finally:
        hook.close()
    keys_by_id: dict[str, set[str]] = {}
    for headers, _ in hook.received:
        keys_by_id.setdefault(headers["x-kiosk-identity"], set()).add(headers["idempotency-key"])
    assert set(keys_by_id) == {"E-1", "E-2"}
    assert all(len(k) == 1 for k in keys_by_id.values()), keys_by_id
    assert keys_by_id["E-1"] != keys_by_id["E-2"]
    assert len(hook.received) == 4  # each item twice: refused once, then taken


def test_doctor_tries_the_sftp_target(tmp_path: Path, keys) -> None:  # noqa: F811  # reason: the fixture
    host_key, client_key, _ = keys
    port = free_port()
    cfg = _sftp_cfg(tmp_path, port, host_key, client_key)
    kcfg = KioskConfig(data_dir=tmp_path / "data", delivery=DeliveryConfig(handoff=cfg))
    down = check_handoff(kcfg)
    assert down.level == WARN and "not reachable" in down.detail
    remote = tmp_path / "remote"
    (remote / "incoming").mkdir(parents=True)
    server = SFTPServer(remote, port, host_key, client_key)
    try:
        up = check_handoff(kcfg)
    finally:
        server.close()
    assert up.level == OK, up
    assert list((remote / "incoming").iterdir()) == [], "the doctor exports nothing"


def test_doctor_tries_the_webhook_with_its_token(tmp_path: Path) -> None:
    port = free_port()
    kcfg = KioskConfig(data_dir=tmp_path / "data", delivery=DeliveryConfig(handoff=_webhook(tmp_path, port)))
    hook = Hook(port)
    try:
        hook.status = 403
        refused = check_handoff(kcfg)
        hook.status = 405  # an endpoint that only takes POST: reached, the token not refused
        taken = check_handoff(kcfg)
    finally:
        hook.close()
    assert refused.level == FAIL and "403" in refused.detail
    assert taken.level == OK
    assert [h[0]["authorization"] for h in hook.received] == ["Bearer s3cret"] * 2
    assert all(body == b"" for _, body in hook.received), "the probe sends no photo"


def test_smtp_without_starttls_needs_the_operator(tmp_path: Path) -> None:
    sink = Sink()
    port = free_port()
    server = aiosmtpd.Controller(sink, hostname="127.0.0.1", port=port)  # no TLS context: no STARTTLS offered
    mcfg = MailConfig(enabled=True, host="127.0.0.1", port=port, security="starttls", retry_initial_s=0.05,
                      retry_max_s=0.2, timeout_s=5)  # fmt: skip
    store = SessionStore(tmp_path / "data")
    out = MailOutbox(store, mcfg)
    server.start()
    try:
        s = store.create()
        out.queue(s.id, "ada@example.org", {"headshot.jpg": jpeg()})
        assert out.send_due() == 0
        doctor = check_mail(KioskConfig(data_dir=tmp_path / "data", delivery=DeliveryConfig(mail=mcfg)))
        plain = check_mail(KioskConfig(data_dir=tmp_path / "data", delivery=DeliveryConfig(
            mail=mcfg.model_copy(update={"security": "none"}))))
    finally:
        server.stop()
    assert sink.messages == [], "nothing goes out in clear to a starttls relay"
    status = out.status()
    assert status.level is Level.FAIL and "STARTTLS" in status
    assert store.get(s.id).meta["mail"] == "needs operator"
    assert doctor.level == FAIL and "STARTTLS" in doctor.detail
    assert plain.level == OK and "reached" in plain.detail


def test_items_that_expire_unsent_are_recorded(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    store = SessionStore(tmp_path / "data", RetentionConfig(max_age_hours=1), clock=lambda: now[0])
    out = HandoffOutbox(store, _webhook(tmp_path, free_port()))  # nothing listens: every try fails
    s = store.create()
    out.queue(s.id, "E-1", jpeg())
    assert out.send_due() == 0 and len(out.pending()) == 1
    now[0] += 3601  # the hard cap passes while the target is down
    assert store.sweep().sessions == 1
    assert out.send_due() == 0
    status = out.status()
    assert "1 expired unsent" in status and status.level is Level.WARN
    row = store.journal.get(s.id)
    assert row is not None and row.meta["handoff"] == "expired unsent"
    assert not (store.root / s.id).exists()
