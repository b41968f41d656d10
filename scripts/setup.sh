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
  # torch first and alone, so pip takes the pinned CPU build rather than resolving a CUDA one.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".[export,test]"
  echo "$want" > "$stamp"
fi

.venv/bin/python -m vitsdk.data.fetch
bash scripts/setup_chromium.sh || echo "setup: no chromium; the report browser tests will skip" >&2
bash scripts/setup_kotlin.sh || echo "warning: Kotlin toolchain not installed; tests/test_android_benchcore.py will fail until scripts/setup_kotlin.sh works" >&2
