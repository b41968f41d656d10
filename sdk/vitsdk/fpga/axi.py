"""The host side of the engine IP (`fpga/rtl/vit_axi.v`): its AXI4-Lite register map and `AxiEngine`, which
checks the IP is the design a project was exported for, loads the project's buffer images through the
registers, puts the model's DDR image where the IP's AXI4 master reads it (the input record, then a streamed
model's weight image rtl/ddr.hex), and runs inferences: per inference the host copies the patches into the input
record in DDR and the engine reads them itself, with the CLS + position embedding. The same driver runs on the
board (fpga/board/run_board.py, over a PYNQ `DefaultIP` and `PynqMemory`) and in the tests (over
`vitsdk.fpga.axi_sim.SimulatedAxi`, the Verilated vit_axi with a model of the board's DDR), so the register
protocol the board uses is the one the RTL was simulated with.

Imports no torch (numpy and vitsdk.fpga.project): the board runner uses it on a PYNQ image.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from vitsdk.errors import UserError

CTRL, ID, VERSION, NPARAM = 0x00, 0x10, 0x14, 0x18
COUNTERS = {"cycles": 0x20, "mac_cycles": 0x28, "stall_cycles": 0x30, "ddr_bytes": 0x38}  # lo, hi at +4
BUF_SEL, BUF_ADDR, BUF_HI, BUF_DATA = 0x40, 0x44, 0x48, 0x4C
DDR_BASE, DDR_STATUS = 0x50, 0x58  # the DDR image's bus address (lo; hi at +4); bit 0: a DDR read failed
PARAMS, LOGITS = 0x100, 0x8000
AP_START, AP_DONE, AP_IDLE = 0x1, 0x2, 0x4
ID_VALUE, MAP_VERSION = 0x56495445, 4  # "VITE"; version 2: the AXI4 master, DDR_BASE, DDR_STATUS, DDR_W; 3: kmem, KW;
# 4: the engine reads its input record (patches, embedding) from DDR at the start of each inference
# the IP's parameters (registers at PARAMS); the DDR's bandwidth and latency (DDR_NUM/DDR_DEN/DDR_LAT in rtl.json) are
# the board's, the testbenches' DDR models take them, the IP has none
PARAMETERS = ("TM", "TN", "R", "L", "AW", "PW", "SW", "RW", "WW", "XW", "CW", "GW", "OW", "QW", "TMAX", "CMAX",
              "LN_LAT", "RECIP_LAT", "STREAM", "DDR_W", "KW")
BUFFERS = {"prog": (0, 64), "amem": (1, 8), "rmem": (2, 32), "wmem": (3, 8), "xmem": (4, 16), "cmem": (5, 64),
           "glut": (6, 8), "elut": (7, 64), "kmem": (8, 64)}  # name: (vit_engine BUF_* number, element bits)
STATIC = ("prog", "wmem", "xmem", "kmem", "cmem", "glut", "elut")  # loaded once; the input comes through DDR
STREAMED = ("wmem", "xmem", "kmem")  # a linear's weights: from DDR when the model streams (rtl/ddr.hex), not loaded


class Mmio(Protocol):
    """32-bit register access at byte offsets (PYNQ's DefaultIP / MMIO has these two methods)."""

    def read(self, offset: int) -> int: ...

    def write(self, offset: int, value: int) -> None: ...


class Memory(Protocol):
    """Memory the IP's AXI4 master reads (the board's DDR): `place` copies the DDR image there and returns its bus
    address (what DDR_BASE is written with); `store` copies bytes to a bus address inside a placed image."""

    def place(self, image: np.ndarray) -> int: ...

    def store(self, address: int, data: np.ndarray) -> None: ...


def record_embedding(files: dict[str, Path], parameters: dict[str, int]) -> np.ndarray:
    """The CLS + position embedding an input record carries: the first of rmem's two residual regions in rtl/rmem.hex
    (the second is written before it is read)."""
    return read_hex(files["rmem.hex"], BUFFERS["rmem"][1])[: parameters["RW"] // 2]


def record_bytes(parameters: dict[str, int]) -> int:
    """Bytes of a design's input record in DDR (REC_WORDS beats of DDR_W bytes; `Program.record_bytes`)."""
    return parameters["REC_WORDS"] * parameters["DDR_W"]


def input_record(patches: np.ndarray, embed: np.ndarray, input_bytes: int, record_bytes: int) -> np.ndarray:
    """The input record the engine reads from DDR at the start of an inference (uint8, `record_bytes`): the int8
    patches in `input_bytes`, then the CLS + position embedding as little-endian int32, each zero-padded
    (vitsdk.fpga.program.Program.record_bytes)."""
    record = np.zeros(record_bytes, dtype=np.uint8)
    data = np.asarray(patches, dtype=np.int64).reshape(-1).astype(np.int8).view(np.uint8)
    words = np.asarray(embed, dtype=np.int64).reshape(-1).astype("<i4").view(np.uint8)
    if len(data) > input_bytes or input_bytes + len(words) > record_bytes:
        raise UserError(f"{len(data)} patch values and {len(words) // 4} embedding values do not fit the design's "
                        f"input record ({input_bytes} + {record_bytes - input_bytes} bytes): wrong input shape")
    record[:len(data)] = data
    record[input_bytes:input_bytes + len(words)] = words
    return record


class PynqMemory:
    """The board's DDR through PYNQ: `pynq.allocate` gives a physically contiguous buffer (a numpy array), the
    image is copied in and flushed from the processor's caches, and its `device_address` (`physical_address`
    before PYNQ 2.7) is the bus address. The buffers are kept for as long as this object lives."""

    def __init__(self) -> None:
        import pynq  # on the board only
        self.pynq = pynq
        self.buffers: list[tuple[int, object]] = []  # (bus address, buffer)

    def place(self, image: np.ndarray) -> int:
        buffer = self.pynq.allocate(shape=(len(image),), dtype=np.uint8)
        buffer[:] = image
        buffer.flush()
        address = getattr(buffer, "device_address", None)
        address = int(buffer.physical_address if address is None else address)
        self.buffers.append((address, buffer))
        return address

    def store(self, address: int, data: np.ndarray) -> None:
        for base, buffer in self.buffers:
            if base <= address and address + len(data) <= base + len(buffer):
                view = buffer[address - base:address - base + len(data)]  # a PynqBuffer view: its own offset
                view[:] = data
                view.flush()  # only these bytes, not a streamed model's whole weight image
                return
        raise UserError(f"no placed DDR buffer holds {len(data)} bytes at {address:#x}")


def ddr_hex(image: np.ndarray, beat_bytes: int) -> str:
    """Bytes of the DDR image (the weight image rtl/ddr.hex, an input record) as $readmemh text: one line per
    `beat_bytes`-byte word, its bytes little-endian (byte 0 of the word is the rightmost two hex digits);
    `read_ddr_image` reads it back."""
    words = (np.asarray(image, dtype=np.int64).reshape(-1, beat_bytes) & 0xFF).astype(np.uint8)[:, ::-1]
    return "".join(f"{word.tobytes().hex()}\n" for word in words)


def read_ddr_image(path: Path, width: int) -> np.ndarray:
    """rtl/ddr.hex as the bytes of the weight image (uint8): one `width`-byte word per line, its bytes
    little-endian (byte 0 is the rightmost two hex digits)."""
    words = path.read_text().split()
    if any(len(word) != 2 * width for word in words):
        raise UserError(f"{path} does not hold {width}-byte words (the design's DDR_W): export the model again")
    return np.frombuffer(bytes.fromhex("".join(words)), dtype=np.uint8).reshape(-1, width)[:, ::-1].reshape(-1)


def read_hex(path: Path, bits: int) -> np.ndarray:
    """A $readmemh image of `bits`-bit two's-complement values (one hex value per line) as int64."""
    half = 1 << (bits - 1)
    return np.array([(int(word, 16) ^ half) - half for word in path.read_text().split()], dtype=np.int64)


class AxiEngine:
    """The engine IP behind `mmio`, loaded with a verified rtl/ folder's buffer images.

    Args:
        mmio: the IP's registers.
        files: {file name: path} of the project's rtl/ folder, sha256-checked (`project.verified_files`).
        parameters: the design's parameters (rtl.json's, i.e. `Program.parameters()`): the IP must report the
            same ones, or it was built for another model or engine size.
        memory: where the DDR image goes (the input record, then a streamed model's weight image; the IP's master
            reads it there).
        timeout_s: how long `run` waits for ap_done.
    """

    def __init__(self, mmio: Mmio, files: dict[str, Path], parameters: dict[str, int], memory: Memory | None,
                 timeout_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.mmio = mmio
        self.files = files
        self.parameters = parameters
        self.memory = memory
        self.timeout_s = timeout_s
        self.clock = clock
        self._hi: int | None = None  # BUF_HI as last written (the register keeps it)
        missing = [name for name in PARAMETERS if name not in parameters]
        if missing:
            raise UserError(f"this project's rtl/rtl.json has no {', '.join(missing)} (exported by an older vitsdk): "
                            f"export it again")
        # a streamed model's weights come from DDR through the IP's master: the weight buffers start empty
        self.streamed = bool(parameters["STREAM"])
        self.static = tuple(name for name in STATIC if not (self.streamed and name in STREAMED))
        self.images = {name: read_hex(files[f"{name}.hex"], BUFFERS[name][1]) for name in self.static}
        self.ddr_address: int | None = None
        self.embed = record_embedding(files, parameters)  # the engine reads it from the input record
        self.record_bytes = record_bytes(parameters)
        self.counters: dict[str, int] = {}

    def check(self) -> None:
        """UserError unless the IP is vit_axi with this design's parameters."""
        found = self.mmio.read(ID)
        if found != ID_VALUE:
            raise UserError(f"the IP's ID register reads {found:#010x}, not the vitsdk engine's {ID_VALUE:#010x}: "
                            f"wrong IP name or bitstream (build the bitstream from this project's rtl/vit_axi.v)")
        version = self.mmio.read(VERSION)
        if version != MAP_VERSION:
            raise UserError(f"the engine IP has register map version {version}, this vitsdk drives version "
                            f"{MAP_VERSION}: rebuild the bitstream from this project's rtl/ folder")
        count = min(self.mmio.read(NPARAM), len(PARAMETERS))
        got = {name: self.mmio.read(PARAMS + 4 * i) for i, name in enumerate(PARAMETERS[:count])}
        bad = [f"{k} {got.get(k)} (project: {self.parameters[k]})" for k in PARAMETERS if got.get(k) !=
               self.parameters[k]]
        if bad:
            raise UserError(f"the engine IP was built for another design: {', '.join(bad)}; build the bitstream "
                            f"from this project's rtl/ folder with the parameters in rtl/rtl.json")

    def write_buffer(self, name: str, values: np.ndarray, start: int = 0) -> None:
        """Writes `values` into buffer `name` from element `start`: four int8 or two 16-bit elements per register
        write where they pack (a wider buffer's values when they fit int16, sign-extended by the IP), one element
        (with BUF_HI when it is wider than 32 bits) otherwise."""
        sel, bits = BUFFERS[name]
        signed = np.asarray(values).astype(np.int64).reshape(-1)
        values = signed.astype(np.uint64)
        w = self.mmio.write
        pack = {8: 2, 16: 1}.get(bits, 0)
        sign = 0
        if bits == 32 and len(signed) and -(1 << 15) <= signed.min() and signed.max() < 1 << 15:
            pack, sign = 1, 1 << 10  # e.g. the int16 residual stream's embedding into 32-bit rmem
        per = 1 << pack
        width = 32 // per
        full = len(values) - len(values) % per if pack else 0
        if full:
            w(BUF_SEL, sel | pack << 8 | sign)
            w(BUF_ADDR, start)
            lanes = (values[:full] & np.uint64((1 << width) - 1)).reshape(-1, per)
            words = np.zeros(len(lanes), dtype=np.uint64)
            for k in range(per):
                words |= lanes[:, k] << np.uint64(width * k)
            for word in words.tolist():
                w(BUF_DATA, word)
        if full < len(values):
            w(BUF_SEL, sel)
            w(BUF_ADDR, start + full)
            for value in values[full:].tolist():
                if bits > 32 and value >> 32 != self._hi:
                    self._hi = value >> 32
                    w(BUF_HI, self._hi)
                w(BUF_DATA, value & 0xFFFFFFFF)

    def load(self) -> None:
        """Checks the IP, puts the DDR image in `memory` (its address to DDR_BASE), then writes the program and every
        constant buffer (once per model)."""
        self.check()
        if not self.mmio.read(CTRL) & AP_IDLE:
            raise UserError("the engine IP is busy (ap_idle is 0): reload the overlay and run again")
        self.place_image()
        for name in self.static:
            self.write_buffer(name, self.images[name])

    def place_image(self) -> None:
        """Copies the DDR image (the input record with the embedding, then a streamed model's rtl/ddr.hex) into
        `memory` and writes its address to DDR_BASE (lo, hi)."""
        width = self.parameters["DDR_W"]
        if self.memory is None:
            raise UserError("the engine reads its input from DDR: the driver needs the board's memory "
                            "(vitsdk.fpga.axi.PynqMemory on a PYNQ board)")
        image = [input_record([], self.embed, self.parameters["REC_IN"], self.record_bytes)]
        if self.streamed:
            if "ddr.hex" not in self.files:
                raise UserError("this project streams its weights but its rtl/ has no ddr.hex (exported by an older "
                                "vitsdk): export it again")
            image.append(read_ddr_image(self.files["ddr.hex"], width))
        address = int(self.memory.place(np.concatenate(image)))
        if address % width:
            raise UserError(f"the DDR image's address {address:#x} is not a multiple of the IP's beat "
                            f"({width} bytes, DDR_W): allocate it aligned")
        self.mmio.write(DDR_BASE, address & 0xFFFFFFFF)
        self.mmio.write(DDR_BASE + 4, address >> 32)
        self.ddr_address = address

    def run(self, patches: np.ndarray) -> np.ndarray:
        """One inference on int8 `patches`: copies them into the input record in DDR, starts (the engine reads the
        record), waits for ap_done, reads the logits (int32) and the engine's counters (`self.counters`)."""
        if self.ddr_address is None:
            raise UserError("the engine is not loaded: call load() first")
        record = input_record(patches, [], self.parameters["REC_IN"], self.parameters["REC_IN"])
        self.memory.store(self.ddr_address, record)
        self.mmio.write(CTRL, AP_START)
        deadline = self.clock() + self.timeout_s
        while not self.mmio.read(CTRL) & AP_DONE:
            if self.clock() > deadline:
                raise UserError(f"the engine IP did not finish within {self.timeout_s:g} s (ap_done never set)")
        if self.mmio.read(DDR_STATUS) & 1:
            raise UserError(f"the engine IP's reads from DDR failed (SLVERR/DECERR) at the image's address "
                            f"{self.ddr_address:#x}: that address is not readable memory on this board")
        words = [self.mmio.read(LOGITS + 4 * o) for o in range(self.parameters["OW"])]
        self.counters = {name: self.mmio.read(a) | self.mmio.read(a + 4) << 32 for name, a in COUNTERS.items()}
        return np.array(words, dtype=np.uint32).view(np.int32)
