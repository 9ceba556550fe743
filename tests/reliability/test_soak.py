"""A short soak in the suite: 50 real headless sessions (virtual camera, bridge simulator, studio pipeline,
journal, download over HTTP, a cups-pdf print each, retention) with no failure and no growth in open
descriptors or threads.

Growth is measured from after the first 5 sessions (warm-up: the pipeline, the MediaPipe graphs, the
print path and the download server's first request load lazily) to the end, each sample taken once the
transient threads of a print job or an HTTP request have ended. RSS is reported, not asserted: 50 sessions
are too few for a percentage to mean much (the 1000-session figures are in README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.soak import run_soak


def test_short_soak_has_no_failures_and_no_leaks(
    cups: object, installed_models: Path, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    report = run_soak(50, tmp_path, (str(cups.socket), f"{cups.tag}relsoak"), warmup=5)  # type: ignore[attr-defined]
    record_property("soak", json.dumps(report))
    print(json.dumps(report, indent=2))  # reason: the figures in the test log
    assert report["failures"] == 0, report["failure_reasons"]
    assert report["prints_completed"] == 50 and report["downloads_fetched"] == 50
    assert report["journal_sessions_delivered"] == 50
    assert report["fd_growth"] <= 0, report
    assert report["thread_growth"] <= 0, report
