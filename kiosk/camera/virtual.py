"""A virtual camera for the demo and the tests: plays a still image with gentle motion, or a video in a loop.

It can be "unplugged" and "plugged back" (`unplug()` / `replug()`) to exercise the disconnect path.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from kiosk.camera.base import Camera, CameraDisconnected, CameraError, register_backend
from kiosk.camera.config import VirtualCameraConfig

ASSETS = Path(__file__).resolve().parents[1] / "assets"
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"}


def demo_portrait_path() -> Path:
    """The bundled demo portrait (the sample the `kiosk demo` session runs on)."""
    for name in ("sample_portrait.png", "sample_portrait.jpg", "demo_portrait.jpg"):
        if (ASSETS / name).is_file():
            return ASSETS / name
    found = sorted(p for p in ASSETS.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not found:
        raise CameraError(f"no demo portrait bundled in {ASSETS}; set camera.source to an image or video")
    return found[0]


def fit_into(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Contain-fit img into width×height over a blurred cover-fit copy of itself (no bars, no crop)."""
    h, w = img.shape[:2]
    cover = max(width / w, height / h)
    bg = cv2.resize(img, (max(1, round(w * cover)), max(1, round(h * cover))), interpolation=cv2.INTER_AREA)
    y0, x0 = (bg.shape[0] - height) // 2, (bg.shape[1] - width) // 2
    bg = bg[y0 : y0 + height, x0 : x0 + width]
    bg = cv2.GaussianBlur(cv2.resize(bg, (width // 8 or 1, height // 8 or 1)), (0, 0), 3)
    out = cv2.resize(bg, (width, height), interpolation=cv2.INTER_LINEAR)
    contain = min(width / w, height / h)
    fg = cv2.resize(
        img, (max(1, round(w * contain)), max(1, round(h * contain))), interpolation=cv2.INTER_AREA
    )
    fy, fx = (height - fg.shape[0]) // 2, (width - fg.shape[1]) // 2
    out[fy : fy + fg.shape[0], fx : fx + fg.shape[1]] = fg
    return out


class VirtualCamera(Camera):
    """Plays `source` (an image or a video) at `fps`, paced by its own clock."""

    def __init__(self, config: VirtualCameraConfig, clock: Callable[[], float] = time.monotonic) -> None:
        """Prepare the source (decoded lazily at open())."""
        self.config = config
        self.clock = clock
        self._plugged = threading.Event()
        self._plugged.set()
        self._still: np.ndarray | None = None
        self._video: cv2.VideoCapture | None = None
        self._t0 = 0.0
        self._next = 0.0
        self._n = 0
        self.source = config.source or demo_portrait_path()
        self._held: np.ndarray | None = None

    @property
    def fps(self) -> float:
        """Frames per second produced."""
        return self.config.fps

    def unplug(self) -> None:
        """Simulate pulling the cable: reads fail until replug()."""
        self._plugged.clear()

    def replug(self) -> None:
        """Simulate plugging the camera back in."""
        self._plugged.set()

    def hold_up(self, image: np.ndarray | None) -> None:
        """Show a BGR image in front of the source until called with None (a badge held up to the camera)."""
        self._held = None if image is None else fit_into(image, self.config.width, self.config.height)

    @property
    def plugged(self) -> bool:
        """Whether the simulated cable is in."""
        return self._plugged.is_set()

    def open(self) -> None:
        """Decode the source; raise CameraDisconnected while unplugged."""
        if not self._plugged.is_set():
            raise CameraDisconnected("virtual camera unplugged")
        cfg = self.config
        if not self.source.is_file():
            raise CameraError(f"camera.source {self.source} does not exist (give an image or video file)")
        if self.source.suffix.lower() in VIDEO_SUFFIXES:
            cap = cv2.VideoCapture(str(self.source))
            if not cap.isOpened():
                raise CameraError(f"camera.source {self.source}: cannot open the video")
            self._video = cap
        elif self._still is None:
            img = cv2.imread(str(self.source), cv2.IMREAD_COLOR)
            if img is None:
                raise CameraError(f"camera.source {self.source}: not an image or video OpenCV can read")
            if cfg.mirror_source:
                img = cv2.flip(img, 1)
            self._still = fit_into(img, cfg.width, cfg.height)
        self._t0 = self._next = self.clock()
        self._n = 0

    def _pace(self) -> None:
        self._next += 1.0 / self.config.fps
        delay = self._next - self.clock()
        if delay > 0:
            time.sleep(delay)  # frame pacing, as a real sensor's exposure would block
        else:
            self._next = self.clock()

    def read(self) -> np.ndarray:
        """The next frame; raise CameraDisconnected while unplugged."""
        self._pace()
        if not self._plugged.is_set():
            raise CameraDisconnected("virtual camera unplugged")
        self._n += 1
        held = self._held
        if held is not None:
            return held.copy()
        if self._video is not None:
            ok, frame = self._video.read()
            if not ok:
                self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._video.read()
                if not ok:
                    raise CameraDisconnected("virtual camera: the video yields no frames")
            if self.config.mirror_source:
                frame = cv2.flip(frame, 1)
            return fit_into(frame, self.config.width, self.config.height)
        assert self._still is not None
        return self._move(self._still, self.clock() - self._t0)

    def _move(self, img: np.ndarray, t: float) -> np.ndarray:
        """Gentle sinusoidal sway and breathing zoom, `motion` % of the frame."""
        amp = self.config.motion / 100.0
        if amp <= 0:
            return img.copy()
        h, w = img.shape[:2]
        dx = amp * w * math.sin(2 * math.pi * t / 7.0)
        dy = 0.5 * amp * h * math.sin(2 * math.pi * t / 5.3)
        s = 1.0 + amp * (0.5 + 0.5 * math.sin(2 * math.pi * t / 9.1))
        m = np.array([[s, 0, (1 - s) * w / 2 + dx], [0, s, (1 - s) * h / 2 + dy]], dtype=np.float32)
        return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def capture_still(self) -> np.ndarray | None:
        """The un-moved source at full frame size (a still camera's sharp capture)."""
        return None

    def close(self) -> None:
        """Release a video source."""
        if self._video is not None:
            self._video.release()
            self._video = None


register_backend("virtual", VirtualCameraConfig, VirtualCamera)
