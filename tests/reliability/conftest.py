"""Shared parts of the reliability tests: one private cupsd with cups-pdf and fault queues, the models."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kiosk" / "delivery"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cups_harness import CupsServer, running_cups  # reason: the printing tests' harness


@pytest.fixture(scope="session")
def cups() -> Iterator[CupsServer]:
    """A private cupsd with a cups-pdf queue 'rel' and a fault queue 'relpaper' (out of paper on any job)."""
    with running_cups(["rel", "relsoak"], {"relpaper": "media-empty-error"}) as server:
        yield server


@pytest.fixture(scope="session")
def installed_models() -> Path:
    """The installed MediaPipe models (the kiosk's default data folder)."""
    from kiosk.config import default_data_dir
    from models.store import ModelStore

    models = default_data_dir() / "models"
    bad = [s.name for s in ModelStore(models).verify() if s.state not in ("ok", "override")]
    if bad:
        pytest.fail(f"models {bad} are not installed in {models}: run `kiosk models fetch`")
    return models


@pytest.fixture
def make_kiosk(tmp_path: Path, installed_models: Path) -> Iterator[Callable[..., tuple[Any, Any]]]:
    """Build headless kiosks (bench.soak.build_kiosk) with an offset clock; all are closed afterwards."""
    from bench.soak import build_kiosk
    from tests.conftest import OffsetClock

    built: list[Any] = []

    def make(
        cups: tuple[str, str] | None = None, data_dir: Path | None = None
    ) -> tuple[Any, Any]:
        clock = OffsetClock()
        kiosk = build_kiosk(
            data_dir or tmp_path / f"data{len(built)}",
            cups,
            clock=clock,
            sim_name=f"rel-{tmp_path.name}-{len(built)}",
        )
        built.append(kiosk)
        return kiosk, clock

    yield make
    for kiosk in built:
        kiosk.close()
