"""Station modes in the real Kivy window under Xvfb, by touch, with screenshots: the HR id typed on the on-screen
keyboard (a wrong one first), a badge QR held up to the camera, the hand-off to a local webhook that is down
and then back (the delivery screen and the operator's status follow); the event's e-mail step with its opt-in
unticked, a wrong address, and the photo delivered to a real SMTP server (aiosmtpd) on loopback.

The app is the session's one Kivy app (tests/kiosk/ui/conftest.py); each test puts the mode's station in place
between sessions and the walk-in one back afterwards.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kiosk.app.modes import with_mode
from kiosk.app.outboxes import Outboxes
from kiosk.app.station import EMAIL_FILE, IDENTITY_FILE, Station
from kiosk.config import KioskConfig
from kiosk.delivery.ports import OfflineDownloads
from kiosk.session.flow import State
from kiosk.status import Level
from tests.kiosk.delivery.test_handoff_export import Hook, free_port

pytestmark = pytest.mark.ui


@contextmanager
def station(ui: Any, mode: str, changes: dict[str, Any]) -> Iterator[Station]:
    """The mode's station (real outboxes) in place of the app's walk-in one, for the test's sessions."""
    c = ui.c
    ui.to_attract()
    base = KioskConfig(data_dir=ui.data, ui=c.ui)
    cfg = with_mode(base, mode, changes)
    outboxes = Outboxes.from_config(cfg, c.store).start()
    new = Station.from_config(cfg, c.store, outboxes, c.camera, c.clock)
    old, downloads = c.station, c.downloads
    old.detach()
    c.station = new
    new.attach(c.flow)
    if not cfg.delivery.download.enabled:  # the mode's preset: no phone QR (assemble would build none)
        c.downloads = OfflineDownloads()
    try:
        yield new
    finally:
        ui.camera.hold_up(None)
        ui.to_attract()
        new.detach()
        outboxes.stop()
        c.station, c.downloads = old, downloads
        old.attach(c.flow)


def _start(ui: Any) -> None:
    ui.touch_at(540, 900)
    ui.wait_state("language")
    ui.tap("language", "en")
    ui.wait_state("consent")
    ui.tap("agree")


def _type(ui: Any, text: str) -> None:
    for ch in text:
        ui.tap("key", ch)


def _typed(ui: Any, name: str) -> str:
    sess = ui.c.session
    assert sess is not None
    return ui.c.store.read_file(sess.id, "contact", name).decode()


def _shows(ui: Any, st: Station, line: str, shot: str, texts: list[str]) -> None:
    """Wait for the delivery screen's hand-over line (the outbox works meanwhile), then photograph it."""
    assert ui.until(lambda: line in str(st.where()), 30), st.where()
    ui.pump(40)  # the delivery screen re-reads its lines twice a second
    ui.shot(shot, texts)


def _photo_session(ui: Any) -> None:
    """From framing to the delivery screen, by touch."""
    ui.wait_state("review", 60)
    ui.tap("approve")
    ui.wait_state("style")
    ui.tap("style", "studio-grey")
    ui.wait_state("delivery", 120)


def test_hr_id_by_keyboard_and_badge_then_handoff_down_and_back(ui: Any, tmp_path: Any) -> None:
    from kiosk.demo_modes import badge_frame

    c = ui.c
    port = free_port()
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    changes = {"delivery": {"handoff": {
        "target": "webhook", "webhook_url": f"http://127.0.0.1:{port}/hr", "webhook_token_file": str(token),
        "identity_pattern": r"^E-\d{5}$", "format": "portrait", "retry_initial_s": 0.2, "retry_max_s": 0.5}}}
    hook: Hook | None = None
    with station(ui, "hr-onboarding", changes) as st:
        assert st.scanner is not None
        # 1. A badge QR held up to the camera.
        _start(ui)
        ui.wait_state("identity")
        ui.shot("station-01-id-step", ["Your employee id", "hold the QR code", "Continue"])
        assert not ui.button("identity").enabled, "nothing typed: Continue waits"
        ui.camera.hold_up(badge_frame("E-20517"))
        assert ui.until(lambda: c.state is State.FRAMING, 20), f"badge not read ({c.state.value}, {st.error})"
        assert _typed(ui, IDENTITY_FILE) == "E-20517"
        ui.camera.hold_up(None)
        ui.tap("cancel")
        ui.wait_state("attract")
        # 2. Typed on the keyboard: a wrong id first, then the right one; the hand-off target is down.
        _start(ui)
        ui.wait_state("identity")
        _type(ui, "E-104")
        ui.tap("identity")
        assert c.state is State.IDENTITY
        ui.shot("station-02-id-wrong", ["E-104", "does not look like the ones we use here"])
        _type(ui, "42")
        assert st.error is None
        ui.tap("identity")
        ui.wait_state("framing")
        assert _typed(ui, IDENTITY_FILE) == "E-10442"
        _photo_session(ui)
        _shows(ui, st, "handoff_queued", "station-03-handoff-waiting", ["On its way to HR under id E-10442",
                                                                         "not available"])
        assert ui.until(lambda: c.device_status()["hand-off"].level is Level.WARN, 10), c.device_status()
        # 3. The HR system comes back: the queued photo goes, the screen and the status say so.
        hook = Hook(port)
        try:
            _shows(ui, st, "handoff_sent", "station-04-handoff-sent", ["Sent to HR under id E-10442"])
            status = c.device_status()["hand-off"]
            assert status.level is Level.OK and "1 sent" in status, status
        finally:
            hook.close()
        headers, body = hook.received[-1]
        assert headers["x-kiosk-identity"] == "E-10442" and headers["authorization"] == "Bearer s3cret"
        assert body.startswith(b"\xff\xd8") and len(headers["idempotency-key"]) == 32
    assert not [f for f in c.store.files_of_kind("handoff")], "sent: nothing of the guest left in the store"


def test_event_email_step_optin_unticked_wrong_address_then_delivered(ui: Any) -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (dev extra) runs the SMTP server")
    from tests.kiosk.delivery.test_mail_outbox import Sink

    c = ui.c
    sink = Sink()
    port = free_port()
    server = aiosmtpd.Controller(sink, hostname="127.0.0.1", port=port)
    server.start()
    changes = {"delivery": {"mail": {"host": "127.0.0.1", "port": port, "security": "none", "retry_initial_s": 0.2}},
               "station": {"lead_list": True}}
    try:
        with station(ui, "event", changes) as st:
            ui.touch_at(540, 900)
            ui.wait_state("language")
            ui.tap("language", "en")
            ui.wait_state("consent")
            ui.shot("station-05-event-consent", ["only if you tick the box"])
            ui.tap("agree")
            ui.wait_state("email")
            screen = ui.app.current_screen()
            assert st.opted_in is False and screen.tick.ticked is False, "the opt-in starts unticked"
            ui.shot("station-06-email-step", ["Get your photo by e-mail", "may e-mail me about it", "No e-mail"])
            _type(ui, "ada@@example")
            ui.tap("key", ".org")
            ui.tap("email")
            assert c.state is State.EMAIL
            ui.shot("station-07-email-wrong", ["ada@@example.org", "does not look right"])
            for _ in range(len("@example.org")):
                ui.tap("key", "back")
            _type(ui, "example")
            ui.tap("key", ".org")
            assert st.error is None, "typing clears the complaint"
            ui.touch_at(*screen.tick.to_window(*screen.tick.center))
            assert st.opted_in is True
            ui.pump(3)
            assert screen.tick.ticked
            ui.shot("station-08-email-optin", ["ada@example.org"])
            ui.tap("email")
            ui.wait_state("framing")
            assert _typed(ui, EMAIL_FILE) == "ada@example.org"
            _photo_session(ui)
            _shows(ui, st, "mail_sent", "station-09-mailed", ["E-mailed to a•••@example.org"])
            leads = [f for f in c.store.files_of_kind("lead")]
            assert len(leads) == 1 and b",ada@example.org,1" in leads[0].path.read_bytes()
            for f in leads:  # the test's lead row: gone like the rest of the test's guest data
                c.store.delete(f.session_id)
    finally:
        server.stop()
    assert len(sink.messages) == 1
    rcpts, raw = sink.messages[0]
    msg = email.message_from_bytes(raw, policy=email.policy.SMTP)
    assert rcpts == ["ada@example.org"] and [p.get_filename() for p in msg.iter_attachments()] == [
        "portrait-studio-grey.jpg"]
