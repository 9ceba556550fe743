"""Fixtures for the bridge tests: a fresh simulated controller per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from firmware_bridge import sim


@pytest.fixture
def sim_url() -> Iterator[str]:
    """A sim:// URL naming a controller of its own; the controller is closed after the test."""
    name = "t" + uuid.uuid4().hex[:10]
    yield f"sim://{name}"
    with contextlib.suppress(KeyError):
        sim.get_sim(name).close()
