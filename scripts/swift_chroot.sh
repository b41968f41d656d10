#!/usr/bin/env bash
# A Debian trixie chroot with Swift 6 (`swiftlang`), so the iOS app's pure SwiftPM package
# (ios_app/BenchCore) builds and runs `swift test` on this Linux machine, which has no Xcode.
#
# Usage:
#   scripts/swift_chroot.sh setup             create the chroot, or reuse it (safe to run twice)
#   scripts/swift_chroot.sh path              print the chroot folder (after setup)
#   scripts/swift_chroot.sh test [ARGS...]    copy ios_app/BenchCore + schemas/ in, run `swift test ARGS`
#                                             ($VITSDK_SWIFT_FIXTURE: a folder copied in for the
#                                             cross-language test, seen there as $VITSDK_PY_FIXTURE)
#   scripts/swift_chroot.sh shell CMD         run CMD with /bin/sh inside the chroot (package at /vitsdk/src)
#
# Needs root (debootstrap and chroot do); runs are serialised with a lock file beside the chroot.
# The chroot lives in $VITSDK_SWIFT_CHROOT (default ~/.cache/vitsdk/swift-chroot, about 2.6 GB after
# apt-get clean; 2.5-4 minutes to make). A stamp file marks a finished set-up, so a second run is a
# no-op; a half-made chroot (interrupted run) is removed and made again.
# `test` keeps SwiftPM's build folder inside the chroot, so reruns only rebuild what changed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${VITSDK_SWIFT_CHROOT:-${HOME:-/root}/.cache/vitsdk/swift-chroot}
SUITE=trixie
MIRROR=${VITSDK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES="swiftlang libc6-dev"
STAMP="$DIR/.vitsdk-ready"

die() { echo "error: swift_chroot: $*" >&2; exit 2; }

need_root() {
  [ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot do); run it as root or with sudo"
}

# Every run inside the chroot happens in a private mount namespace: /proc and /dev are mounted
# there and vanish with the process, so nothing stays mounted if a run is interrupted.
in_chroot() {
  unshare --mount --propagation private /bin/sh -c '
    set -e
    dir=$1; shift
    mount -t proc proc "$dir/proc"
    mount --rbind /dev "$dir/dev"
    exec chroot "$dir" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive "$@"
  ' in_chroot "$DIR" "$@"
}

setup() {
  need_root
  if [ -f "$STAMP" ] && in_chroot swift --version >/dev/null 2>&1; then
    return 0
  fi
  for tool in unshare chroot; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (Debian package util-linux / coreutils)"
  done
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "swift_chroot: installing debootstrap" >&2
    apt-get update -qq >/dev/null || die "apt-get update failed; cannot install debootstrap"
    apt-get install -y -qq debootstrap >/dev/null || die "apt-get install debootstrap failed"
  fi
  local start=$SECONDS
  mkdir -p "$(dirname "$DIR")"
  if [ ! -f "$DIR/.vitsdk-debootstrapped" ]; then
    # An interrupted debootstrap leaves a folder it cannot resume: start again from nothing.
    rm -rf "$DIR" "$DIR.partial"
    echo "swift_chroot: debootstrap $SUITE into $DIR (a few minutes)" >&2
    if ! debootstrap --variant=minbase "$SUITE" "$DIR.partial" "$MIRROR" >"$DIR.debootstrap.log" 2>&1; then
      tail -n 20 "$DIR.debootstrap.log" >&2
      die "debootstrap $SUITE from $MIRROR failed (log: $DIR.debootstrap.log)"
    fi
    touch "$DIR.partial/.vitsdk-debootstrapped"
    mv "$DIR.partial" "$DIR"
  fi
  echo "swift_chroot: apt-get install $PACKAGES inside the chroot (a few minutes)" >&2
  in_chroot apt-get update -qq >"$DIR.apt.log" 2>&1 || { tail -n 20 "$DIR.apt.log" >&2; die "apt-get update inside the chroot failed"; }
  # shellcheck disable=SC2086
  in_chroot apt-get install -y -qq --no-install-recommends $PACKAGES >>"$DIR.apt.log" 2>&1 \
    || { tail -n 20 "$DIR.apt.log" >&2; die "apt-get install $PACKAGES inside the chroot failed (log: $DIR.apt.log)"; }
  in_chroot apt-get clean >/dev/null 2>&1 || true
  in_chroot swift --version >/dev/null 2>&1 || die "swift does not run inside the chroot after install"
  date -u +%FT%TZ > "$STAMP"
  echo "swift_chroot: ready in $((SECONDS - start)) s ($(du -sh "$DIR" 2>/dev/null | cut -f1))" >&2
}

# Copies the package and the shared schemas into the chroot with the repository's layout, so the
# tests find ../../schemas/vectors the same way as in a checkout (mtimes kept: incremental builds).
sync_sources() {
  local dst="$DIR/vitsdk/src"
  rm -rf "$dst"
  mkdir -p "$dst/ios_app" "$DIR/vitsdk/out"
  cp -a "$REPO/ios_app/BenchCore" "$dst/ios_app/BenchCore"
  rm -rf "$dst/ios_app/BenchCore/.build"
  [ -d "$REPO/schemas" ] && cp -a "$REPO/schemas" "$dst/schemas"
  rm -rf "$DIR/vitsdk/fixture"
  if [ -n "${VITSDK_SWIFT_FIXTURE:-}" ]; then
    [ -d "$VITSDK_SWIFT_FIXTURE" ] || die "VITSDK_SWIFT_FIXTURE=$VITSDK_SWIFT_FIXTURE is not a folder"
    cp -a "$VITSDK_SWIFT_FIXTURE" "$DIR/vitsdk/fixture"
  fi
  return 0
}

# One user of the chroot at a time (parallel pytest workers, two shells): set-up and test runs
# wait for each other instead of racing on the same folders.
lock() {
  mkdir -p "$(dirname "$DIR")"
  exec 9>"$DIR.lock"
  flock 9
}

cmd=${1:-setup}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup|test|shell) need_root; lock ;;
esac
case "$cmd" in
  setup) setup ;;
  path) echo "$DIR" ;;
  test)
    setup
    sync_sources
    rm -rf "$DIR/vitsdk/out"/*
    fixture=
    [ -d "$DIR/vitsdk/fixture" ] && fixture=/vitsdk/fixture
    in_chroot /bin/sh -c 'cd /vitsdk/src/ios_app/BenchCore && VITSDK_SWIFT_OUT=/vitsdk/out VITSDK_PY_FIXTURE="$0" exec swift test --scratch-path /vitsdk/build "$@"' "$fixture" "$@"
    ;;
  shell)
    setup
    sync_sources
    in_chroot /bin/sh -c "$*"
    ;;
  *) die "unknown command '$cmd' (setup, path, test, shell)" ;;
esac
