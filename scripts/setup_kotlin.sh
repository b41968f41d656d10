#!/usr/bin/env bash
# Fetches kotlinc for the host tests of the Android app: the npm package `kotlin-compiler`, without root.
# (JUnit, Robolectric and the Android APIs come from Maven Central: scripts/setup_android.sh.)
# Safe to run twice: skipped when its output exists. Where: $VITSDK_TOOLS (default ~/.cache/vitsdk/tools).
# Needs java and npm; without them it says so and exits 0, and the Kotlin tests report what is missing.
set -euo pipefail

tools=${VITSDK_TOOLS:-$HOME/.cache/vitsdk/tools}
mkdir -p "$tools"

for cmd in java npm; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "setup_kotlin: '$cmd' not found; skipping the Kotlin toolchain (the Kotlin tests will say so)" >&2
    exit 0
  fi
done

kotlin_dir="$tools/kotlin"
if [ ! -f "$kotlin_dir/node_modules/kotlin-compiler/lib/kotlin-compiler.jar" ]; then
  mkdir -p "$kotlin_dir"
  npm install --silent --no-audit --no-fund --prefix "$kotlin_dir" "kotlin-compiler@^2.4" >/dev/null 2>&1 \
    || npm install --silent --no-audit --no-fund --prefix "$kotlin_dir" kotlin-compiler
  echo "setup_kotlin: installed kotlinc into $kotlin_dir"
else
  echo "setup_kotlin: kotlinc already in $kotlin_dir"
fi
