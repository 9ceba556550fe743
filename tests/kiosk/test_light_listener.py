"""The lights follow the session through a listener and a table (no lights code in the controller)."""

from __future__ import annotations

from kiosk.app.listeners import LightCue, LightsListener, light_table
from kiosk.lights import NoopLights
from kiosk.session.flow import State


def test_each_state_gets_its_cue_and_others_change_nothing() -> None:
    lights = NoopLights()
    listen = LightsListener(lights, light_table(countdown_ramp_ms=500, lens_cue=True))
    for new in (State.FRAMING, State.COUNTDOWN, State.CAPTURE, State.REVIEW, State.STYLE, State.PROCESSING,
                State.DELIVERY, State.ATTRACT):
        listen(State.ATTRACT, new, "test")
    assert list(lights.calls) == [
        ("scene", "framing"), ("lens", "off"),
        ("scene", "countdown"), ("lens", "blink"),
        ("scene", "flash"), ("lens", "on"),
        ("scene", "framing"), ("lens", "off"),
        ("scene", "idle"),  # processing leaves the lens LED as it was
        ("scene", "attract"), ("lens", "off"),
    ]


def test_no_lens_blink_when_the_cue_is_off() -> None:
    table = light_table(lens_cue=False)
    assert table[State.COUNTDOWN] == LightCue("countdown", fade_ms=800, lens="off")
