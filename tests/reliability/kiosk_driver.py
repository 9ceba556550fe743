"""Drive a headless kiosk (bench.soak.build_kiosk: real controller, camera thread, framing, bridge simulator,
pipeline, journal, download server, CUPS) through a session, state by state, with an offset clock that the
fault tests advance instead of sleeping through time-outs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.session.flow import State

GUEST_TAPS: dict[State, tuple[str, str]] = {
    State.LANGUAGE: ("language", "en"),
    State.CONSENT: ("agree", ""),
    State.REVIEW: ("approve", ""),
    State.STYLE: ("style", "studio-grey"),
    State.THANKS: ("finish", ""),
}


def run_until(
    c: Any,
    cond: Callable[[], bool],
    timeout_s: float = 60.0,
    guest: bool = True,
    stop_at: frozenset[State] = frozenset(),
) -> bool:
    """Tick the controller (every 20 ms) until cond() holds; the guest taps through screens when `guest`.

    Args:
        c: the KioskController.
        cond: the condition waited for.
        timeout_s: deadline, s.
        guest: tap what a guest taps on each screen (language, agree, approve, style, finish).
        stop_at: states on which the guest does nothing (the test acts there).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        c.tick()
        if cond():
            return True
        st = c.state
        if guest and st not in stop_at and st in GUEST_TAPS:
            c.tap(*GUEST_TAPS[st])
        time.sleep(0.02)  # the UI clock's pace
    return False


def start_session(c: Any, timeout_s: float = 30.0) -> str:
    """From the attract screen to live framing; the new session's id."""
    assert run_until(c, lambda: c.camera.connected, timeout_s, guest=False), "camera did not start"
    assert c.state is State.ATTRACT, c.state
    c.tap("start")
    assert run_until(c, lambda: c.state is State.FRAMING, timeout_s), f"stuck in {c.state}"
    assert c.session is not None
    return str(c.session.id)


def finish_session(c: Any, timeout_s: float = 90.0) -> None:
    """From wherever the guest is to the delivery screen, then done → thanks → attract."""
    assert run_until(c, lambda: c.state is State.DELIVERY, timeout_s), f"stuck in {c.state} ({c.flow.causes})"
    c.tap("done")
    assert run_until(c, lambda: c.state is State.ATTRACT, 30), f"stuck in {c.state}"


def files_under(folder: Path) -> list[Path]:
    """Every regular file below folder (retention checks)."""
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
