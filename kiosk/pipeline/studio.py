"""The studio pipeline: photo in, composed headshot out (detect, frame, matte, light, retouch, backdrop)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.errors import InputError, NoUsableFace
from kiosk.pipeline import background, compose, light, retouch
from kiosk.pipeline.colour import delta_e2000, mean_lab
from kiosk.pipeline.config import PipelineConfig
from kiosk.pipeline.formats import FormatSpec, get_format
from kiosk.pipeline.framing import Assessment, assess, gaze, looks_away, refine_eyes
from kiosk.pipeline.matting import head_box, merge_head, refine_matte
from kiosk.pipeline.skin import face_roi, skin_mask
from models.errors import ModelError
from models.store import ModelStore
from models.vision import Face, FaceDetector, IrisLandmarker, SelfieSegmenter, downscale

log = logging.getLogger(__name__)

TRANSPARENT = "transparent"  # no backdrop: the guest's own colours, with the matte as the alpha channel
OUTPUT_STYLES = (*background.STYLES, TRANSPARENT)
MATTE_SIDE = 1600  # longest side the input-frame matte is computed at, px
HEAD_SIDE = 256  # the head crop is shrunk to this before the segmenter (its own input size), px


@dataclass
class StudioResult:
    """A composed headshot and what the pipeline noticed making it."""

    image: np.ndarray  # BGR uint8 at the format's size
    mask: np.ndarray  # float32 0..1 person matte, same size
    face: Face  # the guest's face in output coordinates (first cell)
    source_face: Face  # the guest's face in input coordinates
    spec: FormatSpec
    style: str
    transform: np.ndarray  # 2×3 affine, input px -> first cell px
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    light: light.LightCorrection | None = None
    # The skin region before and after the retouch (BGR uint8 patches) and its mask (float32 0..1).
    retouch_skin: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    gaze: float | None = None  # the eyes' iris offset (framing.gaze); None where not judged

    def bgra(self) -> np.ndarray:
        """The headshot with the matte as its alpha channel, BGRA uint8 (for PNG)."""
        alpha = np.clip(self.mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.dstack([self.image, alpha])

    @cached_property
    def retouch_delta_e(self) -> float | None:
        """ΔE2000 of the mean skin colour across the retouch step (None without skin to measure).

        Measured when asked (the fairness benchmark does), not on every headshot: a kiosk never reads it.
        """
        if self.retouch_skin is None:
            return None
        before, after, skin = self.retouch_skin
        if not (skin > 0.5).any():
            return None
        return float(delta_e2000(mean_lab(before, skin), mean_lab(after, skin)))

    @property
    def eye_line_y(self) -> float:
        """Eye line of the first cell in output px."""
        return self.face.eye_center[1]


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def stage(self, name: str) -> _Stage:
        return _Stage(self.ms, name)


class _Stage:
    def __init__(self, sink: dict[str, float], name: str) -> None:
        self.sink, self.name = sink, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.sink[self.name] = self.sink.get(self.name, 0.0) + (time.perf_counter() - self.t0) * 1000.0


class StudioPipeline:
    """Loads the vision models once; turns photos into headshots. One instance per thread."""

    def __init__(
        self,
        models_dir: Path,
        config: PipelineConfig | None = None,
        profile: Any = None,
    ) -> None:
        """Prepare the pipeline; models load on first use.

        Args:
            models_dir: folder of installed model files (see `kiosk models fetch`).
            config: pipeline settings (defaults when None).
            profile: a calibration profile with `apply(bgr) -> bgr`, applied to every photo first.
        """
        self.config = config or PipelineConfig()
        self.store = ModelStore(models_dir)
        self.profile = profile
        self._lock = threading.Lock()
        self._short: FaceDetector | None = None
        self._full: FaceDetector | None = None
        self._segmenter: SelfieSegmenter | None = None
        self._eyes: IrisLandmarker | None = None
        self._eyes_missing = False
        self._custom: np.ndarray | None = None
        self._executor: ThreadPoolExecutor | None = None

    def reconfigure(self, config: PipelineConfig) -> None:
        """New settings (brand colour, event backdrop) for the next headshot; the models stay loaded."""
        with self._lock:
            self.config = config
            self._custom = None  # the new backdrop file is read at its first use

    # -- models ------------------------------------------------------------------------------------
    def _detector(self, which: str) -> FaceDetector:
        if which == "short":
            if self._short is None:
                self._short = FaceDetector(self.store.path("face_detector_short"), min_confidence=0.5, max_side=640)
            return self._short
        if self._full is None:
            self._full = FaceDetector(self.store.path("face_detector_full"), min_confidence=0.5, max_side=1280)
        return self._full

    def segmenter(self) -> SelfieSegmenter:
        """The selfie segmenter (loaded on first use)."""
        if self._segmenter is None:
            self._segmenter = SelfieSegmenter(self.store.path("selfie_segmenter"), max_side=512)
        return self._segmenter

    def eyes(self) -> IrisLandmarker | None:
        """The iris landmark model (loaded on first use); None where it is missing or damaged (gaze unjudged).

        A models folder from before it was pinned lacks it; a headshot never fails for want of it.
        """
        if self._eyes is None and not self._eyes_missing:
            try:
                self._eyes = IrisLandmarker(self.store.path("iris_landmarks"))
            except ModelError as err:
                log.warning("gaze is not judged: %s", err)
                self._eyes_missing = True
        return self._eyes

    def close(self) -> None:
        """Release the native model graphs."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for task in (self._short, self._full, self._segmenter, self._eyes):
            if task is not None:
                task.close()
        self._short = self._full = self._segmenter = self._eyes = None

    def __enter__(self) -> StudioPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- stages ------------------------------------------------------------------------------------
    def detect(self, bgr: np.ndarray, thorough: bool = False) -> list[Face]:
        """Faces in the photo: the short-range model first, the full-range one for small/distant faces.

        thorough: always add the full-range model's faces too (small faces beside a large one), and where
            both models found a face keep the surer one (a small face next to a large one scores low in
            the short-range model).
        """
        faces = self._detector("short").detect(bgr)
        if thorough or not faces or max(f.h for f in faces) < 0.12 * min(bgr.shape[:2]):
            faces = self._merge(faces, self._detector("full").detect(bgr), by_score=thorough)
        return faces

    @staticmethod
    def _merge(a: list[Face], b: list[Face], by_score: bool = False) -> list[Face]:
        out = list(a)
        for f in b:
            fx, fy = f.center
            same = [i for i, g in enumerate(out)
                    if abs(fx - g.center[0]) <= g.w / 2 and abs(fy - g.center[1]) <= g.h / 2]
            if not same:
                out.append(f)
            elif by_score and f.score > out[same[0]].score:
                out[same[0]] = f
        return out

    def analyse(self, bgr: np.ndarray) -> Assessment:
        """Choose the guest's face; raise NoUsableFace with a clear reason when there is none to use."""
        h, w = bgr.shape[:2]
        result = assess(self.detect(bgr), w, h, min_face_px=self.config.min_face_px)
        if result.problem is not None:
            raise NoUsableFace(result.message, result.problem.value)
        assert result.face is not None
        return replace(result, face=refine_eyes(bgr, result.face))

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        """Apply the calibration profile (if any) to a capture."""
        return self.profile.apply(bgr) if self.profile is not None else bgr

    def headshot(
        self,
        bgr: np.ndarray,
        style: str | None = None,
        fmt: str | FormatSpec | None = None,
        analysis: Assessment | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> StudioResult:
        """Compose a headshot of the guest in `bgr` in the given style and format.

        Args:
            bgr: the photo, BGR uint8 (already calibrated if `analysis` is given).
            style: backdrop style (default: config).
            fmt: output format, by name or as a spec (default: config).
            analysis: a previous `analyse()` of the same photo, to skip detection.
            progress: called with (stage name, fraction 0..1) as the work advances.
        """
        style = style or self.config.default_style
        if style not in OUTPUT_STYLES:
            raise InputError(f"unknown style '{style}' (choose one of: {', '.join(OUTPUT_STYLES)})")
        try:
            spec = fmt if isinstance(fmt, FormatSpec) else get_format(fmt or self.config.default_format)
        except ValueError as err:
            raise InputError(str(err)) from err
        report = progress or (lambda _stage, _frac: None)
        timer = _Timer()
        with self._lock:
            if analysis is None:
                bgr = self.prepare(bgr)
                with timer.stage("detect"):
                    analysis = self.analyse(bgr)
            assert analysis.face is not None  # analyse() raised otherwise
            report("detect", 0.15)
            notes = list(analysis.notes)
            face = analysis.face
            with timer.stage("compose"):
                matrix = compose.headshot_transform(face, spec, (bgr.shape[1], bgr.shape[0]))
                out_face = compose.transform_face(face, matrix)
                cell, valid = compose.warp_to_cell(bgr, matrix, spec.cell, compose.head_clearance(out_face))
            scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
            if scale > 2.0:
                notes.append(f"low-resolution photo: enlarged {scale:.1f}×, expect a soft result")
            if valid is not None and float((valid[::4, ::4] < 0.5).mean()) > 0.03:
                notes.append("the photo ends inside the frame: the backdrop fills the gap")
            report("compose", 0.3)
            # One small pyramid serves the segmenter, the guided filter, light and the compositor.
            ch_, cw_ = cell.shape[:2]
            half = downscale(cell, (cw_ // 2, ch_ // 2))
            quarter = downscale(half, (cw_ // 4, ch_ // 4))
            # The matte does not depend on light or retouch (nor they on it): it runs on the second
            # core while this thread does them. OpenCV, numpy and MediaPipe release the GIL.
            others = [compose.transform_face(f, matrix) for f in analysis.others]
            matte_job = self._pool().submit(self._matte, cell, valid, half, quarter, timer, out_face, others)
            with timer.stage("gaze"):
                # On this thread while the matte runs on the other (it has the time to spare).
                eyes = self.eyes()
                reading = gaze(eyes, cell, out_face, analysis.yaw_deg) if eyes is not None else None
                if looks_away(reading):
                    notes.append("the eyes look away from the lens: a photo looking into the lens makes a "
                                 "better headshot")
            with timer.stage("light"):
                roi = face_roi(out_face, cell.shape, grow=retouch.ROI_GROW)
                skin = skin_mask(cell, out_face, roi)
                corr = light.estimate(cell, out_face, valid, roi, skin, small=quarter)
                cell = light.apply(cell, corr)
                quarter = light.apply(quarter, corr)
            with timer.stage("retouch"):
                x0, y0, x1, y1 = roi
                before = cell[y0:y1, x0:x1].copy()
                cell = retouch.retouch(cell, out_face, self.config.retouch_strength, skin)
                retouch_skin = (before, cell[y0:y1, x0:x1].copy(), skin)
            report("retouch", 0.75)
            alpha = matte_job.result()
            report("matte", 0.85)
            with timer.stage("compose"):
                if style == TRANSPARENT:
                    # Colour where alpha is 0 would still be the old background in the file: cleared.
                    fg = background.estimate_foreground(cell, alpha, small=quarter)
                    cell = cv2.multiply(fg, np.dstack([(alpha >= 0.5 / 255.0).astype(np.uint8)] * 3))
                else:
                    backdrop = background.render_background(
                        style, spec.cell, brand_bgr=background.hex_to_bgr(self.config.brand_color),
                        custom=self._custom_background() if style == "custom" else None, photo=cell, alpha=alpha,
                    )
                    cell = background.composite(cell, alpha, backdrop, small=quarter)
                image = compose.place_cells([cell] * spec.copies, spec)
                mask = alpha
                if spec.page is not None:
                    mask = compose.place_cells([np.dstack([alpha] * 3)] * spec.copies, spec, (0, 0, 0))[..., 0]
                    ox, oy = spec.cell_origins()[0]
                    out_face = out_face.scaled(1.0, ox, oy)
            report("done", 1.0)
        return StudioResult(image, mask.astype(np.float32), out_face, face, spec, style, matrix,
                            notes, timer.ms, corr, retouch_skin, gaze=reading)

    def _matte(
        self, cell: np.ndarray, valid: np.ndarray | None, half: np.ndarray, quarter: np.ndarray, timer: _Timer,
        face: Face, others: list[Face],
    ) -> np.ndarray:
        with timer.stage("matte"):
            coarse = self._coarse(quarter, face, (cell.shape[1], cell.shape[0]))
            return refine_matte(cell, coarse, valid, pyramid=(half, quarter), face=face, others=others)

    def _coarse(self, image: np.ndarray, face: Face, size: tuple[int, int]) -> np.ndarray:
        """Person confidence: the whole picture, then a closer look at the guest's head merged in.

        Args:
            image: the picture, any resolution (the head crop is cut from it).
            face: the guest's face in px of a picture of `size`.
            size: (width, height) the face's coordinates refer to, px.
        """
        segmenter = self.segmenter()
        coarse = segmenter.segment(image)
        ih, iw = image.shape[:2]
        sx, sy = iw / size[0], ih / size[1]
        x0, y0, x1, y1 = head_box(face, size)
        crop = image[round(y0 * sy) : round(y1 * sy), round(x0 * sx) : round(x1 * sx)]
        if min(crop.shape[:2]) < 16:
            return coarse
        # The model sees 256 px whatever it is given: shrinking first saves the copy and conversion.
        ch, cw = crop.shape[:2]
        s = min(1.0, HEAD_SIDE / max(ch, cw))
        if s < 1.0:
            crop = downscale(crop, (max(1, round(cw * s)), max(1, round(ch * s))))
        return merge_head(coarse, segmenter.segment(crop), (x0, y0, x1, y1), size)

    def matte(self, bgr: np.ndarray, analysis: Assessment | None = None) -> np.ndarray:
        """The guest's matte in the photo's own frame: float32 0..1, the photo's size.

        Args:
            bgr: the photo, BGR uint8 (already calibrated if `analysis` is given).
            analysis: a previous `analyse()` of the same photo, to skip detection.
        """
        with self._lock:
            if analysis is None:
                analysis = self.analyse(self.prepare(bgr))
            assert analysis.face is not None  # analyse() raised otherwise
            h, w = bgr.shape[:2]
            # The segmenter sees at most 512 px; the filter works on a copy of at most MATTE_SIDE px
            # and its alpha is upsampled (a 9 MP matte costs no more than a cell's).
            s = min(1.0, MATTE_SIDE / max(h, w))
            work = downscale(bgr, (round(w * s), round(h * s))) if s < 1.0 else bgr
            face = analysis.face.scaled(s)
            others = [f.scaled(s) for f in analysis.others]
            coarse = self._coarse(work, face, (work.shape[1], work.shape[0]))
            alpha = refine_matte(work, coarse, face=face, others=others)
        return cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR) if s < 1.0 else alpha

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-matte")
        return self._executor

    def _custom_background(self) -> np.ndarray:
        if self._custom is None:
            path = self.config.custom_background
            if path is None:
                raise InputError("style 'custom' needs pipeline.custom_background set to an image file in kiosk.toml")
            from kiosk.pipeline.imageio import load_image

            self._custom = load_image(path).bgr
        return self._custom


def downscale_for_preview(bgr: np.ndarray, max_side: int = 480) -> np.ndarray:
    """A small copy for thumbnails and review screens."""
    h, w = bgr.shape[:2]
    s = min(1.0, max_side / max(h, w))
    return cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else bgr
