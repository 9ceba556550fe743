"""Fixtures for the bridge tests: a fresh simulated controller per test, polled with deadlines."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from firmware_bridge import sim


def wait_for(condition: Callable[[], object], timeout_s: float = 3.0, what: str = "condition") -> None:
    """Poll `condition` until true; fail naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.005)


@pytest.fixture
def sim_url() -> Iterator[str]:
    """A sim:// URL naming a controller of its own; the controller is closed after the test."""
    name = "t" + uuid.uuid4().hex[:10]
    yield f"sim://{name}"
    with contextlib.suppress(KeyError):
        sim.get_sim(name).close()
