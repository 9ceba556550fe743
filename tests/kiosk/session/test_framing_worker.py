"""Framing guidance (pure rules on synthetic faces) and the worker with the real MediaPipe detector."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kiosk.camera.base import CameraThread
from kiosk.camera.config import VirtualCameraConfig
from kiosk.camera.virtual import VirtualCamera
from kiosk.pipeline.framing import assess
from kiosk.session.framing_worker import Box, FramingTargets, FramingWorker, Hint, Stillness, guide
from models.vision import Face

PORTRAITS = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "portraits"
W, H = 1000, 1000


def face(cx: float = 500, cy: float = 380, size: float = 280, nose_dx: float = 0.0, nose_t: float = 0.5) -> Face:
    x, y = cx - size / 2, cy - size / 2
    eye_y = y + 0.35 * size
    mouth_y = y + 0.8 * size
    return Face(x, y, size, size, 0.9, keypoints={
        "right_eye": (cx - 0.2 * size, eye_y), "left_eye": (cx + 0.2 * size, eye_y),
        "nose": (cx + nose_dx * size, eye_y + nose_t * (mouth_y - eye_y)), "mouth": (cx, mouth_y),
    })


T = FramingTargets()


@pytest.mark.parametrize(("faces", "hint"), [
    ([], Hint.NO_FACE),
    ([face()], Hint.PERFECT),
    ([face(), face(cx=200, size=250)], Hint.ONE_PERSON),
    ([face(), face(cx=850, size=60)], Hint.PERFECT),  # a small face far behind is not a second guest
    ([face(size=100)], Hint.COME_CLOSER),
    ([face(size=600, cy=420)], Hint.STEP_BACK),
    ([face(cx=300)], Hint.MOVE_LEFT),  # raw left = mirrored right: the guest moves to their left
    ([face(cx=700)], Hint.MOVE_RIGHT),
    ([face(nose_t=0.85)], Hint.CHIN_UP),
    ([face(nose_dx=0.12)], Hint.PERFECT),  # about 30°: a three-quarter pose the pipeline accepts
    ([face(nose_dx=0.25)], Hint.LOOK_AT_CAMERA),  # about 49°: the pipeline would refuse it
])
def test_guidance(faces: list[Face], hint: Hint) -> None:
    got, box = guide(faces, W, H, T)
    assert got is hint
    assert (box is None) == (not faces)


@pytest.mark.parametrize("nose_dx", [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, -0.2])
def test_live_guidance_and_the_pipeline_judge_agree(nose_dx: float) -> None:
    """One judge: "perfect" live means the pipeline accepts the face; a refused face is never "perfect"."""
    f = face(nose_dx=nose_dx)
    hint, _ = guide([f], W, H, T)
    verdict = assess([f], W, H, min_face_px=0.0, max_yaw_deg=T.max_yaw_deg)
    assert (hint is Hint.PERFECT) == (verdict.problem is None), (hint, verdict.message)



def test_stillness_needs_a_still_guest() -> None:
    s = Stillness(FramingTargets(stillness_s=1.0))
    b = Box(0.4, 0.3, 0.2, 0.3)
    t = 0.0
    for _ in range(5):  # moving fast: 0.05 of the frame per 0.1 s
        b = Box(b.x + 0.05, b.y, b.w, b.h)
        t += 0.1
        assert s.update(b, True, t) == 0.0
    still = 0.0
    for _ in range(30):
        t += 0.1
        still = s.update(b, True, t)
    assert still >= 1.0
    assert s.update(b, False, t + 0.1) == 0.0  # losing the framing resets it


def test_worker_with_real_detector_reaches_ready() -> None:
    portrait = PORTRAITS / "nasa_man_hispanic_mustache_01.jpg"
    if not portrait.is_file():
        pytest.skip(f"test portraits not found at {PORTRAITS}")
    from kiosk.config import load_config
    from models.store import ModelStore
    from models.vision import FaceDetector

    try:
        model = ModelStore(load_config().models_dir).path("face_detector_short")
    except Exception as err:
        pytest.skip(f"face detector not installed (run `kiosk models fetch`): {err}")
    cam = CameraThread(VirtualCamera(VirtualCameraConfig(source=portrait, width=640, height=480, fps=30)))
    worker = FramingWorker(cam, lambda: FaceDetector(model, max_side=320), FramingTargets(stillness_s=0.5))
    cam.start()
    worker.start()
    worker.resume()
    try:
        deadline = time.monotonic() + 20
        res = None
        while time.monotonic() < deadline:
            res = worker.latest()
            if res is not None and res.ready:
                break
            time.sleep(0.02)  # polling a condition with a deadline
        assert res is not None and res.ready, res
        assert res.box is not None and 0.3 < res.box.x + res.box.w / 2 < 0.7
        worker.pause()
        assert not worker.active
    finally:
        worker.stop()
        cam.stop()
    assert worker.error is None
