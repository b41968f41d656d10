#!/usr/bin/env bash
# Resolves what the host tests compile and run the Android app against (android_app/pom.xml, every
# version from schemas/runtime_versions.json) from Maven Central into a cache, and unpacks each AAR's
# classes.jar: android-all (the framework, API compile_sdk), the LiteRT Interpreter API, fbjni, soloader,
# Robolectric with its instrumented framework, JUnit.
# Where: $VITSDK_CACHE/android/<hash of pom + versions> (default ~/.cache/vitsdk). Safe to run twice:
# a finished folder is reused without touching the network, so later runs work offline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${VITSDK_CACHE:-$HOME/.cache/vitsdk}/android
pom=$root/android_app/pom.xml
versions=$root/schemas/runtime_versions.json

for cmd in java python3; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "setup_android: '$cmd' not found; install a JDK 17 and python3" >&2; exit 1; }
done
if ! command -v mvn >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "setup_android: 'mvn' not found; install Maven (apt-get install maven)" >&2; exit 1; }
  . "$(dirname "$0")/lib/apt_install.sh"
  apt_install maven || { echo "setup_android: 'apt-get install maven' failed (see above)" >&2; exit 1; }
fi

key=$(cat "$pom" "$versions" "$0" | sha256sum | cut -c1-16)
out=$cache/$key
if [ -f "$out/.complete" ]; then
  echo "setup_android: Android compile/test jars already in $out"
  exit 0
fi

# -Dname=value for every string/number in the versions file: the pom's ${name} placeholders.
mapfile -t props < <(python3 - "$versions" <<'PY'
import json, sys
for k, v in json.load(open(sys.argv[1])).items():
    if k != "description":
        print(f"-D{k}={v}")
PY
)
tmp=$(mktemp -d "$cache.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$cache/.tmp.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
plugin=org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies
for scope in compile test; do
  mvn -B -q -f "$pom" -Dmaven.repo.local="$cache/m2" "${props[@]}" "$plugin" \
      -DincludeScope=$scope -DoutputDirectory="$tmp/$scope" >"$tmp/mvn.log" 2>&1 \
    || { tail -n 30 "$tmp/mvn.log" >&2; echo "setup_android: Maven could not resolve android_app/pom.xml (above)" >&2; exit 1; }
done
# An AAR is a zip holding classes.jar (the Java API) next to native libraries: keep NAME.jar of its classes.
python3 - "$tmp" <<'PY'
import pathlib, sys, zipfile
for aar in pathlib.Path(sys.argv[1]).glob("*/*.aar"):
    with zipfile.ZipFile(aar) as z:
        aar.with_suffix(".jar").write_bytes(z.read("classes.jar"))
    aar.unlink()
PY
for jar in "$tmp"/test/*.jar; do   # the test set includes the compile set: one copy on disk
  [ -f "$tmp/compile/${jar##*/}" ] && ln -f "$tmp/compile/${jar##*/}" "$jar"
done
rm -f "$tmp/mvn.log"
touch "$tmp/.complete"
mkdir -p "$cache"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
# folders of older pom/versions files (the Maven cache m2/ stays: a re-resolve is then offline)
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name m2 ! -name "$key" ! -name '*.tmp.*' -exec rm -rf {} +
echo "setup_android: resolved the Android compile/test jars into $out"
