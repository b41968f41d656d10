#!/usr/bin/env bash
# Creates .venv with every pinned dependency and fetches the Fashion-MNIST data. Safe to run twice:
# a stamp file records what was installed, so a second run with unchanged pins is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "error: vitsdk needs Python 3.11 (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

stamp=.venv/.vitsdk-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch first and alone: PyPI serves its CUDA build (several GB, runs on the CPU); the others then
  # resolve against the torch already installed instead of racing it.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".[export,test]"
  echo "$want" > "$stamp"
fi

.venv/bin/python -m vitsdk.data.fetch
# Toolchains outside the venv (apt, npm, Maven): one script each, scripts/setup_<name>.sh, each safe to
# run twice. A step that fails stops the set-up: the tests need every one of them.
for step in scripts/setup_*.sh; do
  bash "$step" || { echo "error: setup: $step failed (see above); fix it and run 'make setup' again" >&2; exit 2; }
done
