#!/usr/bin/env bash
# Runs every test: the pytest suite (which also drives the host-JVM and Swift tests of the apps).
set -euo pipefail
cd "$(dirname "$0")/.."
# --dist loadgroup: tests marked xdist_group("NAME") share one worker (and its module-scoped fixtures).
exec .venv/bin/python -m pytest -n "${VITSDK_TEST_WORKERS:-2}" --dist loadgroup "$@"
