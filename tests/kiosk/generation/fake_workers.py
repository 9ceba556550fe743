"""Fake generation workers for the supervisor tests: same pipe protocol as kiosk.generation.worker.serve.

They stand in for failures that a real worker cannot be made to show on purpose (a hang, a crash).
"""

from __future__ import annotations

import os
import time
from typing import Any

READY = ("ready", {"model_id": "fake", "runtime": {}})


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
