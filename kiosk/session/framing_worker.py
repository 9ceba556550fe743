"""Live framing analysis off the UI thread: face detection on a downscaled frame, guidance hints, stillness.

The worker reads the camera thread's newest frame, runs the short-range face detector, turns the faces
into one hint for the guest and publishes the latest `FramingResult`. The UI only reads that result.
Coordinates are normalised (0..1) in the camera's own, unmirrored frame; hints are phrased for the
mirrored preview the guest sees (moving to their left moves their image to the screen's left).
"""

from __future__ import annotations

import collections
import enum
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kiosk.camera.base import CameraThread
from kiosk.pipeline.framing import FaceProblem, assess, gaze, guest_and_others, looks_away, refine_eyes
from models.vision import Face, IrisLandmarker

log = logging.getLogger(__name__)


class Hint(enum.Enum):
    """One short instruction for the guest; the value is the i18n key suffix."""

    NO_FACE = "no_face"
    ONE_PERSON = "one_person"
    COME_CLOSER = "come_closer"
    STEP_BACK = "step_back"
    MOVE_LEFT = "move_left"
    MOVE_RIGHT = "move_right"
    CHIN_UP = "chin_up"
    LOOK_AT_CAMERA = "look_at_camera"
    HOLD_STILL = "hold_still"
    PERFECT = "perfect"


@dataclass(frozen=True)
class FramingTargets:
    """Where a head-and-shoulders guest should be (fractions of the frame)."""

    face_h_min: float = 0.16
    face_h_max: float = 0.48
    center_x_tol: float = 0.07
    second_face_ratio: float = 0.35
    pitch_max: float = 0.68
    max_yaw_deg: float = 40.0  # the pipeline's limit: a head turned further is refused there too
    still_speed: float = 0.25
    stillness_s: float = 1.5
    moving_speed: float = 0.6  # hysteresis: a still guest counts as moving again only above this, face-heights/s
    framed_slack: float = 0.15  # hysteresis: once framed, the size and centre limits widen by this fraction
    hint_hold_s: float = 0.4  # stability window: a new hint shows once it has held this long, s
    min_score: float = 0.55  # detector score below which a face-like area is not a face to follow


class Detector(Protocol):
    """A face detector: BGR image in, faces in its pixel coordinates out, best first."""

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """Detect faces."""
        ...


@dataclass(frozen=True)
class Box:
    """A normalised box (0..1 of the frame, unmirrored)."""

    x: float
    y: float
    w: float
    h: float


def follow(faces: Sequence[Face], width: int, height: int, t: FramingTargets) -> tuple[Face | None, list[Face]]:
    """(the guest's face, other people's faces) by the pipeline's own rule (framing.guest_and_others)."""
    return guest_and_others(faces, width, height, t.min_score)


def guide(
    faces: Sequence[Face], width: int, height: int, t: FramingTargets, framed_before: bool = False,
    gaze_of: Callable[[Face, float], float | None] | None = None,
) -> tuple[Hint, Box | None]:
    """The one hint for these faces, and the guest's face box (normalised); pure, unit-tested.

    The guest is the most plausible face (follow()); whether it can make a headshot (turned away, cut
    off) is decided by the studio pipeline's own judge (kiosk.pipeline.framing.assess), so live guidance
    never calls a face "perfect" that the pipeline then refuses; the hints add where the guest should
    stand. framed_before widens the size and centre limits by `framed_slack` (hysteresis: a guest right
    at a limit does not flicker between "perfect" and a correction). gaze_of(face, yaw) reads the eyes
    (kiosk.pipeline.framing.gaze), asked only of a guest who is otherwise perfectly framed: eyes off the
    lens hear "look at the camera".
    """
    main, others = follow(faces, width, height, t)
    if main is None:
        return Hint.NO_FACE, None
    judged = assess([main], width, height, min_face_px=0.0, max_yaw_deg=t.max_yaw_deg)
    box = Box(main.x / width, main.y / height, main.w / width, main.h / height)
    if any(f.w * f.h >= t.second_face_ratio * main.w * main.h for f in others):
        return Hint.ONE_PERSON, box
    slack = t.framed_slack if framed_before else 0.0
    if box.h < t.face_h_min * (1.0 - slack):
        return Hint.COME_CLOSER, box
    if box.h > t.face_h_max * (1.0 + slack) or box.y < 0.02 or box.y + box.h > 0.9:
        return Hint.STEP_BACK, box
    cx = box.x + box.w / 2
    tol = t.center_x_tol * (1.0 + slack)
    # Raw x < 0.5 shows on the screen's right in the mirror: the guest should move to their left.
    if cx < 0.5 - tol:
        return Hint.MOVE_LEFT, box
    if cx > 0.5 + tol:
        return Hint.MOVE_RIGHT, box
    if judged.problem is FaceProblem.CUT_OFF:
        return Hint.STEP_BACK, box
    kp = main.keypoints
    if all(k in kp for k in ("right_eye", "left_eye", "nose", "mouth")):
        eye_y = (kp["right_eye"][1] + kp["left_eye"][1]) / 2
        span = kp["mouth"][1] - eye_y
        if span > 1e-6 and (kp["nose"][1] - eye_y) / span > t.pitch_max:
            return Hint.CHIN_UP, box
    if judged.problem is FaceProblem.TURNED_AWAY:
        return Hint.LOOK_AT_CAMERA, box
    if gaze_of is not None and looks_away(gaze_of(main, judged.yaw_deg)):
        return Hint.LOOK_AT_CAMERA, box
    return Hint.PERFECT, box


class HintFilter:
    """Stability window: a new hint is shown once it has held `hold_s` (the first one at once)."""

    def __init__(self, hold_s: float) -> None:
        """No hint shown yet."""
        self.hold_s = hold_s
        self.shown: Hint | None = None
        self._candidate: Hint | None = None
        self._since = 0.0

    def update(self, hint: Hint, now: float) -> Hint:
        """Feed the raw hint of one frame; the hint to show."""
        if self.shown is None or hint is self.shown:
            self.shown, self._candidate = hint, None
            return hint
        if hint is not self._candidate:
            self._candidate, self._since = hint, now
        if now - self._since >= self.hold_s:
            self.shown, self._candidate = hint, None
        return self.shown


class NearFarDetector:
    """The short-range detector, and the full-range one when it finds no face or only small ones.

    The short-range BlazeFace misses a guest standing a few metres back; the full-range model finds them, so
    the guest hears "come closer" instead of "step in front of the camera". It runs only on such frames.
    """

    def __init__(self, near: Detector, far: Detector | None, small: float = 0.12,
                 eyes: IrisLandmarker | None = None) -> None:
        """Set up.

        Args:
            near: the short-range detector.
            far: the full-range detector, for a distant guest (None: not used).
            small: a face below this fraction of the frame's height is small.
            eyes: the iris landmark model, to say whether the guest looks at the lens (None: not judged).
        """
        self.near = near
        self.far = far
        self.small = small
        self.eyes = eyes

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """Faces from the near model, plus the far model's that the near one did not find."""
        faces = self.near.detect(bgr)
        if self.far is None or (faces and max(f.h for f in faces) >= self.small * bgr.shape[0]):
            return faces
        known = faces
        for f in self.far.detect(bgr):
            fx, fy = f.center
            if not any(abs(fx - g.center[0]) <= g.w / 2 and abs(fy - g.center[1]) <= g.h / 2 for g in known):
                faces = [*faces, f]
        return faces

    def gaze(self, bgr: np.ndarray, face: Face, yaw_deg: float) -> float | None:
        """The guest's gaze reading in this frame (kiosk.pipeline.framing.gaze); None without the eye model."""
        return gaze(self.eyes, bgr, refine_eyes(bgr, face), yaw_deg) if self.eyes is not None else None

    def close(self) -> None:
        """Close the detectors and the eye model."""
        for d in (self.near, self.far, self.eyes):
            close = getattr(d, "close", None)
            if callable(close):
                close()


class GazeReader:
    """The guest's gaze (a detector's gaze(bgr, face, yaw)) read at most once every `period_s`.

    The iris model costs about 5 ms for both eyes, more than the face detector itself; a glance away
    lasts longer than 0.2 s, and the hint's stability window (0.4 s) still sees two readings. Between
    readings the last one stands.
    """

    def __init__(self, read: Callable[[np.ndarray, Face, float], float | None],
                 clock: Callable[[], float], period_s: float = 0.2) -> None:
        """Set up.

        Args:
            read: the reading (NearFarDetector.gaze).
            clock: monotonic seconds.
            period_s: seconds between reads.
        """
        self.read = read
        self.clock = clock
        self.period_s = period_s
        self.reads = 0
        self._at: float | None = None
        self._value: float | None = None

    def __call__(self, bgr: np.ndarray, face: Face, yaw_deg: float) -> float | None:
        """The latest reading, refreshed from this frame when the last one is `period_s` old."""
        now = self.clock()
        if self._at is None or now - self._at >= self.period_s:
            self._value, self._at = self.read(bgr, face, yaw_deg), now
            self.reads += 1
        return self._value


@dataclass(frozen=True)
class FramingResult:
    """The worker's latest finding."""

    seq: int
    hint: Hint
    box: Box | None
    framed: bool
    still_s: float
    ready: bool
    analysis_ms: float
    t: float


class Stillness:
    """Tracks how long a framed face has been still (its drift below `still_speed` face-heights/s).

    The drift is measured over the last `window_s` (not frame to frame), so a detector's jitter on a still
    face averages out instead of growing with the frame rate; with hysteresis on top (moving_speed).
    """

    window_s = 0.5

    def __init__(self, targets: FramingTargets) -> None:
        """Start with no history."""
        self.targets = targets
        self._seen: collections.deque[tuple[float, Box]] = collections.deque()
        self._since: float | None = None

    def update(self, box: Box | None, framed: bool, now: float) -> float:
        """Feed one observation; return the seconds the guest has been framed and still."""
        if box is None or not framed:
            self._seen.clear()
            self._since = None
            return 0.0
        self._seen.append((now, box))
        while len(self._seen) > 2 and now - self._seen[1][0] >= self.window_s:
            self._seen.popleft()
        t0, b0 = self._seen[0]
        speed = 0.0
        if now - t0 > 1e-3:
            move = (abs(box.x + box.w / 2 - b0.x - b0.w / 2) + abs(box.y - b0.y) + abs(box.h - b0.h)) / box.h
            speed = move / (now - t0)
        # Hysteresis: still below still_speed; a guest already still counts as moving only above
        # moving_speed, so what is left of the jitter does not restart the timer.
        limit = self.targets.moving_speed if self._since is not None else self.targets.still_speed
        if speed > limit:
            self._since = None
            return 0.0
        if self._since is None:
            self._since = now
        return now - self._since


class FramingWorker:
    """Thread that analyses the newest camera frame and publishes the latest FramingResult."""

    def __init__(
        self,
        camera: CameraThread,
        detector_factory: Callable[[], Detector],
        targets: FramingTargets | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_rate_hz: float = 15.0,
    ) -> None:
        """Set up; the detector is built on the worker thread (MediaPipe tasks are not thread-safe).

        Args:
            camera: the camera thread to read from.
            detector_factory: builds the detector (the short-range BlazeFace on a downscaled frame).
            targets: framing targets and stillness time.
            clock: monotonic seconds.
            max_rate_hz: at most this many analyses per second, leaving CPU for the preview.
        """
        self.camera = camera
        self.detector_factory = detector_factory
        self.targets = targets or FramingTargets()
        self.clock = clock
        self.min_period = 1.0 / max_rate_hz
        self._lock = threading.Lock()
        self._result: FramingResult | None = None
        self._stop = threading.Event()
        self._active = threading.Event()
        self._thread: threading.Thread | None = None
        self._still = Stillness(self.targets)
        self._hints = HintFilter(self.targets.hint_hold_s)
        self._framed = False
        self.analyses = 0
        self.error: str | None = None

    def start(self) -> None:
        """Start the thread (idle until resume())."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="framing", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        self._active.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def alive(self) -> bool:
        """Whether its thread is running (the appliance's watchdog asks)."""
        return self._thread is not None and self._thread.is_alive()

    def resume(self) -> None:
        """Analyse frames (live framing and countdown screens); resets the stillness timer and the hints."""
        self._still = Stillness(self.targets)
        self._hints = HintFilter(self.targets.hint_hold_s)
        self._framed = False
        with self._lock:
            self._result = None
        self._active.set()

    def pause(self) -> None:
        """Stop analysing (other screens), freeing the CPU."""
        self._active.clear()

    @property
    def active(self) -> bool:
        """Whether frames are being analysed."""
        return self._active.is_set()

    def latest(self) -> FramingResult | None:
        """The newest result (None until one exists since the last resume())."""
        with self._lock:
            return self._result

    def _run(self) -> None:
        try:
            detector = self.detector_factory()
        except Exception as err:  # reason: reported to the UI as a failsafe cause, not a crash
            log.exception("face detector failed to load")
            self.error = f"face detector failed to load: {err}"
            return
        try:
            self._loop(detector)
        finally:
            close = getattr(detector, "close", None)
            if callable(close):
                close()

    def _loop(self, detector: Detector) -> None:
        last_seq = 0
        # A detector that can read the eyes (NearFarDetector with the iris model) judges the gaze too.
        read = getattr(detector, "gaze", None)
        eyes = GazeReader(read, self.clock) if callable(read) else None
        while not self._stop.is_set():
            if not self._active.wait(0.2):
                continue
            frame = self.camera.latest()
            if frame is None or frame.seq == last_seq:
                self._stop.wait(0.005)
                continue
            last_seq = frame.seq
            t0 = time.monotonic()
            try:
                faces = detector.detect(frame.image)
            except Exception:  # reason: one bad frame must not stop guidance
                log.exception("face detection failed on a frame")
                continue
            ms = (time.monotonic() - t0) * 1000.0
            h, w = frame.image.shape[:2]
            gaze_of = functools.partial(eyes, frame.image) if eyes is not None else None
            hint, box = guide(faces, w, h, self.targets, framed_before=self._framed, gaze_of=gaze_of)
            framed = self._framed = hint is Hint.PERFECT
            now = self.clock()
            still = self._still.update(box, framed, now)
            if framed and still < self.targets.stillness_s:
                hint = Hint.HOLD_STILL if still == 0.0 else Hint.PERFECT
            ready = framed and still >= self.targets.stillness_s
            # The guest reads a steady hint; the outline (box, framed) and readiness follow this frame.
            hint = self._hints.update(hint, now)
            with self._lock:
                if self._active.is_set():
                    self._result = FramingResult(frame.seq, hint, box, framed, still, ready, ms, now)
            self.analyses += 1
            rest = self.min_period - (time.monotonic() - t0)
            if rest > 0:
                self._stop.wait(rest)
