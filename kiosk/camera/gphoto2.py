"""A still camera through the `gphoto2` command (optional): MJPEG live view for the preview, full stills.

Needs the `gphoto2` program (Debian package `gphoto2`); without it the backend reports a clear error.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from kiosk.camera.base import Camera, CameraDisconnected, CameraError, register_backend
from kiosk.camera.config import GPhoto2CameraConfig

_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"


def gphoto2_available() -> bool:
    """Whether the gphoto2 program is installed."""
    return shutil.which("gphoto2") is not None


def split_mjpeg(buf: bytearray) -> bytes | None:
    """Pop the first complete JPEG from an MJPEG byte stream buffer (None when none is complete yet)."""
    start = buf.find(_SOI)
    if start < 0:
        buf.clear()
        return None
    end = buf.find(_EOI, start + 2)
    if end < 0:
        if start:
            del buf[:start]
        return None
    jpg = bytes(buf[start : end + 2])
    del buf[: end + 2]
    return jpg


class GPhoto2Camera(Camera):
    """Live view from `gphoto2 --capture-movie --stdout`; stills from `--capture-image-and-download`."""

    def __init__(self, config: GPhoto2CameraConfig) -> None:
        """Remember the settings."""
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = bytearray()

    @property
    def fps(self) -> float:
        """Live-view frames per second."""
        return self.config.preview_fps

    def _base(self) -> list[str]:
        exe = shutil.which("gphoto2")
        if exe is None:
            raise CameraError(
                "camera.backend is 'gphoto2' but the gphoto2 program is missing (apt-get install gphoto2)"
            )
        return [exe] + (["--port", self.config.port] if self.config.port else [])

    def open(self) -> None:
        """Start the live-view stream."""
        self._proc = subprocess.Popen(  # fixed argv, no shell
            [*self._base(), "--capture-movie", "--stdout"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )

    def read(self) -> np.ndarray:
        """The next live-view frame."""
        if self._proc is None or self._proc.stdout is None:
            raise CameraDisconnected("gphoto2 live view not running")
        while True:
            jpg = split_mjpeg(self._buf)
            if jpg is not None:
                img = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
                if img is not None:
                    return img
                continue
            chunk = self._proc.stdout.read1(65536)  # type: ignore[attr-defined]  # reason: BufferedReader
            if not chunk:
                raise CameraDisconnected("gphoto2 live view ended (camera off or unplugged)")
            self._buf.extend(chunk)

    def capture_still(self) -> np.ndarray | None:
        """A full-resolution still (live view is stopped for it, then restarted)."""
        self.close()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "still.jpg"
            res = subprocess.run(  # fixed argv, no shell
                [*self._base(), "--capture-image-and-download", "--filename", str(out)],
                capture_output=True,
                timeout=30,
                check=False,
            )
            img = cv2.imread(str(out), cv2.IMREAD_COLOR) if res.returncode == 0 and out.exists() else None
        self.open()
        if img is None:
            raise CameraDisconnected("gphoto2 could not take a still")
        return img

    def close(self) -> None:
        """Stop the live-view process."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        self._buf.clear()


register_backend("gphoto2", GPhoto2CameraConfig, GPhoto2Camera)
