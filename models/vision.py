"""MediaPipe Tasks wrappers: face detection (BlazeFace short/full range), selfie segmentation, iris landmarks.

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


@dataclass(frozen=True)
class Eye:
    """One eye's landmarks in pixel coordinates of the image it was read from."""

    corners: tuple[tuple[float, float], tuple[float, float]]  # the eye's two corners, image left one first
    iris: tuple[float, float]  # the iris centre


def _with_input_normalization(model: bytes, outputs: int) -> bytes:
    """The .tflite with TFLite metadata saying its float input is RGB scaled to 0..1 and its outputs are features.

    MediaPipe's legacy graphs fed the iris model 0..1 pixels themselves, so its file in the wheel carries
    no metadata; the Tasks API reads that from the model. Written here, in memory, with the schemas
    MediaPipe ships (the pinned file and its sha256 stay as they are).
    """
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md
    from mediapipe.tasks.metadata import schema_py_generated as schema

    def tensor(name: str, kind: int, props: Any, units: list[Any] | None = None) -> Any:
        content = md.ContentT()
        content.contentPropertiesType, content.contentProperties = kind, props
        meta = md.TensorMetadataT()
        meta.name, meta.content, meta.processUnits = name, content, units
        return meta

    norm = md.NormalizationOptionsT()
    norm.mean, norm.std = [0.0], [255.0]
    unit = md.ProcessUnitT()
    unit.optionsType, unit.options = md.ProcessUnitOptions.NormalizationOptions, norm
    image = md.ImagePropertiesT()
    image.colorSpace = md.ColorSpaceType.RGB
    graph = md.SubGraphMetadataT()
    graph.inputTensorMetadata = [tensor("image", md.ContentProperties.ImageProperties, image, [unit])]
    graph.outputTensorMetadata = [tensor(f"output_{i}", md.ContentProperties.FeatureProperties,
                                         md.FeaturePropertiesT()) for i in range(outputs)]
    meta = md.ModelMetadataT()
    meta.name, meta.minParserVersion, meta.subgraphMetadata = "iris_landmark", "1.0.0", [graph]
    builder = flatbuffers.Builder(0)
    builder.Finish(meta.Pack(builder), file_identifier=b"M001")
    tflite = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(bytes(builder.Output()), np.uint8)
    tflite.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = "TFLITE_METADATA", len(tflite.buffers) - 1
    tflite.metadata = [*(tflite.metadata or []), entry]
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tflite.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class IrisLandmarker(_Task):
    """MediaPipe's iris landmark model: a left eye's contour and iris from a 64×64 crop around it.

    Run through the Tasks ImageEmbedder (its outputs are the landmark coordinates, unnormalised). A
    subject's right eye is mirrored into a left eye first, as MediaPipe's own iris graph does.
    """

    SIZE = 64

    def __init__(self, model_path: Path) -> None:
        """Load the model (the pinned file from the mediapipe wheel)."""
        mp, base_options, vision = _mp()
        self._mp = mp
        try:
            model = _with_input_normalization(model_path.read_bytes(), outputs=2)
        except OSError as err:
            raise ModelCorrupt(f"cannot read iris landmark model {model_path}: {err}") from err
        except Exception as err:  # reason: flatbuffers raises struct/index errors of any kind on a damaged file
            raise ModelCorrupt(f"iris landmark model {model_path} is not a TFLite model: {err}") from err
        try:
            options = vision.ImageEmbedderOptions(base_options=base_options(model_asset_buffer=model),
                                                  running_mode=vision.RunningMode.IMAGE,
                                                  l2_normalize=False, quantize=False)
            with _quiet_native_stderr():
                self._task = vision.ImageEmbedder.create_from_options(options)
        except (RuntimeError, ValueError) as err:
            raise ModelCorrupt(f"cannot load iris landmark model {model_path}: {err}") from err
        _live.add(self)
        _warm_up(lambda img: self._landmarks(np.ascontiguousarray(img[:, :, ::-1])))

    def _landmarks(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(71 eye contour points, 5 iris points), x and y in the 64×64 crop's pixels."""
        result = self._task.embed(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb))
        contour, iris = (np.asarray(e.embedding, np.float64).reshape(-1, 3)[:, :2] for e in result.embeddings)
        return contour, iris

    def eye(self, bgr: np.ndarray, center: tuple[float, float], size: float, roll_deg: float,
            right: bool) -> Eye:
        """The landmarks of one eye.

        Args:
            bgr: the image, BGR uint8.
            center: the eye's centre, px.
            size: side of the square crop around it, px (about the eye distance).
            roll_deg: the eye line's angle (Face.roll_deg): the crop is levelled by it.
            right: the subject's right eye (on the image's left in an unmirrored photo).
        """
        n = self.SIZE
        to_crop = cv2.getRotationMatrix2D(center, roll_deg, n / size)
        to_crop[:, 2] += np.array([n / 2 - center[0], n / 2 - center[1]])
        shrink, warp = size / n, to_crop
        if shrink > 1.5:
            # warpAffine samples (its INTER_AREA is bilinear): the eye's own square, blurred to the crop's
            # pixel size first, so a 9 MP photo's eye does not alias into the model's 64 px.
            half = int(0.75 * size) + 2
            x0, y0 = max(0, int(center[0]) - half), max(0, int(center[1]) - half)
            bgr = cv2.GaussianBlur(bgr[y0 : int(center[1]) + half, x0 : int(center[0]) + half], (0, 0),
                                   0.45 * shrink)
            shift = to_crop[:, :2] @ np.array([x0, y0], np.float64)  # to the square's own pixels
            warp = np.column_stack([to_crop[:, :2], to_crop[:, 2] + shift])
        crop = cv2.warpAffine(bgr, warp, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if right:
            crop = crop[:, ::-1]
        rgb = _aligned(crop.shape)
        cv2.cvtColor(crop, cv2.COLOR_BGR2RGB, dst=rgb)
        contour, iris = self._landmarks(rgb)
        if right:
            contour[:, 0], iris[:, 0] = n - contour[:, 0], n - iris[:, 0]
        back = cv2.invertAffineTransform(to_crop)
        points = np.vstack([contour[[0, 8]], iris[:1]]) @ back[:, :2].T + back[:, 2]
        (ax, ay), (bx, by), (ix, iy) = (tuple(map(float, p)) for p in points)
        corners = ((ax, ay), (bx, by)) if ax <= bx else ((bx, by), (ax, ay))
        return Eye(corners, (ix, iy))

