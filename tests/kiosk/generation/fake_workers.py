"""Fake generation workers for the supervisor tests: same pipe protocol as kiosk.generation.worker.serve.

They stand in for what a real worker cannot be made to do on purpose (a hang, a crash), and for the one
thing the tiny random-weight pack cannot give: a sound model's output (`restyle_backdrop`, which repaints the
backdrop and keeps the person, as a real model that passes the quality gate would).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

READY = ("ready", {"model_id": "fake", "precision": "fp32", "runtime": {"backend": "fake", "notes": []}})


def crash_on_job(conn: Any, pack_dir: str, runtime: dict, cancel: Any) -> None:
    conn.send(READY)
    conn.recv()
    os._exit(3)


def hang_on_job(conn: Any, pack_dir: str, runtime: dict, cancel: Any) -> None:
    conn.send(READY)
    conn.recv()
    while True:  # never answers, never reports progress
        time.sleep(60)


def slow_but_alive(conn: Any, pack_dir: str, runtime: dict, cancel: Any) -> None:
    """Reports progress every 0.2 s for 4 s: twice the tests' hang timeout, but never silent a tenth as long."""
    conn.send(READY)
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            return
        _, job_id, payload = msg
        for i in range(20):
            time.sleep(0.2)
            conn.send(("progress", job_id, i + 1, 20))
        conn.send(("result", job_id, payload["image"], {"unet": 1.0}, 20))


def fail_at_start(conn: Any, pack_dir: str, runtime: dict, cancel: Any) -> None:
    conn.send(("fatal", "RuntimeUnavailable: no such device"))


def exit_when_idle(conn: Any, pack_dir: str, runtime: dict, cancel: Any) -> None:
    conn.send(READY)
    os._exit(5)


def restyle(rgb: np.ndarray) -> np.ndarray:
    """A sound model's output: the studio-grey backdrop repainted as a warm gradient, the person kept.

    The backdrop is found by its own colour (the studio-grey the pipeline drew), not by the job's mask, so
    the quality gate judges output that the pipeline did not shape. RGB float32 0..1 in and out.
    """
    import cv2

    from kiosk.pipeline import background

    h, w = rgb.shape[:2]
    bgr = cv2.cvtColor((rgb * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
    grey = background.render_background("studio-grey", (w, h)).astype(np.int16)
    is_bg = np.abs(bgr.astype(np.int16) - grey).max(axis=2) < 6
    is_bg = cv2.morphologyEx(is_bg.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warm = np.dstack([110 + 60 * yy / h, 90 + 40 * xx / w, 60 + 30 * yy / h])
    a = cv2.GaussianBlur(is_bg.astype(np.float32), (0, 0), 1.0)[..., None]
    out = cv2.GaussianBlur(np.clip(a * warm + (1 - a) * bgr, 0, 255), (0, 0), 0.6)  # a decoder's softness
    return cv2.cvtColor(out.astype(np.uint8), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def restyle_backdrop(conn: Any, pack_dir: str, runtime: dict, cancel: Any) -> None:
    """Answers every job with restyle() of its input, reporting two steps of progress."""
    conn.send(READY)
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            return
        _, job_id, payload = msg
        conn.send(("progress", job_id, 1, 2))
        out = restyle(payload["image"])
        conn.send(("progress", job_id, 2, 2))
        conn.send(("result", job_id, out, {"unet": 1.0}, 2))
