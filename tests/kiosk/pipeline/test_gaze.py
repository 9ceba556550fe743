"""Issue 16, pose: the eyes towards the lens, read by MediaPipe's iris landmark model from the pinned wheel.

Judged with what the pipeline did not make itself: eyes drawn with the iris at a known place, and real
portraits whose subjects look into the lens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.errors import NoUsableFace
from kiosk.pipeline.framing import GAZE_OFF, gaze, looks_away
from kiosk.pipeline.imageio import load_image
from kiosk.session.framing_worker import FramingTargets, GazeReader, Hint, guide
from models.store import ModelStore
from models.vision import Face, IrisLandmarker
from tests.conftest import PORTRAITS

SKIN, SCLERA, IRIS, PUPIL = (120, 150, 200), (225, 228, 235), (40, 70, 110), (15, 15, 15)


@pytest.fixture(scope="module")
def iris(models_dir: Path) -> Iterator[IrisLandmarker]:
    with IrisLandmarker(ModelStore(models_dir).path("iris_landmarks")) as model:
        yield model


def drawn_eyes(offset: float, iod: int) -> tuple[np.ndarray, Face]:
    """Two almond eyes with brows on skin, both irises moved by `offset` half eye widths (+: image right)."""
    h, w = int(1.2 * iod), int(2.2 * iod)
    img = np.full((h, w, 3), SKIN, np.uint8)
    cy, half = h // 2, 0.24 * iod
    centres = [(w / 2 - iod / 2, float(cy)), (w / 2 + iod / 2, float(cy))]
    t = np.linspace(0.0, np.pi, 60)
    for cx, _ in centres:
        upper = np.stack([cx + half * np.cos(t), cy - 0.42 * half * np.sin(t)], 1)
        lower = np.stack([cx + half * np.cos(t[::-1]), cy + 0.36 * half * np.sin(t[::-1])], 1)
        outline = np.int32(np.concatenate([upper, lower]))
        eye = np.full_like(img, SCLERA)
        ix = int(cx + offset * half)
        cv2.circle(eye, (ix, cy), int(0.42 * half), IRIS, -1, cv2.LINE_AA)
        cv2.circle(eye, (ix, cy), int(0.18 * half), PUPIL, -1, cv2.LINE_AA)
        inside = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inside, [outline], 255, cv2.LINE_AA)
        img = np.where(inside[..., None] > 0, eye, img)
        cv2.polylines(img, [outline], True, (60, 70, 90), max(1, int(half / 25)), cv2.LINE_AA)
        cv2.ellipse(img, (int(cx), int(cy - 0.9 * half)), (int(1.1 * half), int(0.25 * half)), 0, 180, 360,
                    (50, 60, 80), max(2, int(half / 8)))
    img = cv2.GaussianBlur(img, (0, 0), max(0.8, half / 40))
    face = Face(w / 2 - iod, cy - 0.6 * iod, 2.0 * iod, 2.0 * iod, 0.9,
                {"right_eye": centres[0], "left_eye": centres[1], "nose": (w / 2, cy + 0.5 * iod),
                 "mouth": (w / 2, cy + iod)})
    return img, face


@pytest.mark.parametrize("iod", [120, 240])
def test_the_reading_follows_where_the_irises_were_drawn(iris: IrisLandmarker, iod: int) -> None:
    offsets = [-0.7, -0.4, 0.0, 0.4, 0.7]
    readings = []
    for offset in offsets:
        img, face = drawn_eyes(offset, iod)
        reading = gaze(iris, img, face, yaw_deg=0.0)
        assert reading is not None
        readings.append(reading)
    # In order, on the side drawn (the subject's right eye is mirrored into a left one and back).
    assert readings == sorted(readings), readings
    assert readings[0] < -0.1 and readings[-1] > 0.1 and abs(readings[2]) < 0.1, readings
    # Far to a side is off the lens; the middle is on it.
    assert looks_away(readings[0]) and looks_away(readings[-1]), readings
    assert not looks_away(readings[2]), readings


def test_a_turned_head_or_tiny_eyes_are_not_judged(iris: IrisLandmarker) -> None:
    img, face = drawn_eyes(0.7, 120)
    assert gaze(iris, img, face, yaw_deg=30.0) is None  # the corners and the eyeball's centre part
    small = cv2.resize(img, None, fx=0.1, fy=0.1, interpolation=cv2.INTER_AREA)
    assert gaze(iris, small, face.scaled(0.1), yaw_deg=0.0) is None
    assert not looks_away(None)


def test_guests_looking_into_the_lens_are_not_told_to_look_at_it(studio) -> None:
    """Every usable portrait in the shared set looks into the lens: no headshot of one notes otherwise."""
    names = sorted(p.name for p in PORTRAITS.glob("*.*") if p.suffix.lower() in (".jpg", ".png"))
    if not names:
        pytest.skip(f"test portraits not found at {PORTRAITS}")
    judged = []
    for name in names:
        bgr = studio.prepare(load_image(PORTRAITS / name).bgr)
        try:
            analysis = studio.analyse(bgr)
        except NoUsableFace:
            continue  # a profile, a hidden face, a face cut off: refused before gaze is asked
        result = studio.headshot(bgr, analysis=analysis)
        assert not any("look away" in n for n in result.notes), name
        if result.gaze is not None:
            judged.append(name)
            assert abs(result.gaze) < GAZE_OFF / 2, (name, result.gaze)
        else:
            assert abs(analysis.yaw_deg) > 20.0, name  # only turned heads go unjudged at this size
    assert len(judged) >= 12, judged


def _face(size: float) -> Face:
    cx, cy = 500.0, 330.0
    eye_y = cy - 0.15 * size
    return Face(cx - size / 2, cy - size / 2, size, size, 0.93, {
        "right_eye": (cx - 0.2 * size, eye_y), "left_eye": (cx + 0.2 * size, eye_y),
        "nose": (cx, cy + 0.05 * size), "mouth": (cx, cy + 0.25 * size)})


def test_live_guidance_asks_a_framed_guest_looking_away_to_look_at_the_camera() -> None:
    asked: list[float] = []

    def reading(value: float | None):
        def read(face: Face, yaw: float) -> float | None:
            asked.append(yaw)
            return value
        return read

    t = FramingTargets()
    guest = _face(260.0)
    assert guide([guest], 1000, 1000, t)[0] is Hint.PERFECT
    assert guide([guest], 1000, 1000, t, gaze_of=reading(0.55))[0] is Hint.LOOK_AT_CAMERA
    assert guide([guest], 1000, 1000, t, gaze_of=reading(-0.55))[0] is Hint.LOOK_AT_CAMERA
    assert guide([guest], 1000, 1000, t, gaze_of=reading(0.05))[0] is Hint.PERFECT
    assert guide([guest], 1000, 1000, t, gaze_of=reading(None))[0] is Hint.PERFECT
    # The eyes are read only once the guest is otherwise framed (not on every frame of walking up).
    asked.clear()
    assert guide([_face(80.0)], 1000, 1000, t, gaze_of=reading(0.55))[0] is Hint.COME_CLOSER
    assert asked == []


def test_the_live_loop_reads_the_eyes_at_most_five_times_a_second() -> None:
    now = [0.0]
    values = iter([0.1, 0.6, 0.2])
    reader = GazeReader(lambda bgr, face, yaw: next(values), clock=lambda: now[0])
    frame, guest = np.zeros((4, 4, 3), np.uint8), _face(260.0)
    seen = []
    for _ in range(9):  # 0.63 s of a 14 fps camera
        seen.append(reader(frame, guest, 0.0))
        now[0] += 0.07
    assert reader.reads == 3
    assert seen == [0.1] * 3 + [0.6] * 3 + [0.2] * 3


def test_live_framing_does_not_ask_lens_looking_guests_to_look_at_the_camera(models_dir: Path) -> None:
    """The live path: each shared portrait as a 1280×720 camera frame, the kiosk's own detector (BlazeFace
    at 320 px) with its eye model, read as the framing worker reads it."""
    from kiosk.app.assemble import detector_factory
    from kiosk.camera.virtual import fit_into
    from kiosk.config import load_config
    from kiosk.pipeline.framing import yaw_estimate
    from kiosk.session.framing_worker import NearFarDetector

    paths = sorted(p for p in PORTRAITS.glob("*.*") if p.suffix.lower() in (".jpg", ".png"))
    if not paths:
        pytest.skip(f"test portraits not found at {PORTRAITS}")
    detector = detector_factory(load_config())()
    assert isinstance(detector, NearFarDetector) and detector.eyes is not None
    judged = {}
    try:
        for path in paths:
            frame = fit_into(load_image(path).bgr, 1280, 720)
            faces = detector.detect(frame)
            if not faces:
                continue
            reading = detector.gaze(frame, faces[0], yaw_estimate(faces[0]))
            if reading is not None:
                judged[path.name] = reading
            hint, _box = guide(faces, 1280, 720, FramingTargets(),
                               gaze_of=lambda f, yaw, frame=frame: detector.gaze(frame, f, yaw))
            assert hint is not Hint.LOOK_AT_CAMERA or abs(yaw_estimate(faces[0])) > 20.0, path.name
    finally:
        detector.close()
    assert len(judged) >= 12, judged
    assert max(abs(v) for v in judged.values()) < GAZE_OFF / 2, judged


def test_a_damaged_iris_model_costs_the_gaze_reading_not_the_headshot_or_the_live_framing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> None:
    import shutil

    from kiosk.app.assemble import detector_factory
    from kiosk.camera.virtual import demo_portrait_path
    from kiosk.config import load_config
    from kiosk.pipeline.studio import StudioPipeline
    from kiosk.session.framing_worker import NearFarDetector

    data = tmp_path / "data"
    shutil.copytree(models_dir, data / "models")
    iris_file = data / "models" / ModelStore(models_dir).entry("iris_landmarks")["file"]
    iris_file.write_bytes(b"not a model" * 100)
    monkeypatch.setenv("KIOSK_DATA_DIR", str(data))
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    cfg = load_config()
    assert cfg.models_dir == data / "models"
    with StudioPipeline(cfg.models_dir) as pipe:
        result = pipe.headshot(load_image(demo_portrait_path()).bgr)
    assert result.gaze is None and result.image.size
    detector = detector_factory(cfg)()
    try:
        assert isinstance(detector, NearFarDetector) and detector.eyes is None
        assert detector.gaze(np.zeros((720, 1280, 3), np.uint8), _face(260.0), 0.0) is None
    finally:
        detector.close()
