"""bench/hostile.py run as the operator would run it: every hostile case handled (issue 15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_every_hostile_case_is_handled(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.hostile"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["failed"] == {}, json.dumps(result["failed"], indent=1, ensure_ascii=False)
    assert result["handled"] == result["tried"] >= 150, result
