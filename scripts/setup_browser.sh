#!/usr/bin/env bash
# Installs the LiteRT.js runtime (npm @litertjs/core, the version in sdk/vitsdk/bench/browser_page/litertjs.json)
# into a cache that `vitsdk bench --device browser` serves to the page: ${VITSDK_CACHE:-~/.cache/vitsdk}/litertjs/VERSION.
# Safe to run twice: does nothing when that version is already there. Needs node + npm (Debian: apt-get install npm).
set -euo pipefail
cd "$(dirname "$0")/.."

pin=sdk/vitsdk/bench/browser_page/litertjs.json
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_browser: npm/node not found; install them (sudo apt-get install npm) and run this script again" >&2
    exit 1
  fi
  . "$(dirname "$0")/lib/apt_install.sh"
  apt_install nodejs npm || { echo "setup_browser: 'apt-get install nodejs npm' failed (see above)" >&2; exit 1; }
fi
package=$(node -p "require('./$pin').package")
version=$(node -p "require('./$pin').version")
dest=${VITSDK_CACHE:-$HOME/.cache/vitsdk}/litertjs/$version
if [ -f "$dest/node_modules/$package/package.json" ] && [ -d "$dest/node_modules/$package/wasm" ]; then
  echo "setup_browser: $package@$version is in $dest"
  exit 0
fi
mkdir -p "${dest%/*}"
tmp=$(mktemp -d "${dest%/*}/.tmp.XXXXXX")   # installed aside, then renamed: never a half-installed cache
trap 'rm -rf "$tmp"' EXIT
if ! npm install --prefix "$tmp" --no-audit --no-fund --no-save --loglevel=error "$package@$version" >/dev/null; then
  echo "setup_browser: 'npm install $package@$version' failed (see above)" >&2
  exit 1
fi
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "setup_browser: installed $package@$version into $dest"
