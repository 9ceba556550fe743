#!/usr/bin/env bash
# Set everything up, then run the gates (ruff, mypy) and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== ruff" && .venv/bin/ruff check kiosk models firmware_bridge calibration bench scripts tests
echo "== mypy" && .venv/bin/mypy
echo "== pytest"
mkdir -p artifacts
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest's 5 means "no tests collected": that is a failure of the suite, not a pass.
exit $rc
