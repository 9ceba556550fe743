"""The benchmark runs and reports what it promises (figures are read, never asserted: no timed tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_prints_latency_throughput_and_floor_for_both_baud_rates() -> None:
    proc = subprocess.run([sys.executable, "bench/bridge.py", "--count", "30"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["pty_throttles_to_baud"] is False
    for baud in ("115200", "1000000"):
        result = report["results"][baud]
        assert {"median_ms", "p99_ms", "commands_per_s"} <= set(result["bridge"])
        assert result["ratio_median_vs_floor"] > 0
        # the wire model really holds the bytes: no round trip beats the modelled time on the wire
        assert result["floor_pty_echo"]["min_ms"] >= result["wire_time_ms"]
        assert result["bridge"]["min_ms"] >= result["wire_time_ms"]
    assert "met" in report["target"]
