"""MediaPipe Tasks wrappers: face detection (BlazeFace short/full range) and selfie segmentation.

Both take BGR uint8 numpy images and return plain data in the input's pixel coordinates. A task
instance is not thread-safe: give each thread its own.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np

from models.errors import ModelCorrupt

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")
_stderr_lock = threading.Lock()
_live: weakref.WeakSet[Any] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Close every live task before interpreter teardown (MediaPipe's own __del__ fails then)."""
    for task in list(_live):
        with contextlib.suppress(Exception):
            task.close()


def _warm_up(run: Any) -> None:
    """Run a few inferences with native stderr silenced: LiteRT logs its one-time notices then."""
    blank = np.full((64, 64, 3), 128, np.uint8)
    with _quiet_native_stderr():
        for _ in range(3):
            run(blank)


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence TFLite's C++ start-up chatter (fd 2) while a graph loads."""
    with _stderr_lock:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _mp() -> Any:
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    return mp, BaseOptions, vision


@dataclass(frozen=True)
class Face:
    """One detected face in pixel coordinates of the image it was found in.

    Keypoints are named from the subject's side: 'right_eye' is the subject's right eye, on the
    image's left in an unmirrored photo.
    """

    x: float
    y: float
    w: float
    h: float
    score: float
    keypoints: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def center(self) -> tuple[float, float]:
        """Box centre, px."""
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def area(self) -> float:
        """Box area, px²."""
        return self.w * self.h

    @property
    def eye_center(self) -> tuple[float, float]:
        """Midpoint of the two eyes, px."""
        (rx, ry), (lx, ly) = self.keypoints["right_eye"], self.keypoints["left_eye"]
        return (rx + lx) / 2, (ry + ly) / 2

    @property
    def roll_deg(self) -> float:
        """Angle of the eye line against the horizontal, degrees (positive: clockwise in the image)."""
        (rx, ry), (lx, ly) = self.keypoints["right_eye"], self.keypoints["left_eye"]
        return float(np.degrees(np.arctan2(ly - ry, lx - rx)))

    @property
    def interocular(self) -> float:
        """Distance between the eyes, px."""
        (rx, ry), (lx, ly) = self.keypoints["right_eye"], self.keypoints["left_eye"]
        return float(np.hypot(lx - rx, ly - ry))

    def scaled(self, s: float, dx: float = 0.0, dy: float = 0.0) -> Face:
        """The face with coordinates multiplied by s, then shifted by (dx, dy)."""
        return Face(
            self.x * s + dx, self.y * s + dy, self.w * s, self.h * s, self.score,
            {k: (x * s + dx, y * s + dy) for k, (x, y) in self.keypoints.items()},
        )


def _aligned(shape: tuple[int, ...], alignment: int = 64) -> np.ndarray:
    """An uninitialised uint8 array whose data starts on an `alignment`-byte boundary.

    LiteRT copies (and logs a warning for) every input that is not 64-byte aligned.
    """
    n = int(np.prod(shape))
    raw = np.empty(n + alignment, np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset : offset + n].reshape(shape)


def downscale(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink img to size (width, height) with area averaging, fast for large factors.

    OpenCV's area filter costs in proportion to the source; past 2× a bilinear pass to twice the
    target first does the bulk cheaply (6× faster on 9 MP) and the area pass removes its aliasing.
    """
    h, w = img.shape[:2]
    tw, th = size
    if w > 4 * tw and h > 4 * th:
        img = cv2.resize(img, (2 * tw, 2 * th), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)


def _as_rgb(bgr: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = bgr.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = downscale(bgr, (round(w * scale), round(h * scale))) if scale < 1 else bgr
    rgb = _aligned(small.shape)
    cv2.cvtColor(small, cv2.COLOR_BGR2RGB, dst=rgb)
    return rgb, scale


class _Task:
    """Lifecycle shared by the MediaPipe task wrappers: explicit close, context manager, close on GC."""

    _task: Any = None

    def close(self) -> None:
        """Release the native graph."""
        if getattr(self, "_task", None) is not None:
            with _quiet_native_stderr():
                self._task.close()
            self._task = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class FaceDetector(_Task):
    """BlazeFace through the MediaPipe Tasks FaceDetector."""

    def __init__(self, model_path: Path, min_confidence: float = 0.5, max_side: int = 640) -> None:
        """Load the model.

        Args:
            model_path: a BlazeFace .tflite (short or full range).
            min_confidence: detection score threshold, 0..1.
            max_side: images are downscaled so their longest side is at most this, px.
        """
        mp, base_options, vision = _mp()
        self._mp = mp
        self.max_side = max_side
        options = vision.FaceDetectorOptions(
            base_options=base_options(model_asset_path=str(model_path)),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_confidence,
        )
        try:
            with _quiet_native_stderr():
                self._task = vision.FaceDetector.create_from_options(options)
        except (RuntimeError, ValueError) as err:
            raise ModelCorrupt(f"cannot load face detector {model_path}: {err}") from err
        _live.add(self)
        _warm_up(self.detect)

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """Faces in a BGR uint8 image, in its pixel coordinates, best score first."""
        rgb, scale = _as_rgb(bgr, self.max_side)
        h, w = rgb.shape[:2]
        result = self._task.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb))
        faces = []
        for det in result.detections:
            box = det.bounding_box
            kps = {
                name: (kp.x * w, kp.y * h) for name, kp in zip(KEYPOINT_NAMES, det.keypoints, strict=False)
            }
            face = Face(float(box.origin_x), float(box.origin_y), float(box.width), float(box.height),
                        float(det.categories[0].score), kps)
            faces.append(face.scaled(1.0 / scale))
        return sorted(faces, key=lambda f: -f.score)



class SelfieSegmenter(_Task):
    """Person/background matte through the MediaPipe Tasks ImageSegmenter."""

    def __init__(self, model_path: Path, max_side: int = 512) -> None:
        """Load the model; images are downscaled to max_side px before inference."""
        mp, base_options, vision = _mp()
        self._mp = mp
        self.max_side = max_side
        options = vision.ImageSegmenterOptions(
            base_options=base_options(model_asset_path=str(model_path)),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        try:
            with _quiet_native_stderr():
                self._task = vision.ImageSegmenter.create_from_options(options)
        except (RuntimeError, ValueError) as err:
            raise ModelCorrupt(f"cannot load selfie segmenter {model_path}: {err}") from err
        _live.add(self)
        _warm_up(self.segment)

    def segment(self, bgr: np.ndarray) -> np.ndarray:
        """Person confidence, float32 0..1, at the (downscaled) inference size; caller resizes."""
        rgb, _ = _as_rgb(bgr, self.max_side)
        result = self._task.segment(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb))
        masks = result.confidence_masks
        # Single-output selfie models give P(person); multi-class ones put background first.
        mask = masks[0].numpy_view() if len(masks) == 1 else 1.0 - masks[0].numpy_view()
        return np.ascontiguousarray(mask.reshape(mask.shape[0], mask.shape[1]).astype(np.float32))

