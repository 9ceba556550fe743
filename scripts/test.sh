#!/usr/bin/env bash
# Set everything up, then run the gates (ruff, mypy) and the whole test suite. Every stage runs even
# when an earlier one fails, so one run shows everything that is wrong; the exit status is non-zero if
# any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/setup.sh || exit 1
failed=()
echo "== ruff"
.venv/bin/ruff check kiosk models firmware_bridge calibration bench scripts tests || failed+=(ruff)
echo "== mypy"
.venv/bin/mypy || failed+=(mypy)
echo "== pytest"
mkdir -p artifacts
# pytest exits 5 when it collects no tests: that is a failure of the suite, not a pass.
.venv/bin/python -m pytest "$@" || failed+=(pytest)
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages: ${failed[*]}" >&2
  exit 1
fi
echo "all stages passed"
