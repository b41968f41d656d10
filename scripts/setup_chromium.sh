#!/usr/bin/env bash
# Installs Debian's `chromium`, which the report tests use to render the HTML report headless.
# Safe to run twice: does nothing when chromium is already on PATH. Installing needs root and apt-get;
# without them it says so and exits 0 (the browser tests then skip with a message naming this script).
set -euo pipefail

for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "setup_chromium: $(command -v "$name") is installed"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_chromium: apt-get not found; install Chromium by hand for the browser tests of the report" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup_chromium: not root; run 'sudo apt-get install chromium' for the browser tests of the report" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update once and retry when the first try fails.
if ! apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium >/dev/null 2>&1; then
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium >/dev/null; }; then
    echo "setup_chromium: 'apt-get install chromium' failed (see above); the report's browser tests will skip" >&2
    exit 1
  fi
fi
echo "setup_chromium: installed $(command -v chromium)"
