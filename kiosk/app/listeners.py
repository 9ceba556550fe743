"""Concerns that follow the session by listening to the state machine, driven by small tables.

pibooth's lights plugin acts in `state_*_enter` hooks; here a listener gets every transition and looks up
what the new state asks for. The journal's steps are recorded by the controller where the guest's data is
written (captured, processed), since "saved" must be durable before the screen says it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.lights import Lights
from kiosk.session.flow import State


@dataclass(frozen=True)
class LightCue:
    """What the studio does when a state is entered: scene, fade and the look-at-the-lens LED."""

    scene: str
    fade_ms: int = 300
    lens: str | None = "off"  # None: leave the lens LED as it is


def light_table(countdown_ramp_ms: int = 800, lens_cue: bool = True) -> dict[State, LightCue]:
    """State → cue: calm while framing, a ramp and a blinking lens LED for the countdown, the flash, then idle."""
    return {
        State.ATTRACT: LightCue("attract"),
        State.FRAMING: LightCue("framing"),
        State.COUNTDOWN: LightCue("countdown", fade_ms=countdown_ramp_ms, lens="blink" if lens_cue else "off"),
        State.CAPTURE: LightCue("flash", fade_ms=0, lens="on"),
        State.REVIEW: LightCue("framing"),
        State.PROCESSING: LightCue("idle", lens=None),
        State.ATTENDANT_NEEDED: LightCue("idle"),
    }


class LightsListener:
    """Puts the lights in each state's scene (a SessionFlow listener)."""

    def __init__(self, lights: Lights, table: dict[State, LightCue]) -> None:
        """Follow `table` with `lights`."""
        self.lights = lights
        self.table = table

    def __call__(self, old: State, new: State, reason: str) -> None:
        """A transition happened: apply the new state's cue, if it has one."""
        cue = self.table.get(new)
        if cue is None:
            return
        self.lights.scene(cue.scene, fade_ms=cue.fade_ms)
        if cue.lens is not None:
            self.lights.lens_cue(cue.lens)
