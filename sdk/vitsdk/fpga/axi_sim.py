"""The engine IP (fpga/rtl/vit_axi.v) in Verilator behind the same `vitsdk.fpga.axi.Mmio` interface the board's
driver uses, so `AxiEngine` runs unchanged against the RTL (tb_vit_axi.v is the AXI4-Lite master, and its tb_ddr
a model of the board's DDR that answers the IP's AXI4 master)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from vitsdk.errors import tool_failed
from vitsdk.fpga.axi import CTRL, record_bytes
from vitsdk.fpga.rtl import build_simulator

DDR_BASE = 0x8_0000_0000  # where the DDR model's memory starts: the Zynq UltraScale+ upper DDR, so both halves of
# the IP's 64-bit DDR_BASE register matter


class SimulatedAxi:
    """The engine IP (vit_axi) in Verilator behind the `vitsdk.fpga.axi.Mmio` interface: every read and write is
    an AXI4-Lite transaction of tb_vit_axi.v's master. Writes are streamed; a read waits for its answer. Reads of
    CTRL first let `poll_cycles` clock cycles pass (the processor's polling interval; the engine's cycle counter
    counts the inference only, so it does not change the simulated latency).

    It is also the `vitsdk.fpga.axi.Memory` the driver puts the DDR image in: the testbench's DDR model loads a
    streamed model's rtl/ddr.hex after the input record when it starts (the weights are too many words to send
    through the pipe); `place` writes the input record into the model and answers `ddr_base` once the weight bytes
    the driver would copy to the board's DDR are the ones the model holds (the driver then writes the address to
    DDR_BASE, like on the board), and `store` copies bytes into the model, word by word.

    Back-pressure on the IP's AXI4 master, to test it (both 0 by default: the DDR model then follows tb_vit's
    rule and the cycles are tb_vit's; otherwise they are not the board's DDR, so they differ from tb_vit's):
    `ar_stall` cycles of every `ar_stall + 1` the DDR model does not accept an address (arready low), and
    `extra_latency` more cycles pass before a burst's data, so the master's bursts pile up in flight."""

    def __init__(self, files: dict[str, Path], parameters: dict[str, int], poll_cycles: int = 1000,
                 ddr_base: int = DDR_BASE, ar_stall: int = 0, extra_latency: int = 0) -> None:
        if ar_stall < 0 or extra_latency < 0:
            raise ValueError(f"ar_stall and extra_latency are cycles (>= 0), got {ar_stall} and {extra_latency}")
        self.binary, self.build_seconds = build_simulator(files, parameters, top="tb_vit_axi")
        self.poll_cycles = poll_cycles
        self.ddr_base = ddr_base
        self.width = parameters["DDR_W"]
        self.record_bytes = record_bytes(parameters)
        self.transactions = self.writes = 0
        self.folder = tempfile.mkdtemp(prefix="vitsdk-axi-")  # the testbench's working folder (ddr.hex)
        if "ddr.hex" in files:
            shutil.copy(files["ddr.hex"], Path(self.folder) / "ddr.hex")
        self.proc = subprocess.Popen([str(self.binary), f"+ddr_base={ddr_base:x}", f"+ar_stall={ar_stall}",
                                      f"+extra_latency={extra_latency}"], cwd=self.folder,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def write(self, offset: int, value: int) -> None:
        self.transactions += 1
        self.writes += 1
        self.proc.stdin.write(f"1 {offset:x} {int(value) & 0xFFFFFFFF:x}\n")

    def _answer(self, command: str, prefix: str) -> str:
        self.proc.stdin.write(command)
        self.proc.stdin.flush()
        return self._line(prefix)

    def _line(self, prefix: str) -> str:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                raise tool_failed(f"the AXI simulation {self.binary}", self.proc.returncode, self.proc.stderr.read())
            if line.startswith(prefix):
                return line[len(prefix):]

    def read(self, offset: int) -> int:
        self.transactions += 1
        wait = self.poll_cycles if offset == CTRL else 0
        return int(self._answer(f"2 {offset:x} {wait:x}\n", "R "), 16)

    def place(self, image: np.ndarray) -> int:
        """The DDR image's address in the DDR model: its input record is written there; the rest (the weight
        image, which the model loaded from rtl/ddr.hex) must be the model's memory, word by word read back from it
        (little-endian words: byte 0 in bits 7:0)."""
        image = np.asarray(image, dtype=np.uint8).reshape(-1)
        self.store(self.ddr_base, image[:self.record_bytes])
        first = self.record_bytes // self.width
        image = image[self.record_bytes:]
        held = bytearray()
        count = -(-len(image) // self.width)
        for start in range(first, first + count, 1024):  # in chunks, so neither pipe fills while the other waits
            stop = min(first + count, start + 1024)
            self.proc.stdin.write("".join(f"4 {i:x} 0\n" for i in range(start, stop)))
            self.proc.stdin.flush()
            for _ in range(start, stop):
                held += int(self._line("W "), 16).to_bytes(self.width, "little")
        if bytes(held[:len(image)]) != image.tobytes():
            raise RuntimeError("the DDR model holds other bytes than the image the driver placed")
        return self.ddr_base

    def store(self, address: int, data: np.ndarray) -> None:
        """Copies `data` (bytes) into the DDR model from bus `address` (whole words; the last is zero-padded)."""
        offset = address - self.ddr_base
        if offset < 0 or offset % self.width:
            raise ValueError(f"address {address:#x} is not a word of the DDR model (base {self.ddr_base:#x})")
        data = np.asarray(data, dtype=np.uint8).reshape(-1)
        data = np.concatenate([data, np.zeros(-len(data) % self.width, dtype=np.uint8)]).reshape(-1, self.width)
        first = offset // self.width
        self.proc.stdin.write("".join(f"5 {first + i:x} {word[::-1].tobytes().hex()}\n" for i, word in enumerate(data)))

    def ddr_counters(self) -> dict[str, int]:
        """The DDR model's counts since the start: bursts, beats, the longest burst (beats), the most bursts in
        flight, bursts crossing a 4 KB boundary, bursts not INCR of full aligned beats, beats outside its memory,
        cycles an address waited for arready, and addresses withdrawn or changed before they were accepted."""
        words = self._answer("3 0 0\n", "M ").split()
        return {words[k]: int(words[k + 1]) for k in range(0, len(words), 2)}

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("0 0 0\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            self.proc.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "SimulatedAxi":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
