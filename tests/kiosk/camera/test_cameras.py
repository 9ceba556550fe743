"""Camera backends: the virtual camera through the camera thread (newest frame only, unplug/replug),
the OpenCV backend's absent-device path, the gphoto2 stream splitter, and the typed registry."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.camera.base import CameraDisconnected, CameraError, CameraThread, backends, create_camera
from kiosk.camera.config import GPhoto2CameraConfig, OpenCVCameraConfig, VirtualCameraConfig
from kiosk.camera.gphoto2 import split_mjpeg
from kiosk.camera.virtual import VirtualCamera, fit_into

PORTRAITS = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "portraits"


@pytest.fixture
def portrait() -> Path:
    p = PORTRAITS / "nasa_man_hispanic_mustache_01.jpg"
    if not p.is_file():
        pytest.skip(f"test portraits not found at {PORTRAITS}")
    return p


def _wait(cond, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)  # polling a condition with a deadline, not waiting for time to pass
    return False


def test_a_camera_is_connected_before_it_counts_frames() -> None:
    """The UI thread reads `connected`, then `frames_read`, without a lock; frames delivered by a camera that
    is "not connected" mean a lost camera. The "camera connected" log line (slow under disk load) must come
    after the state is consistent, or a fresh start shows the guest "One moment please" (seen under load)."""
    seen: list[tuple[bool, int]] = []
    th = CameraThread(VirtualCamera(VirtualCameraConfig(width=160, height=120)), reconnect_s=0.05)

    class AtLogTime(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "camera connected":
                seen.append((th.connected, th.frames_read))

    handler = AtLogTime()
    logger = logging.getLogger("kiosk.camera.base")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    th.start()
    try:
        assert _wait(lambda: bool(seen)), "the camera connected"
    finally:
        th.stop()
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert seen[0] == (True, 1), "while the line is written, the camera is connected with its first frame"


def test_registry_has_all_backends() -> None:
    reg = backends()
    assert set(reg) >= {"opencv", "gphoto2", "virtual"}
    assert reg["virtual"].config_model is VirtualCameraConfig


def test_virtual_camera_moves_gently_and_keeps_newest_frame(portrait: Path) -> None:
    cam = create_camera(VirtualCameraConfig(source=portrait, width=320, height=240, fps=60, motion=2.0))
    assert isinstance(cam, VirtualCamera)
    th = CameraThread(cam, reconnect_s=0.05)
    th.start()
    try:
        f1 = th.wait_frame(0)
        assert f1 is not None and f1.image.shape == (240, 320, 3) and f1.image.dtype == np.uint8
        f2 = th.wait_frame(f1.seq + 5)
        assert f2 is not None and f2.seq > f1.seq
        diff = np.abs(f1.image.astype(int) - f2.image.astype(int)).mean()
        assert 0.0 < diff < 40.0  # it moves, but gently
        assert th.connected
    finally:
        th.stop()


def test_unplug_and_back(portrait: Path) -> None:
    cam = VirtualCamera(VirtualCameraConfig(source=portrait, width=160, height=120, fps=60))
    th = CameraThread(cam, reconnect_s=0.02)
    th.start()
    try:
        assert th.wait_frame(0) is not None
        cam.unplug()
        assert _wait(lambda: not th.connected and th.latest() is None)
        assert th.disconnects == 1
        cam.replug()
        assert _wait(lambda: th.connected and th.latest() is not None)
    finally:
        th.stop()


def test_virtual_camera_plays_video(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 64))
    if not vw.isOpened():
        pytest.skip("OpenCV has no MJPG writer here")
    for i in range(5):
        vw.write(np.full((64, 64, 3), i * 40, np.uint8))
    vw.release()
    cam = VirtualCamera(VirtualCameraConfig(source=path, width=64, height=64, fps=120))
    cam.open()
    means = [cam.read().mean() for _ in range(7)]  # loops after 5 frames
    cam.close()
    assert means[0] < means[4] and abs(means[5] - means[0]) < 10


def test_bad_source_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not an image")
    cam = VirtualCamera(VirtualCameraConfig(source=bad))
    with pytest.raises(CameraError, match="not an image"):
        cam.open()


def test_fit_into_keeps_whole_image() -> None:
    img = np.zeros((200, 100, 3), np.uint8)
    img[:, :] = (0, 0, 255)
    out = fit_into(img, 300, 150)
    assert out.shape == (150, 300, 3)
    assert (out[:, 113:187, 2] > 200).all()  # the contained copy sits in the middle, uncropped


def test_opencv_absent_device_is_a_disconnect() -> None:
    cam = create_camera(OpenCVCameraConfig(device="/dev/video-does-not-exist"))
    with pytest.raises(CameraDisconnected):
        cam.open()
    cam.close()


def test_split_mjpeg_stream() -> None:
    buf = bytearray(b"junk\xff\xd8AAA\xff\xd9\xff\xd8BB")
    assert split_mjpeg(buf) == b"\xff\xd8AAA\xff\xd9"
    assert split_mjpeg(buf) is None
    buf.extend(b"B\xff\xd9")
    assert split_mjpeg(buf) == b"\xff\xd8BBB\xff\xd9"


def test_gphoto2_backend() -> None:
    if shutil.which("gphoto2") is None:
        pytest.skip("gphoto2 is not installed (optional still-camera backend)")
    cam = create_camera(GPhoto2CameraConfig())
    try:
        cam.open()
        with pytest.raises(CameraDisconnected):  # no camera is attached to this machine
            cam.read()
    finally:
        cam.close()
