"""Helpers shared by the benchmarks: locating inputs, timing, JSON output."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PORTRAITS = (REPO / ".." / "shared" / "testdata" / "portraits").resolve()


def portrait(name: str) -> Path:
    """A shared test portrait; exits with a clear message when ../shared is absent."""
    path = PORTRAITS / name
    if not path.exists():
        sys.exit(f"bench: {path} not found (the benchmarks read ../shared/testdata/portraits)")
    return path


def time_ms(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall times of `repeat` calls, ms (one untimed warm-up call first)."""
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def median(values: list[float]) -> float:
    """Median, rounded to 0.01."""
    return round(statistics.median(values), 2)


def emit(payload: dict[str, Any]) -> None:
    """Print the benchmark's JSON, with the run's "date" (UTC, ISO 8601) unless the payload has one.

    The output is meant to be stored as it is: `python -m bench.NAME > docs/dev/bench/NAME.json`.
    """
    out = dict(payload)
    out.setdefault("date", datetime.now(UTC).isoformat(timespec="seconds"))
    print(json.dumps(out, indent=2))
