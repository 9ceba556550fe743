"""The lights over the real bridge client and the simulated firmware: scenes, lens cue, buttons, config."""

from __future__ import annotations

import time

import pytest

from kiosk.lights import BridgeLights, LightsConfig, NoopLights, make_lights

sim = pytest.importorskip("firmware_bridge.sim", reason="the bridge simulator is not available")


def _until(cond, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)  # polling a condition with a deadline
    return False


def test_no_port_means_noop() -> None:
    lights = make_lights(LightsConfig())
    assert isinstance(lights, NoopLights) and lights.ok and lights.pop_buttons() == []


def test_scenes_lens_and_buttons_through_the_simulator() -> None:
    from firmware_bridge.messages import SCENE_LEVELS, Button, Scene

    url = "sim://lights-test?wire=0"
    board = sim.start(url)
    lights = BridgeLights(LightsConfig(port_url=url, countdown_ramp_ms=0))
    try:
        lights.scene("countdown")
        want = list(SCENE_LEVELS[Scene.COUNTDOWN])
        assert _until(lambda: board.snapshot().levels[: len(want)] == want), board.snapshot()
        lights.lens_cue("on")
        assert _until(lambda: board.snapshot().lens > 0), board.snapshot()
        assert _until(lambda: lights.ok)
        assert "connected" in lights.status()
        board.press(Button.START)
        assert _until(lambda: "start" in lights.pop_buttons())
        lights.safe()
        assert _until(lambda: board.snapshot().lens == 0 and board.snapshot().safe), board.snapshot()
    finally:
        lights.close()


def test_lens_cue_can_be_switched_off() -> None:
    url = "sim://lights-test-nolens?wire=0"
    sim.start(url)
    lights = BridgeLights(LightsConfig(port_url=url, lens_cue=False))
    try:
        lights.lens_cue("blink")
        assert ("lens", "blink") not in lights.calls
    finally:
        lights.close()
