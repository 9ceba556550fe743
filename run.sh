#!/usr/bin/env bash
# The two commands of README.md:  ./run.sh demo   and   ./run.sh test
set -euo pipefail
cd "$(dirname "$0")"
cmd=${1:-}
shift || true
case "$cmd" in
  demo) scripts/setup.sh && exec .venv/bin/kiosk demo "$@" ;;
  test) exec scripts/test.sh "$@" ;;
  *) echo "usage: ./run.sh demo [--out DIR] | ./run.sh test [pytest args]" >&2; exit 2 ;;
esac
