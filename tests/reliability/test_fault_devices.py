"""Device faults in a running headless kiosk: the camera pulled mid-preview, the microcontroller pulled
during the countdown. Real camera thread (virtual camera's simulated unplug), real bridge client against
the firmware simulator on a pseudo-terminal (its cable pulled: the pty disappears)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk_driver import finish_session, run_until, start_session

from kiosk.session.flow import State
from kiosk.session.journal import Step


def test_camera_unplugged_mid_preview_says_one_moment_and_resumes_the_same_session(
    make_kiosk: Callable[..., tuple[Any, Any]],
) -> None:
    kiosk, clock = make_kiosk()
    c = kiosk.controller
    sid = start_session(c)
    c.camera.camera.unplug()
    assert run_until(c, lambda: c.state is State.ATTENDANT_NEEDED, 20, guest=False), c.state
    assert "camera" in c.flow.causes, "the calm screen says the camera is reconnecting"
    assert "not connected" in c.device_status()["camera"]
    clock.advance(600)  # however long the cable stays out, the screen waits for the camera
    assert run_until(c, lambda: False, 0.5, guest=False) is False
    assert c.state is State.ATTENDANT_NEEDED and c.session is not None and c.session.id == sid
    c.camera.camera.replug()
    assert run_until(c, lambda: c.state is State.FRAMING, 20, guest=False), c.state
    assert c.session is not None and c.session.id == sid, "the guest's session goes on where it was"
    finish_session(c)
    history = [s for s, _ in _history(kiosk, sid)]
    assert Step.CAPTURED in history and Step.DELIVERED in history


def test_bridge_unplugged_during_the_countdown_still_captures_and_reconnects_by_itself(
    make_kiosk: Callable[..., tuple[Any, Any]],
) -> None:
    from firmware_bridge.sim import get_sim

    kiosk, _ = make_kiosk()
    c = kiosk.controller
    sim = get_sim(kiosk.sim_url)
    assert run_until(c, lambda: c.lights.ok, 20, guest=False), c.lights.status()
    sid = start_session(c)
    assert run_until(c, lambda: c.state is State.COUNTDOWN, 30, guest=False), c.state
    sim.unplug()  # the USB cable is pulled while the lights ramp and the lens cue blinks
    assert run_until(c, lambda: c.state is State.REVIEW, 30, stop_at=frozenset({State.REVIEW})), (
        f"the capture still happens (state {c.state}, causes {c.flow.causes})"
    )
    assert c.session is not None and c.session.id == sid
    assert run_until(c, lambda: not c.lights.ok, 20, guest=False), "the link loss is noticed"
    assert "connected" not in c.device_status()["bridge"].split(":", 1)[1] or "link" in c.device_status()["bridge"]
    finish_session(c)
    assert c.flow.counters["failsafe"] == 0, "a lost light never stops a guest"
    sim.replug()
    assert run_until(c, lambda: c.lights.ok, 30, guest=False), f"no reconnect: {c.lights.status()}"
    executed = sim.snapshot().executed
    start_session(c)
    assert run_until(c, lambda: sim.snapshot().executed > executed, 20, guest=False), "lights obey again"
    finish_session(c)


def _history(kiosk: Any, sid: str) -> tuple[tuple[Step, float], ...]:
    rec = kiosk.store.journal.get(sid)
    assert rec is not None, "the session was journaled"
    return rec.history
