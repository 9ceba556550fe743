"""attach_to_app on a real headless kiosk: READY after start-up, WATCHDOG from the app's clock while the
controller's threads live, none once one dies; the sessions are journaled by the store; STOPPING at the end."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk_driver import finish_session, start_session

from kiosk.app.appliance import Notifier, attach_to_app
from kiosk.session.journal import Step


class FakeApp:
    """The two events attach_to_app binds, fired by the test."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[..., Any]] = {}

    def bind(self, **events: Callable[..., Any]) -> None:
        self.handlers.update(events)


class Scheduler:
    """Kivy's Clock API, run by hand: schedule_once / schedule_interval."""

    def __init__(self) -> None:
        self.once: list[Callable[[float], Any]] = []
        self.every: list[Callable[[float], Any]] = []

    def schedule_once(self, fn: Callable[[float], Any], _timeout: float) -> None:
        self.once.append(fn)

    def schedule_interval(self, fn: Callable[[float], Any], _interval: float) -> None:
        self.every.append(fn)

    def frame(self) -> None:
        once, self.once = self.once, []
        for fn in once + self.every:
            fn(0.0)


def messages(sock: socket.socket) -> list[str]:
    out = []
    sock.setblocking(False)
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_ready_watchdog_and_journal_on_a_running_kiosk(
    make_kiosk: Callable[..., tuple[Any, Any]], tmp_path: Path
) -> None:
    kiosk, _ = make_kiosk()
    c = kiosk.controller
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        notifier = Notifier(str(tmp_path / "notify"), watchdog_usec=1)  # ping on every beat
        app, clock = FakeApp(), Scheduler()
        appliance = attach_to_app(app, c, kiosk.cfg, scheduler=clock, notifier=notifier, file_log=False)
        clock.frame()
        assert messages(systemd) == [], "nothing before the app has started"
        app.handlers["on_start"]()
        clock.frame()
        sent = messages(systemd)
        assert sent[0].startswith("READY=1\nSTATUS=attract") and "WATCHDOG=1" in sent
        sid = start_session(c)
        finish_session(c)
        rec = kiosk.store.journal.get(sid)
        assert rec is not None and Step.CAPTURED in [s for s, _ in rec.history]
        # Delivered: everything but the phone-download copy (kept until its link expires) is gone.
        assert rec.step in (Step.DELIVERED, Step.DELETED)
        assert {f.kind for f in kiosk.store.files(sid)} <= {"download", "result"}, "only what a live link pins"
        assert all(f.expires_at is not None for f in kiosk.store.files(sid))
        clock.frame()
        assert "WATCHDOG=1" in messages(systemd)
        c.framing.stop()  # the framing thread dies: the kiosk is no longer healthy
        clock.frame()
        clock.frame()
        assert "WATCHDOG=1" not in messages(systemd) and appliance.watchdog.withheld >= 2
        assert appliance.watchdog.last_failure == "framing thread alive"
        app.handlers["on_stop"]()
        assert any(m.startswith("STOPPING=1") for m in messages(systemd))
