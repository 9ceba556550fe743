"""Long runs and stops: SIGTERM / SIGINT stop the app cleanly, the controller's stop leaves nothing running
(camera, framing, processing thread, generation worker process) and the lights safe, and the state kept
for logs and tests (flow history, light requests, session listeners) stays bounded however long it runs.

`kiosk run` under Xvfb receiving SIGTERM (exit 0, logged) is tested in test_run_notify.py.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kiosk.app.assemble import Overrides, assemble
from kiosk.app.config import UIConfig
from kiosk.camera.config import VirtualCameraConfig
from kiosk.camera.virtual import VirtualCamera
from kiosk.config import KioskConfig, default_data_dir
from kiosk.delivery.ports import NoPrinter, OfflineDownloads
from kiosk.lights import CALLS_MAX, NoopLights
from kiosk.session.flow import HISTORY_MAX, SessionFlow, State
from kiosk.session.store import SessionStore
from kiosk.ui.runner import stop_on_signals


def _let_handlers_run() -> None:
    for _ in range(100):
        time.sleep(0.001)  # Python runs signal handlers between bytecodes of the main thread


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signals_give_one_clean_stop_from_the_ui_clock_and_restore_the_handlers(
    sig: signal.Signals, caplog: pytest.LogCaptureFixture
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    stops: list[str] = []
    hups: list[str] = []
    registered: list[Any] = []
    caplog.set_level(logging.INFO, logger="kiosk.ui.runner")
    with stop_on_signals(lambda: stops.append("stop"), registered.append, lambda: hups.append("hup")) as act:
        assert registered == [act], "act is handed to the UI clock"
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), sig)
        os.kill(os.getpid(), sig)  # a second signal while stopping is ignored, not a crash
        _let_handlers_run()
        # The handlers only noted the signals: no log line, no stop, no reload from inside a handler
        # (the main thread may hold a logging or Clock lock there; doing work in it can deadlock).
        assert stops == [] and hups == [] and caplog.records == []
        act(0.1)
        act(0.1)
        assert stops == ["stop"], "one stop, from the UI clock"
        assert hups == [], "no config reload once stopping"
        assert [r.getMessage() for r in caplog.records] == [f"kiosk stopping on {sig.name}"]
    assert {s: signal.getsignal(s) for s in before} == before


def test_each_sighup_reloads_once_from_the_ui_clock() -> None:
    hups: list[str] = []
    with stop_on_signals(lambda: None, lambda _act: None, lambda: hups.append("hup")) as act:
        act(0.1)
        assert hups == []
        os.kill(os.getpid(), signal.SIGHUP)
        _let_handlers_run()
        assert hups == []
        act(0.1)
        act(0.1)
        assert hups == ["hup"]
        os.kill(os.getpid(), signal.SIGHUP)
        _let_handlers_run()
        act(0.1)
        assert hups == ["hup", "hup"]


def test_controller_stop_leaves_nothing_running_and_the_lights_safe(tmp_path: Path, tiny_pack: Path) -> None:
    models = default_data_dir() / "models"
    if not (models / "face_detection_short_range.tflite").is_file():
        pytest.skip(f"MediaPipe models not installed in {models} (run `kiosk models fetch`)")
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(models)
    cfg = KioskConfig.model_validate(
        {
            "data_dir": data,
            "ui": UIConfig(stillness_s=0.2, countdown_s=1),
            "generation": {"pack_dir": tiny_pack, "runtime": {"kind": "ort", "providers": ["cpu"]}},
        }
    )
    threads_before = {t.ident for t in threading.enumerate()}
    lights = NoopLights()
    parts = assemble(cfg, Overrides(
        camera=VirtualCamera(VirtualCameraConfig(width=320, height=240)),
        lights=lights,
        downloads=OfflineDownloads(),
        printer=NoPrinter(),
    ))
    c = parts.controller
    c.start()
    processor = c.worker.processor
    deadline = time.monotonic() + 120
    while not processor.generation_state.startswith(("ready", "off")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the generation worker warms up on its own thread
    assert processor.generation_state.startswith("ready"), processor.generation_state
    assert c.device_status()["generation"].startswith("ready (tiny_diffusers, ort fp32")
    assert multiprocessing.active_children(), "the warmed-up generation worker process runs"
    c.tap("start")
    assert c.state is State.LANGUAGE
    parts.close()
    assert c.session is None, "the live session is deleted at stop"
    assert list(lights.calls)[-2:] == [("scene", "idle"), ("lens", "off")], "lights end in the safe state"
    assert not multiprocessing.active_children(), "the generation worker process is stopped"
    left = [t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()]
    assert left == [], f"threads still running after stop: {left}"


def test_flow_history_and_light_requests_are_bounded(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "data")
    flow = SessionFlow(store)
    for _ in range(HISTORY_MAX):
        flow.start()
        flow.cancel("guest cancelled")  # language -> cleanup -> attract: three transitions a round
    assert len(flow.history) == HISTORY_MAX
    assert flow.history[-1][1] is State.ATTRACT
    store.close()
    lights = NoopLights()
    for _ in range(CALLS_MAX * 3):
        lights.scene("framing")
        lights.lens_cue("blink")
    assert len(lights.calls) == CALLS_MAX and lights.calls[-1] == ("lens", "blink")
