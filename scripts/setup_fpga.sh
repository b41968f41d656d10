#!/usr/bin/env bash
# Installs Debian's `verilator` (cycle-accurate simulation of the generated accelerator RTL) and `yosys`
# (synthesis to count DSP/LUT/FF/BRAM of the design), which the fpga target and its tests use.
# Safe to run twice: does nothing when both are already on PATH. Installing needs root and apt-get.
set -euo pipefail

missing=()
command -v verilator >/dev/null 2>&1 || missing+=(verilator)
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup_fpga: verilator $(verilator --version | awk '{print $2}') and yosys are installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "setup_fpga: need root and apt-get; run 'sudo apt-get install -y ${missing[*]}'" >&2
  exit 1
fi

. "$(dirname "$0")/lib/apt_install.sh"
apt_install "${missing[@]}" || { echo "setup_fpga: 'apt-get install ${missing[*]}' failed (see above)" >&2; exit 1; }
echo "setup_fpga: installed ${missing[*]}"
