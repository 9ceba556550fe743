"""The capture is taken and made durable off the UI thread, and only then reported."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kiosk.app.capture import Captured, CaptureSaver
from kiosk.camera.base import Camera, CameraThread
from kiosk.session.journal import Step, StorageFull
from kiosk.session.store import SessionStore

DEADLINE_S = 30.0  # wide: CI is a busy 2-core machine


class SlowStillCamera(Camera):
    """A DSLR-like camera whose still waits until the test releases it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.still = np.full((60, 80, 3), (40, 90, 160), np.uint8)

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        time.sleep(0.01)
        return np.zeros((60, 80, 3), np.uint8)

    def close(self) -> None:
        pass

    def capture_still(self) -> np.ndarray | None:
        assert self.release.wait(DEADLINE_S), "the test never released the still"
        return self.still


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    with SessionStore(tmp_path / "data") as st:
        yield st


def poll_until_done(saver: CaptureSaver, sid: str, name: str) -> Captured:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        outcome = saver.poll(sid, name)
        if outcome is not None:
            return outcome
        time.sleep(0.01)
    raise AssertionError("the capture never finished")


def test_a_slow_still_does_not_hold_the_caller_and_is_durable_before_it_is_reported(store: SessionStore) -> None:
    camera = SlowStillCamera()
    saver = CaptureSaver(CameraThread(camera), store)
    sid = store.begin()
    try:
        assert saver.poll(sid, "capture-0.jpg") is None, "the first poll starts the work and returns"
        assert saver.poll(sid, "capture-0.jpg") is None, "still running while the camera takes the still"
        assert store.files(sid) == [], "nothing is reported or written before the still exists"
        camera.release.set()
        outcome = poll_until_done(saver, sid, "capture-0.jpg")
        assert outcome.still is not None and np.array_equal(outcome.still, camera.still)
        assert [f.name for f in store.files(sid)] == ["capture-0.jpg"]
        record = store.journal.get(sid)
        assert record is not None and record.step is Step.CAPTURED, "durable in the journal when reported"
    finally:
        camera.release.set()
        saver.close()


def test_a_full_disk_is_reported_not_raised(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    camera = SlowStillCamera()
    camera.release.set()
    saver = CaptureSaver(CameraThread(camera), store)
    sid = store.begin()

    def full(*_a: object, **_k: object) -> None:
        raise StorageFull("no space left for capture-0.jpg")

    monkeypatch.setattr(store, "write_file", full)
    try:
        outcome = poll_until_done(saver, sid, "capture-0.jpg")
        assert outcome.disk_full and outcome.still is None
        record = store.journal.get(sid)
        assert record is not None and record.step is not Step.CAPTURED
    finally:
        saver.close()


def test_a_capture_for_another_retake_starts_afresh(store: SessionStore) -> None:
    camera = SlowStillCamera()
    saver = CaptureSaver(CameraThread(camera), store)
    sid = store.begin()
    try:
        assert saver.poll(sid, "capture-0.jpg") is None
        assert saver.poll(sid, "capture-1.jpg") is None, "a new name is a new capture, not the old outcome"
        camera.release.set()
        outcome = poll_until_done(saver, sid, "capture-1.jpg")
        assert outcome.still is not None
        saver.close()  # the stale capture-0 finished too: both files are the store's, retired with the session
        assert sorted(f.name for f in store.files(sid)) == ["capture-0.jpg", "capture-1.jpg"]
    finally:
        camera.release.set()
        saver.close()
