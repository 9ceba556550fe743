"""The controller without a window: processing errors route correctly (no usable face → framing; any
other error → the failsafe), with the real camera thread, framing worker and processing thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kiosk.app.assemble import Overrides, assemble
from kiosk.app.config import UIConfig
from kiosk.app.processor import Processor
from kiosk.camera.config import VirtualCameraConfig
from kiosk.camera.virtual import VirtualCamera
from kiosk.config import KioskConfig, default_data_dir
from kiosk.delivery.ports import NoPrinter, OfflineDownloads
from kiosk.errors import NoUsableFace
from kiosk.lights import NoopLights
from kiosk.session.flow import State


class Failing(Processor):
    def __init__(self, err: Exception) -> None:
        super().__init__()
        self.err = err

    def process(self, *_args: Any) -> Any:
        raise self.err


def _controller(tmp_path: Path, processor: Any) -> Any:
    data = tmp_path / "data"
    data.mkdir()
    return _controller_on(data, processor)


def _controller_on(data: Path, processor: Any, store: Any = None) -> Any:
    models = default_data_dir() / "models"
    if not (models / "face_detection_short_range.tflite").is_file():
        pytest.skip(f"MediaPipe models not installed in {models}")
    if not (data / "models").exists():
        (data / "models").symlink_to(models)
    cfg = KioskConfig(data_dir=data, ui=UIConfig(stillness_s=0.2, countdown_s=1))
    parts = assemble(cfg, Overrides(
        camera=VirtualCamera(VirtualCameraConfig(width=320, height=240)),
        lights=NoopLights(),
        downloads=OfflineDownloads(),
        printer=NoPrinter(),
        processor=processor,
        store=store,
    ))
    return parts


def _until(c: Any, cond: Any, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        c.tick()
        if cond():
            return True
        time.sleep(0.01)  # the simulated UI clock's pacing while polling with a deadline
    return False


@pytest.mark.parametrize(
    ("err", "want"),
    [
        (NoUsableFace("no face in the photo", "no_face"), State.FRAMING),
        (RuntimeError("pipeline exploded"), State.ATTENDANT_NEEDED),
    ],
)
def test_processing_errors(tmp_path: Path, err: Exception, want: State) -> None:
    parts = _controller(tmp_path, Failing(err))
    c = parts.controller
    c.start()
    try:
        assert _until(c, lambda: c.camera.connected)
        for action, arg in (("start", ""), ("language", "en"), ("agree", "")):
            c.tap(action, arg)
        assert _until(c, lambda: c.state is State.REVIEW), c.state
        c.tap("approve")
        c.tap("style", "white")
        assert _until(c, lambda: c.state is want), list(c.flow.history)[-3:]
        assert c.session is not None or want is State.ATTENDANT_NEEDED
    finally:
        parts.close()


def test_a_session_left_undelivered_by_a_stop_is_reported_at_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kiosk.session.store import SessionStore, Step

    data = tmp_path / "data"
    data.mkdir()
    with caplog.at_level("WARNING", logger="kiosk.app.assemble"):
        _controller_on(data, Failing(RuntimeError("not used"))).close()
    assert not [r for r in caplog.records if "not delivered" in r.getMessage()], "a fresh folder: nothing to say"
    store = SessionStore(data)
    left = store.create()
    for step in (Step.CONSENTED, Step.CAPTURED, Step.PROCESSED):
        store.advance(left.id, step)  # the kiosk stopped here: the guest never reached delivery
    with caplog.at_level("WARNING", logger="kiosk.app.assemble"):
        _controller_on(data, Failing(RuntimeError("not used"))).close()
    said = [r.getMessage() for r in caplog.records]
    assert any(left.id in m and "processed but not delivered" in m for m in said), said
    caplog.clear()
    # The same store handed in by its owner (the demo, a bench) holds the owner's sessions: nothing to report.
    with caplog.at_level("WARNING", logger="kiosk.app.assemble"):
        _controller_on(data, Failing(RuntimeError("not used")), store=store).close()
    assert not [r for r in caplog.records if "not delivered" in r.getMessage()]
