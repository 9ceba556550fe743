"""One camera interface, a typed registry of backends, and the camera thread that keeps the newest frame."""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel

from kiosk.errors import KioskError, TransientError

log = logging.getLogger(__name__)


class CameraError(KioskError):
    """The camera cannot be used as configured (bad device, backend missing): call the attendant."""


class CameraDisconnected(TransientError):
    """The camera stopped delivering frames (cable pulled, device busy): "one moment", then reconnect."""


class Camera(abc.ABC):
    """A frame source. Not thread-safe: one CameraThread owns it."""

    @abc.abstractmethod
    def open(self) -> None:
        """Open the device; raise CameraDisconnected when it is not there (yet)."""

    @abc.abstractmethod
    def read(self) -> np.ndarray:
        """Block until the next frame (BGR uint8, H×W×3); raise CameraDisconnected when it is gone."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device (idempotent)."""

    def capture_still(self) -> np.ndarray | None:
        """A full-resolution still for the final photo; None means "use the newest preview frame"."""
        return None

    @property
    def fps(self) -> float:
        """Nominal frame rate, frames/s."""
        return 30.0


C = TypeVar("C", bound=BaseModel)


@dataclass(frozen=True)
class Backend(Generic[C]):
    """A registered camera backend: its config key, config model and factory."""

    key: str
    config_model: type[C]
    factory: Callable[[C], Camera]


_REGISTRY: dict[str, Backend[Any]] = {}


def register_backend(key: str, config_model: type[C], factory: Callable[[C], Camera]) -> None:
    """Register a backend under its config key (done at import by each backend module)."""
    _REGISTRY[key] = Backend(key, config_model, factory)


def backends() -> dict[str, Backend[Any]]:
    """All registered backends, keyed by config key."""
    from kiosk.camera import gphoto2, opencv, virtual  # noqa: F401  # reason: imports register the backends

    return dict(_REGISTRY)


def create_camera(config: Any) -> Camera:
    """Build the camera the config section names (its `backend` field selects the registry entry)."""
    reg = backends()
    backend = reg.get(config.backend)
    if backend is None:
        raise CameraError(f"unknown camera backend '{config.backend}' (known: {', '.join(sorted(reg))})")
    return backend.factory(config)


@dataclass(frozen=True)
class Frame:
    """One frame and its sequence number (increments per frame; lets readers skip what they have seen)."""

    image: np.ndarray
    seq: int
    t: float


class CameraThread:
    """Owns a Camera: reads frames on its own thread, keeps only the newest, reconnects by itself.

    Readers call `latest()` and get a reference to the newest frame; nothing queues up, so a slow
    reader simply skips frames.
    """

    def __init__(
        self, camera: Camera, reconnect_s: float = 0.5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Wrap a camera; `reconnect_s` is the pause between reconnect attempts, s."""
        self.camera = camera
        self.reconnect_s = reconnect_s
        self.clock = clock
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.last_error: str | None = None
        self.frames_read = 0
        self.disconnects = 0

    def start(self) -> None:
        """Start the reader thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread and close the camera."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.camera.close()
        self.connected = False

    @property
    def alive(self) -> bool:
        """Whether its thread is running (the appliance's watchdog asks)."""
        return self._thread is not None and self._thread.is_alive()

    def latest(self) -> Frame | None:
        """The newest frame (None before the first one or while disconnected)."""
        with self._lock:
            return self._frame

    def _set_disconnected(self, err: Exception) -> None:
        with self._lock:
            self._frame = None
        if self.connected:
            self.disconnects += 1
            log.warning("camera disconnected: %s", err)
        self.connected = False
        self.last_error = str(err)
        self.camera.close()

    def _backoff(self, failures: int) -> float:
        """Pause before the next reconnect attempt: reconnect_s, doubling up to 8× while it stays away."""
        return self.reconnect_s * min(8, 2 ** max(0, failures - 1))

    def _run(self) -> None:
        opened = False
        failures = 0
        while not self._stop.is_set():
            try:
                if not opened:
                    self.camera.open()
                    opened = True
                img = self.camera.read()
            except CameraDisconnected as err:
                opened = False
                failures += 1
                self._set_disconnected(err)
                self._stop.wait(self._backoff(failures))
                continue
            except Exception as err:  # reason: supervised loop; a driver bug must not kill the kiosk
                log.exception("camera read failed")
                opened = False
                failures += 1
                self._set_disconnected(err)
                self._stop.wait(self._backoff(failures))
                continue
            with self._lock:
                self._seq += 1
                self._frame = Frame(img, self._seq, self.clock())
            failures = 0
            # connected before frames_read, and the log line last: the UI thread reads `connected`, then
            # `frames_read`, without a lock, and a camera that has delivered frames but is "not connected"
            # is a lost camera. Logging first (slow under disk load) made a fresh start look like a loss.
            was_connected = self.connected
            self.last_error = None
            self.connected = True
            self.frames_read += 1
            if not was_connected:
                log.info("camera connected")

    def wait_frame(self, after_seq: int = 0, timeout_s: float = 5.0) -> Frame | None:
        """Poll for a frame newer than after_seq until timeout_s passes (for commands and tests)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            f = self.latest()
            if f is not None and f.seq > after_seq:
                return f
            self._stop.wait(0.005)
        return None


def camera_id_for(camera: object) -> str:
    """A stable id for the configured camera (any backend's config): backend plus device/port/source."""
    backend = str(getattr(camera, "backend", "camera"))
    if backend == "opencv":
        device = str(getattr(camera, "device", ""))
        node = Path(device).name if device.startswith("/dev/") else f"video{device}"
        try:
            name = (Path("/sys/class/video4linux") / node / "name").read_text(encoding="utf-8").strip()
        except OSError:
            name = ""
        return f"opencv:{device}" + (f" ({name})" if name else "")
    if backend == "gphoto2":
        return f"gphoto2:{getattr(camera, 'port', None) or 'auto'}"
    if backend == "virtual":
        return f"virtual:{getattr(camera, 'source', None) or 'demo'}"
    return backend
