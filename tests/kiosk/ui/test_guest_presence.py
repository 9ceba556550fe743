"""Presence counts as activity, and "Still there?" comes before any timeout (issue 13, item 3; "More time").

The virtual camera plays a portrait: the guest stands in the frame without touching anything. For "nobody
there" the camera is shown a face-free frame (an empty grey wall).
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.session.flow import MORE_TIME_FACTOR, State
from tests.kiosk.ui.guest_helpers import raw_tap, release_framing, to_session_state

pytestmark = pytest.mark.ui


def _advance_with_presence(ui, total_s: float, step_s: float = 8.0) -> None:
    """Move the clock on in steps, letting the framing worker see the face after each (no taps)."""
    c = ui.c
    done = 0.0
    while done < total_s:
        ui.clock.advance(step_s)
        done += step_s
        assert ui.until(lambda: c.flow.idle_for() < step_s / 2, 10), "the face was not counted as presence"


def test_a_framed_guest_is_not_timed_out_then_still_there_asks(ui) -> None:
    c = ui.c
    to_session_state(ui, State.FRAMING)
    cam = ui.camera
    face = cam._still  # the virtual camera's picture (a stand-in for the physical camera)
    try:
        limit = c.ui.timeouts.framing_s
        _advance_with_presence(ui, 2 * limit)  # twice the framing timeout, no tap
        assert c.state is State.FRAMING and c.session is not None
        assert ui.app.overlay_kind() is None
        ui.shot("guest-presence-framing", ["Let's frame your photo"])
        # The guest walks away: an empty wall. "Still there?" counts down before the timeout.
        cam._still = np.full_like(face, 200)
        assert ui.until(lambda: c.framing.latest() is not None and c.framing.latest().box is None, 10)
        ui.clock.advance(limit - c.ui.timeouts.still_there_s + 1)
        assert ui.until(lambda: ui.app.overlay_kind() == "still", 5)
        with ui.clock.held():  # the countdown waits for the screenshot on a busy machine
            ui.pump(3)
            ui.shot("guest-still-there", ["Still there?", "Tap anywhere to continue"])
        assert c.state is State.FRAMING
        assert ui.until(lambda: not ui.app.guarded(), 5)
        raw_tap(ui, 540, 1400)  # anywhere
        assert ui.until(lambda: ui.app.overlay_kind() is None, 5)
        assert c.state is State.FRAMING, "a tap on 'Still there?' continues the session"
        ui.clock.advance(limit + 1)
        ui.wait_state("attract", 10)
        assert c.flow.history[-2][2] == "idle timeout on framing"
    finally:
        cam._still = face
        release_framing(ui)


def test_presence_alone_holds_a_session_only_for_presence_max_s(ui) -> None:
    c = ui.c
    to_session_state(ui, State.CONSENT)
    sid = c.session.id
    ui.clock.advance(c.ui.timeouts.presence_max_s + c.ui.timeouts.consent_s + 1)
    ui.wait_state("attract", 10)
    assert c.store.journal.get(sid) is not None and c.flow.session is None


def test_more_time_doubles_the_waits(ui) -> None:
    c = ui.c
    to_session_state(ui, State.LANGUAGE)
    base = c.flow.idle_limit()
    ui.tap("more_time")
    assert c.flow.idle_limit() == pytest.approx(base * MORE_TIME_FACTOR)
    ui.pump(3)
    ui.shot("guest-more-time", ["More time: on"])
    ui.tap("language", "en")
    ui.wait_state("consent")
    assert c.flow.idle_limit() == pytest.approx(c.ui.timeouts.consent_s * MORE_TIME_FACTOR)
    ui.tap("cancel")
    ui.wait_state("attract")
