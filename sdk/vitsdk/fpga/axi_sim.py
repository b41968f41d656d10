"""The engine IP (fpga/rtl/vit_axi.v) in Verilator behind the same `vitsdk.fpga.axi.Mmio` interface the board's
driver uses, so `AxiEngine` runs unchanged against the RTL (tb_vit_axi.v is the AXI4-Lite master)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from vitsdk.errors import tool_failed
from vitsdk.fpga.axi import CTRL
from vitsdk.fpga.rtl import build_simulator


class SimulatedAxi:
    """The engine IP (vit_axi) in Verilator behind the `vitsdk.fpga.axi.Mmio` interface: every read and write is
    an AXI4-Lite transaction of tb_vit_axi.v's master. Writes are streamed; a read waits for its answer. Reads of
    CTRL first let `poll_cycles` clock cycles pass (the processor's polling interval; the engine's cycle counter
    counts the inference only, so it does not change the simulated latency)."""

    def __init__(self, files: dict[str, Path], parameters: dict[str, int], poll_cycles: int = 1000) -> None:
        self.binary, self.build_seconds = build_simulator(files, parameters, top="tb_vit_axi")
        self.poll_cycles = poll_cycles
        self.transactions = self.writes = 0
        self.proc = subprocess.Popen([str(self.binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def write(self, offset: int, value: int) -> None:
        self.transactions += 1
        self.writes += 1
        self.proc.stdin.write(f"1 {offset:x} {int(value) & 0xFFFFFFFF:x}\n")

    def read(self, offset: int) -> int:
        self.transactions += 1
        wait = self.poll_cycles if offset == CTRL else 0
        self.proc.stdin.write(f"2 {offset:x} {wait:x}\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                raise tool_failed(f"the AXI simulation {self.binary}", self.proc.returncode, self.proc.stderr.read())
            if line.startswith("R "):
                return int(line[2:], 16)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("0 0 0\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            self.proc.wait(timeout=30)

    def __enter__(self) -> "SimulatedAxi":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
