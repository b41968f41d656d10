#!/usr/bin/env bash
# Fetches what the host-JVM tests of the Android app's pure-Kotlin module need, without root:
# kotlinc from the npm package `kotlin-compiler`, JUnit 4 + Hamcrest jars from Debian (`apt-get download`
# + `dpkg-deb -x`). Safe to run twice: each step is skipped when its output exists.
# Where: $VITSDK_TOOLS (default ~/.cache/vitsdk/tools). Needs java, npm and apt-get; without them it
# says so and exits 0, and the Kotlin tests report what is missing.
set -euo pipefail

tools=${VITSDK_TOOLS:-$HOME/.cache/vitsdk/tools}
mkdir -p "$tools"

for cmd in java npm apt-get dpkg-deb; do
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
fi

junit_dir="$tools/junit"
if [ ! -f "$junit_dir/junit4.jar" ] || [ ! -f "$junit_dir/hamcrest.jar" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download junit4 libhamcrest-java >/dev/null 2>&1) || { echo "setup_kotlin: apt-get download junit4 libhamcrest-java failed" >&2; exit 1; }
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
  mkdir -p "$junit_dir"
  junit=$(find "$work/root" -name 'junit4*.jar' -type f | head -n1)
  hamcrest=$(find "$work/root" -name 'hamcrest*.jar' -type f | sort | head -n1)
  [ -n "$junit" ] && [ -n "$hamcrest" ] || { echo "setup_kotlin: junit4/hamcrest jars not found in the .debs" >&2; exit 1; }
  cp "$junit" "$junit_dir/junit4.jar.tmp" && mv "$junit_dir/junit4.jar.tmp" "$junit_dir/junit4.jar"
  cp "$hamcrest" "$junit_dir/hamcrest.jar.tmp" && mv "$junit_dir/hamcrest.jar.tmp" "$junit_dir/hamcrest.jar"
fi

echo "setup_kotlin: kotlinc in $kotlin_dir, junit in $junit_dir"
