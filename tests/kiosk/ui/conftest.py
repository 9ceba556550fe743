"""A real Kivy window under Xvfb, one app for the whole session (Kivy cannot restart an App in-process).

The app runs with the virtual camera on the bundled demo portrait, the bridge simulator (sim://) for
the lights, and the real studio pipeline. Time-outs are driven by an offset clock the tests advance;
frames are advanced with EventLoop.idle() and conditions are polled with deadlines, never slept for.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiosk.app.processor import Processor
from tests.conftest import OffsetClock, xvfb_display

REPO = Path(__file__).resolve().parents[3]
SHOTS = REPO / "artifacts" / "screenshots"

OPERATOR_PIN = "482916"  # the kiosk under test gets this PIN (none is set by default)


class GatedProcessor(Processor):
    """The real studio processor; `hold()` makes the next job wait at its start until `release()`.

    Lets a test photograph the processing screen deterministically, whatever the CPU speed.
    """

    makes_previews = True

    def __init__(self, real: Any) -> None:
        super().__init__()
        self.real = real
        self.gate = threading.Event()
        self.gate.set()

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.real.close()

    def preview(self, *args: Any) -> None:
        self.real.preview(*args)

    def reconfigure(self, pipeline_config: Any) -> None:
        self.real.reconfigure(pipeline_config)

    def process(self, bgr: Any, style: str, formats: list[str], write: Any, progress: Any) -> Any:
        progress(0.01, "queued")
        assert self.gate.wait(60), "test never released the processing gate"
        return self.real.process(bgr, style, formats, write, progress)


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """Start Xvfb on a free display (from :90); yields the DISPLAY value, also set in the environment."""
    with xvfb_display(90, "1920x1920x24") as display:
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = display
        try:
            yield display
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old


class Harness:
    """The running app plus helpers to pump frames, tap buttons and take screenshots."""

    def __init__(self, app: Any, controller: Any, camera: Any, clock: OffsetClock, sim: Any, data: Path) -> None:
        self.app = app
        self.c = controller
        self.camera = camera
        self.clock = clock
        self.sim = sim
        self.data = data

    # frames ---------------------------------------------------------------------------------
    def pump(self, frames: int = 3) -> None:
        from kivy.base import EventLoop

        for _ in range(frames):
            EventLoop.idle()

    def until(self, cond: Callable[[], bool], timeout_s: float = 20.0) -> bool:
        from kivy.base import EventLoop

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            EventLoop.idle()
            if cond():
                return True
        return False

    def wait_state(self, name: str, timeout_s: float = 20.0) -> None:
        ok = self.until(lambda: self.c.state.value == name, timeout_s)
        assert ok, f"state {self.c.state.value} did not become {name} within {timeout_s} s"
        self.pump(2)

    # touches ---------------------------------------------------------------------------------
    def touch_at(self, x: float, y: float) -> None:
        from kivy.tests.common import UnitTestTouch

        # A screen manager ignores touches while a transition runs (as it should for a guest too), and a new
        # screen ignores them for ui.tap_guard_s (tests of the guard itself send raw touches).
        assert self.until(lambda: not self.app.sm.transition.is_active and not self.app.guarded(), 5)
        t = UnitTestTouch(x, y)
        t.touch_down()
        self.pump(1)
        t.touch_up()
        self.pump(2)

    def buttons(self) -> list[Any]:
        from kiosk.ui.widgets import Btn

        return [w for w in self.app.current_screen().walk() if isinstance(w, Btn)]

    def button(self, action: str, arg: str | None = None) -> Any:
        found = [b for b in self.buttons() if b.action == action and (arg is None or b.arg == arg)]
        assert found, f"no button {action}/{arg} on screen {self.app.sm.current}"
        return found[0]

    def tap(self, action: str, arg: str | None = None) -> None:
        b = self.button(action, arg)
        self.touch_at(*b.to_window(*b.center))

    # looking ---------------------------------------------------------------------------------
    def texts(self) -> list[str]:
        from kivy.uix.label import Label

        return [w.text for w in self.app.current_screen().walk() if isinstance(w, Label) and w.text]

    def shot(self, name: str, must_show: list[str] = ()) -> np.ndarray:  # type: ignore[assignment]
        """Save artifacts/screenshots/<name>.png; check it is not blank and shows its key text.

        The kiosk's clock waits while the test looks: on a busy machine a screenshot can take longer than
        a short screen (the thank-you screen's 8 s) stays up.
        """
        with self.clock.held():
            self.pump(3)
            texts = self.texts()
            for key_text in must_show:
                assert any(key_text in t for t in texts), f"{name}: '{key_text}' not among {texts}"
            rgb = self.app.save_screenshot(SHOTS / f"{name}.png")
        assert rgb.shape[0] > 100 and rgb.shape[1] > 100
        assert rgb.std() > 8.0, f"{name}: screenshot looks blank (std {rgb.std():.1f})"
        colours = len(np.unique(rgb[::8, ::8].reshape(-1, 3), axis=0))
        assert colours > 20, f"{name}: only {colours} colours, nothing drawn?"
        return rgb

    @contextlib.contextmanager
    def nobody_in_view(self) -> Iterator[None]:
        """The guest steps out of the camera's view (an empty wall) for the block: no face, no presence.

        A face in view is the guest still there (it restarts the idle timers), so a test of a timeout on a
        screen that watches the camera must empty the wall first, else the next framing result undoes it.
        """
        cam = self.camera
        face = cam._still
        cam._still = np.full_like(face, 200)
        try:
            assert self.until(lambda: (r := self.c.framing.latest()) is None or r.box is None, 10)
            yield
        finally:
            cam._still = face

    def open_operator(self) -> None:
        """The operator's way in: taps in the attract screen's corner, then the PIN (the menu opens)."""
        for _ in range(self.c.ui.operator_taps):
            self.touch_at(20, 1900)
        assert self.until(lambda: self.app.sm.current == "pin", 3)
        for k in OPERATOR_PIN:
            self.tap("pin", k)
        self.tap("pin", "OK")
        self.wait_state("operator", 5)

    def leave_thanks(self) -> None:
        """Tap the thank-you screen away: the clock waits while the tap lands (else, on a busy machine, the
        screen's own 8 s can end first and the tap starts a new session on the attract screen)."""
        assert self.until(lambda: not self.app.guarded(), 5)
        with self.clock.held():
            self.touch_at(540, 960)
        self.wait_state("attract")

    def to_attract(self) -> None:
        from kiosk.session.flow import State

        c = self.c
        if c.state is State.OPERATOR:
            c.close_operator()
        elif c.state not in (State.ATTRACT, State.PROCESSING):
            c.tap("cancel")
        if c.state is State.PROCESSING:
            assert self.until(lambda: c.state is not State.PROCESSING, 60)
            c.tap("cancel")
        c.close_pin()
        self.camera.replug()
        self.wait_state("attract", 30)


@pytest.fixture(scope="session")
def ui(xvfb: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The kiosk app in a 1080×1920 window, started once for all UI tests."""
    os.environ["KIVY_HOME"] = tempfile.mkdtemp(prefix="kivy-home-")
    from kiosk.ui.boot import prepare_kivy

    prepare_kivy(1080, 1920)
    try:
        import firmware_bridge.sim  # noqa: F401
    except ImportError as err:
        pytest.skip(f"bridge simulator not available: {err}")
    from firmware_bridge.sim import get_sim, start
    from kiosk.app.assemble import Overrides, assemble
    from kiosk.app.config import TimeoutsConfig, UIConfig
    from kiosk.app.operator import hash_pin
    from kiosk.camera.config import VirtualCameraConfig
    from kiosk.camera.virtual import VirtualCamera, demo_portrait_path
    from kiosk.config import KioskConfig, default_data_dir
    from kiosk.i18n import Texts
    from kiosk.lights import BridgeLights, LightsConfig
    from kiosk.ui.app import KioskApp

    models = default_data_dir() / "models"
    if not (models / "face_detection_short_range.tflite").is_file():
        pytest.skip(f"MediaPipe models not installed in {models} (run `kiosk models fetch`)")
    data = tmp_path_factory.mktemp("kiosk-data")
    (data / "models").symlink_to(models)
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = "sim://uitest?wire=0"
    start(url)
    ui_cfg = UIConfig(
        pin_hash=hash_pin(OPERATOR_PIN),
        stillness_s=0.4,
        countdown_s=2,
        retake_limit=2,
        formats=["portrait"],
        timeouts=TimeoutsConfig(failsafe_recover_s=5.0),
    )
    # The download server on a free port: engineers' and CI's test apps never fight over 8080.
    cfg = KioskConfig(data_dir=data, ui=ui_cfg, lights=LightsConfig(port_url=url),
                      delivery={"download": {"port": 0}})
    clock = OffsetClock()
    camera = VirtualCamera(VirtualCameraConfig(source=demo_portrait_path(), width=960, height=720, fps=30))
    lights = BridgeLights(cfg.lights)
    from kiosk.app.processor import StudioProcessor

    processor = GatedProcessor(StudioProcessor(cfg.models_dir, cfg.pipeline))
    parts = assemble(cfg, Overrides(camera=camera, lights=lights, clock=clock, processor=processor))
    controller = parts.controller
    app = KioskApp(controller, Texts(list(ui_cfg.languages)), transition_s=0)
    app._run_prepare()
    h = Harness(app, controller, camera, clock, get_sim(url), data)
    h.processor = processor
    assert h.until(lambda: controller.camera.connected, 20), "virtual camera did not start"
    yield h
    app.stop()
    from kivy.base import EventLoop

    EventLoop.idle()
    parts.close()
