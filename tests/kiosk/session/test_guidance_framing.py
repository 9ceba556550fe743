"""Guidance that helps: the face followed, hysteresis, the stability window, distant guests (issue 13, item 4)."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.session.framing_worker import (
    Box,
    FramingTargets,
    Hint,
    HintFilter,
    NearFarDetector,
    Stillness,
    follow,
    guide,
)
from models.vision import Face

W, H = 1000, 1000
T = FramingTargets()
PORTRAITS = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "portraits"


def face(cx: float = 500, cy: float = 330, size: float = 260, score: float = 0.93) -> Face:
    x, y = cx - size / 2, cy - size / 2
    eye_y, mouth_y = y + 0.35 * size, y + 0.8 * size
    return Face(x, y, size, size, score, keypoints={
        "right_eye": (cx - 0.2 * size, eye_y), "left_eye": (cx + 0.2 * size, eye_y),
        "nose": (cx, eye_y + 0.5 * (mouth_y - eye_y)), "mouth": (cx, mouth_y),
    })


def test_a_patch_larger_than_the_face_is_not_followed() -> None:
    guest = face()
    patch = face(cx=640, cy=700, size=300, score=0.62)  # a mission patch on the suit, low on the chest
    got, others = follow([patch, guest], W, H, T)
    assert got is guest and others == []
    hint, box = guide([patch, guest], W, H, T)
    assert hint is Hint.PERFECT and box is not None and abs(box.y - guest.y / H) < 1e-9


def test_a_badge_photo_below_the_chin_is_not_a_second_person() -> None:
    badge = face(cx=430, cy=620, size=70, score=0.95)  # a sharp, frontal face on a lanyard
    assert guide([face(), badge], W, H, T)[0] is Hint.PERFECT
    beside = face(cx=180, cy=340, size=230)  # a real second person beside the guest
    assert guide([face(), beside], W, H, T)[0] is Hint.ONE_PERSON


def test_a_weak_face_like_area_is_not_followed() -> None:
    assert guide([face(score=0.5)], W, H, T)[0] is Hint.NO_FACE


def test_hysteresis_keeps_a_guest_at_the_limit_framed() -> None:
    at_limit = face(size=T.face_h_min * H * 0.93)
    assert guide([at_limit], W, H, T)[0] is Hint.COME_CLOSER  # not framed yet: the strict limit
    assert guide([at_limit], W, H, T, framed_before=True)[0] is Hint.PERFECT  # framed: the widened one
    far = face(size=T.face_h_min * H * 0.7)
    assert guide([far], W, H, T, framed_before=True)[0] is Hint.COME_CLOSER


def test_the_stability_window_stops_flicker() -> None:
    f = HintFilter(0.4)
    shown = []
    t = 0.0
    for i in range(30):  # the raw hint alternates every frame at 15 Hz
        t += 1 / 15
        shown.append(f.update(Hint.HOLD_STILL if i % 2 else Hint.PERFECT, t))
    assert len(set(shown)) == 1
    for _ in range(8):  # a change that lasts is shown after the window
        t += 1 / 15
        last = f.update(Hint.MOVE_LEFT, t)
    assert last is Hint.MOVE_LEFT


def seconds_to_ready(targets: FramingTargets, jitter: float, seed: int = 3) -> float:
    """A still guest seen by a jittery detector at 15 Hz: seconds until the countdown may start."""
    rng = random.Random(seed)
    still = Stillness(targets)
    t = 0.0
    while t < 30.0:
        t += 1 / 15
        j = [rng.gauss(0, jitter) for _ in range(3)]
        box = Box(0.4 + j[0] * 0.25, 0.2 + j[1] * 0.25, 0.25, 0.25 * (1 + j[2]))
        if still.update(box, True, t) >= targets.stillness_s:
            return t
    return t


def test_a_still_guest_is_captured_within_two_seconds() -> None:
    # Detector jitter of 2.5 % of the face height per frame, as BlazeFace shows on a still face.
    took = seconds_to_ready(FramingTargets(), 0.025)
    assert took <= 2.0, took
    # Without the hysteresis the same guest waits much longer (the timer restarts on jitter).
    no_hysteresis = FramingTargets(moving_speed=FramingTargets().still_speed)
    assert seconds_to_ready(no_hysteresis, 0.025) > took + 1.0


def test_a_distant_guest_hears_come_closer_with_the_real_detectors() -> None:
    portrait = PORTRAITS / "nasa_man_hispanic_mustache_01.jpg"
    if not portrait.is_file():
        pytest.skip(f"test portraits not found at {PORTRAITS}")
    from kiosk.config import load_config
    from models.store import ModelStore
    from models.vision import FaceDetector

    store = ModelStore(load_config().models_dir)
    try:
        near = FaceDetector(store.path("face_detector_short"), min_confidence=0.5, max_side=320)
        far = FaceDetector(store.path("face_detector_full"), min_confidence=0.5, max_side=640)
    except Exception as err:  # reason: a missing model is a skip with the reason
        pytest.skip(f"face detectors not installed (run `kiosk models fetch`): {err}")
    img = cv2.imread(str(portrait))
    frame = np.full((720, 960, 3), 200, np.uint8)
    h = int(720 * 0.3)  # the guest a few metres back: the face is ~9 % of the frame's height
    w = int(img.shape[1] * h / img.shape[0])
    frame[250 : 250 + h, 480 - w // 2 : 480 - w // 2 + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    try:
        assert near.detect(frame) == [], "the short-range model alone does not see this guest"
        hint, box = guide(NearFarDetector(near, far).detect(frame), 960, 720, T)
        assert hint is Hint.COME_CLOSER and box is not None and box.h < T.face_h_min
    finally:
        near.close()
        far.close()
