# Sourced by scripts/setup_*.sh: `apt_install PKG...` installs Debian packages as root without asking,
# waits for the dpkg lock when another apt-get runs, and refreshes the package lists once when the first
# try fails (a fresh machine may have none). Returns non-zero when the install still fails.
apt_install() {
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@" >/dev/null 2>&1 && return 0
  "${apt[@]}" update >/dev/null && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@" >/dev/null
}
