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

. "$(dirname "$0")/lib/apt_install.sh"
apt_install chromium || { echo "setup_chromium: 'apt-get install chromium' failed (see above)" >&2; exit 1; }
echo "setup_chromium: installed $(command -v chromium)"
