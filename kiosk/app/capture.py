"""Take the still and make it durable in the session store, off the UI thread.

A DSLR's still can take seconds and the store's write ends in fsyncs: neither may freeze the screen. The
controller asks `poll()` on every tick of the CAPTURE state; the first call starts the work on the
"capture" thread, later calls return None until the outcome is there. The review screen is shown only
after the capture is on disk and the journal says CAPTURED, so "your photo is saved" is true after a crash.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.camera.base import CameraThread
from kiosk.session.store import SessionStore, Step, StorageFull

log = logging.getLogger(__name__)


def encode_capture(bgr: np.ndarray, quality: int = 95) -> bytes:
    """The capture as JPEG bytes (kept in the session store until the session ends)."""
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode the capture as JPEG")
    return bytes(buf.tobytes())


@dataclass(frozen=True)
class Captured:
    """The outcome of one capture: the still (None: no frame yet, try again), or the disk was full."""

    still: np.ndarray | None
    disk_full: bool = False


class CaptureSaver:
    """One capture at a time on its own thread: still from the camera, JPEG into the store, CAPTURED."""

    def __init__(self, camera: CameraThread, store: SessionStore) -> None:
        """Nothing runs until the first poll()."""
        self.camera = camera
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture")
        self._running: tuple[str, str, Future[Captured]] | None = None

    def poll(self, session_id: str, name: str) -> Captured | None:
        """Start saving `name` for the session, or the outcome once it is done (None while it runs).

        Raises whatever the capture raised other than a full disk (the controller's failsafe handles it).
        """
        running = self._running
        if running is None or running[:2] != (session_id, name):
            # A capture for another session or retake is stale: its file is the store's to retire.
            self._running = (session_id, name, self._pool.submit(self._take, session_id, name))
            return None
        future = running[2]
        if not future.done():
            return None
        self._running = None
        return future.result()

    def _take(self, session_id: str, name: str) -> Captured:
        still = self.camera.camera.capture_still()
        if still is None:
            frame = self.camera.latest()
            if frame is None:
                return Captured(None)  # no frame yet (a lost camera routes to the failsafe)
            still = frame.image.copy()
        try:
            self.store.write_file(session_id, "capture", name, encode_capture(still))
            self.store.advance(session_id, Step.CAPTURED)  # durable before the review screen says "saved"
        except StorageFull:
            log.warning("disk full while saving a capture: attendant needed")
            return Captured(None, disk_full=True)
        return Captured(still)

    def close(self) -> None:
        """Let a capture in progress finish (its file is the store's), then stop the thread."""
        self._pool.shutdown(wait=True)
