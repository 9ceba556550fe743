"""A UVC/V4L2 camera through OpenCV (device, resolution, fps, pixel format from `[camera]`)."""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from kiosk.camera.base import Camera, CameraDisconnected, register_backend
from kiosk.camera.config import OpenCVCameraConfig

log = logging.getLogger(__name__)


class OpenCVCamera(Camera):
    """cv2.VideoCapture on the V4L2 backend."""

    def __init__(self, config: OpenCVCameraConfig) -> None:
        """Remember the settings; the device opens in open()."""
        self.config = config
        self._cap: cv2.VideoCapture | None = None

    @property
    def fps(self) -> float:
        """Requested frames per second."""
        return self.config.fps

    def open(self) -> None:
        """Open and configure the device; CameraDisconnected when it is absent."""
        dev = self.config.device
        target: int | str = int(dev) if dev.isdigit() else dev
        if isinstance(target, str) and not os.path.exists(target):
            # Checked first: OpenCV would log a warning on every reconnect attempt.
            raise CameraDisconnected(f"camera {dev} is not plugged in")
        cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise CameraDisconnected(f"camera {dev} is not available")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.config.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
        cap.set(cv2.CAP_PROP_FPS, self.config.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep latency to one frame
        got = (
            cap.get(cv2.CAP_PROP_FRAME_WIDTH),
            cap.get(cv2.CAP_PROP_FRAME_HEIGHT),
            cap.get(cv2.CAP_PROP_FPS),
        )
        log.info("camera %s opened at %.0fx%.0f %.0f fps", dev, *got)
        self._cap = cap

    def read(self) -> np.ndarray:
        """The next frame; CameraDisconnected when the device stops delivering."""
        if self._cap is None:
            raise CameraDisconnected("camera not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraDisconnected(f"camera {self.config.device} stopped delivering frames")
        return frame

    def close(self) -> None:
        """Release the device."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


register_backend("opencv", OpenCVCameraConfig, OpenCVCamera)
