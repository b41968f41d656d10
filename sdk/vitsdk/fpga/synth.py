"""Resources of the generated engine from Yosys, the board fit, and the estimated power and energy.

Yosys (`synth_xilinx -family xcup|xc7`, Debian's yosys) synthesises the modules the simulated engine runs, and
`stat` counts DSP48, LUT, FF and carry cells. A board-sized engine is composed from units synthesised once each:
one MAC-array row (x TM rows: fpga/rtl/vit_mac_array.v), one epilogue lane (x TM) and one vector lane (x L:
fpga/rtl/vit_lanes.v), the shared unit (x 1: fpga/rtl/vit_shared_units.v, the iterative divider and square root),
and the sequencer (x 1: fpga/rtl/vit_engine.v with those units as black boxes and its buffers cut out at their
ports: instruction fetch and FSM, address pointers, the fetch unit, the lanes' operand selection, the vector
unit's reductions); the rows and lanes are identical copies, so their counts add. The buffers are synthesised too
(fpga/rtl/vit_buffers.v, `buffer_plan`: each buffer is banks x copies of one memory, banked so that every group of
elements the engine touches in one cycle lies in different memories), and Yosys maps them to RAMB18E2/RAMB36E2 or
URAM288 (`buffer_resources`). Results are cached per sources + parameters.

Not counted: the rotation that lines lanes up with skewed banks (vit_engine.v reads its buffers as behavioural
arrays, one address per element, not as banks), and the small selection arrays (CLS scores, kept and dropped
token lists, fused-token accumulators: TMAX or CMAX entries each), which are cut out with the buffers.

Power and energy are ESTIMATED from the simulated activity (MAC cycles of the array, vector/epilogue
element operations, on-chip bytes, DDR bytes) with per-operation energies from two named public sources:
M. Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm: 8-bit multiply 0.2 pJ, 32-bit add 0.1 pJ,
32-bit multiply 3.1 pJ, 8 KB SRAM read 10 pJ per 64 bits), scaled by the FPGA/ASIC dynamic-power gap of
I. Kuon and J. Rose, "Measuring the gap between FPGAs and ASICs", IEEE TCAD 2007 (7.1x with hard
multipliers and memories); DDR at the board profile's W per GB/s (~20 pJ/bit); plus the board's idle
power (boards.py). None of this is measured: it needs a board (fpga/board/run_board.py).

About 590 lines: the Yosys runs (units, sequencer, buffers), the buffer plan they count, the fit and the power
model share the Resources type and the cache; the buffer plan is the part to move out next.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from vitsdk.errors import UserError, tool_failed
from vitsdk.atomic import write_json
from vitsdk.fpga.boards import BoardProfile
from vitsdk.fpga.program import NF, OP_LN, OP_MM, Program
from vitsdk.fpga.cache import cache_dir
from vitsdk.fpga.rtl import require_tool, rtl_source_dir
from vitsdk.hashing import bytes_sha256

SYNTH_SOURCES = ("vit_mac_array.v", "vit_lanes.v", "vit_shared_units.v", "vit_ops.vh")
FPGA_ASIC_GAP = 7.1  # Kuon & Rose 2007, dynamic power with hard blocks
PJ = {  # Horowitz ISSCC 2014 (45 nm) x FPGA_ASIC_GAP
    "mac_int8": (0.2 + 0.1) * FPGA_ASIC_GAP,  # 8-bit multiply + 32-bit accumulate
    "lane_op": (3.1 + 0.1) * FPGA_ASIC_GAP,  # a 32-bit multiply-add in an epilogue or vector lane
    "sram_byte": 10.0 / 8 * FPGA_ASIC_GAP,  # on-chip buffer access per byte
}
POWER_VERSION = 1


@dataclass
class Resources:
    """Cells of a synthesised design (BRAM36 counts a RAMB18 as half)."""

    dsp: int = 0
    lut: int = 0
    ff: int = 0
    carry: int = 0
    bram36: float = 0.0
    uram: int = 0

    def scaled(self, n: int) -> "Resources":
        return Resources(*(getattr(self, k) * n for k in ("dsp", "lut", "ff", "carry", "bram36", "uram")))

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(*(getattr(self, k) + getattr(other, k) for k in ("dsp", "lut", "ff", "carry", "bram36",
                                                                             "uram")))

    def to_dict(self) -> dict:
        return asdict(self)


def parse_stat(log: str) -> dict[str, int]:
    """Cell counts of the last `stat` report in a Yosys log ({'DSP48E2': 16, 'LUT6': 379, ...})."""
    blocks = log.split("Number of cells:")
    if len(blocks) < 2:
        raise RuntimeError("the Yosys log has no `stat` report")
    cells = {}
    for line in blocks[-1].splitlines()[1:]:
        match = re.match(r"^\s+([A-Za-z_$][\w$]*)\s+(\d+)\s*$", line)
        if not match:
            if cells:
                break
            continue
        cells[match.group(1)] = int(match.group(2))
    return cells


def resources_of(cells: dict[str, int]) -> Resources:
    """DSP/LUT/FF/carry/BRAM/URAM totals of Xilinx primitive counts."""
    r = Resources()
    for name, n in cells.items():
        if name.startswith("DSP48"):
            r.dsp += n
        elif re.fullmatch(r"LUT[1-6]", name) or name == "INV" or name.startswith(("RAM32", "RAM64", "RAM128",
                                                                                    "RAM256", "SRL")):
            r.lut += n
        elif name in ("FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "LDCE", "LDPE"):
            r.ff += n
        elif name.startswith("CARRY"):
            r.carry += n
        elif name.startswith("RAMB36"):
            r.bram36 += n
        elif name.startswith("RAMB18"):
            r.bram36 += n / 2
        elif name.startswith("URAM"):
            r.uram += n
    return r


def _run_yosys(script: str, what: str, timeout_s: float, read: tuple[str, ...] = ("synth.log",)
               ) -> dict[str, str]:
    """Runs Yosys on `script` in a temporary folder (its log: synth.log) and returns the text of the files
    `read` it wrote there; a failure or a timeout is one UserError naming `what`."""
    yosys = require_tool("yosys")
    with tempfile.TemporaryDirectory(prefix="vitsdk-yosys-") as tmp:
        work = Path(tmp)
        (work / "synth.ys").write_text(script)
        try:
            proc = subprocess.run([yosys, "-q", "-l", "synth.log", "synth.ys"], cwd=work, capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise UserError(f"yosys did not finish {what} in {timeout_s:.0f} s (nothing was cached): give it more "
                            f"time or synthesise a smaller engine") from None
        if proc.returncode != 0:
            log = (work / "synth.log").read_text() if (work / "synth.log").is_file() else ""
            raise tool_failed(f"yosys on {what}", proc.returncode, proc.stderr + log)
        return {name: (work / name).read_text() for name in read}


def _synthesize_cached(what: str, key: bytes, script: str, timeout_s: float
                       ) -> tuple[Resources, dict[str, int], float]:
    """Runs `script` (ending in `stat`) unless a result for `key` is cached; returns its resources, raw cell counts
    and seconds (0 when cached)."""
    cached = cache_dir("synth") / f"{bytes_sha256(key)[:24]}.json"
    if cached.is_file():
        cells = json.loads(cached.read_text())
        return resources_of(cells), cells, 0.0
    start = time.perf_counter()
    cells = parse_stat(_run_yosys(script, what, timeout_s)["synth.log"])
    write_json(cached, cells)
    return resources_of(cells), cells, time.perf_counter() - start


def _sources_key(names: tuple[str, ...], *what: object) -> bytes:
    src = rtl_source_dir()
    return json.dumps(what).encode() + b"".join((src / name).read_bytes() for name in names)


def synthesize(top: str, parameters: dict[str, int], family: str = "xcup", timeout_s: float = 1800.0
               ) -> tuple[Resources, dict[str, int], float]:
    """Synthesises module `top` of the datapath sources with `parameters`; returns its resources, raw cell
    counts and seconds (0 when cached)."""
    src = rtl_source_dir()
    chparam = " ".join(f"-set {k} {v}" for k, v in parameters.items())
    script = (f"read_verilog -I{src} {' '.join(str(src / name) for name in SYNTH_SOURCES if name.endswith('.v'))}\n"
              + (f"chparam {chparam} {top}\n" if parameters else "")
              + f"synth_xilinx -family {family} -top {top} -flatten -noiopad\nstat\n")
    return _synthesize_cached(top, _sources_key(SYNTH_SOURCES, top, parameters, family), script, timeout_s)


# The engine's units, counted per unit (engine_resources): black boxes when the sequencer is synthesised
UNIT_SOURCES = ("vit_mac_array.v", "vit_lanes.v", "vit_shared_units.v")
CONTROL_SOURCES = ("vit_engine.v", *UNIT_SOURCES, "vit_ops.vh")
CONTROL_PARAMETERS = ("TM", "TN", "R", "L", "DDR_W", "STREAM", "LN_LAT", "RECIP_LAT")  # what shapes its logic
# the wires into the buffers' ports: exposed as the module's ports before the buffers are cut out
_BUFFER_PORTS = "@mem %ci1:+$mem_v2[RD_ADDR,WR_ADDR,WR_DATA,WR_EN] @mem %d"


def synthesize_control(parameters: dict[str, int], family: str = "xcup", timeout_s: float = 1800.0
                       ) -> tuple[Resources, dict[str, int], float]:
    """Synthesises vit_engine.v, the engine the simulator runs, for its sequencer: the instruction fetch and FSM,
    the address pointers, the fetch unit, the lanes' operand selection and the vector unit's reductions. The
    units (MAC array, lanes, shared unit) are black boxes, counted per unit; the buffers are cut out at their
    ports (their address, data and enable wires become the module's ports), counted by `buffer_plan`."""
    src = rtl_source_dir()
    params = {k: parameters[k] for k in CONTROL_PARAMETERS}
    units = " ".join(str(src / name) for name in UNIT_SOURCES)
    script = (f"read_verilog -I{src} -lib {units}\nread_verilog -I{src} {src / 'vit_engine.v'}\n"
              f"chparam {' '.join(f'-set {k} {v}' for k, v in params.items())} vit_engine\n"
              "hierarchy -top vit_engine\nproc\nopt_clean\n"
              # the buffers as $mem_v2 cells, without memory_share's logic for writes to one buffer in one cycle
              # (the engine's writers of a buffer are in different states: they never collide)
              "opt_mem\nmemory_dff\nopt_clean\nmemory_collect\nselect -set mem t:$mem_v2\n"
              f"select -set ports {_BUFFER_PORTS}\nrename -enumerate @ports\n"  # expose takes named wires only
              f"select -set ports {_BUFFER_PORTS}\nexpose @ports\ndelete @mem\nsetundef -undriven -expose\n"
              f"synth_xilinx -family {family} -top vit_engine -noiopad\nstat\n")
    steps = script.replace(str(src), "rtl")  # the script without this checkout's path: a new script, a new count
    return _synthesize_cached("the engine's sequencer", _sources_key(CONTROL_SOURCES, "control", steps), script,
                              timeout_s)


BUFFER_SOURCE = "vit_buffers.v"


@dataclass(frozen=True)
class BufferSpec:
    """One engine buffer as `copies` x `banks` memories of `depth` words of `width` bits (fpga/rtl/vit_buffers.v).
    A word holds what one bank serves per cycle at one address; the banks of a buffer are separate RAMs with
    their own addresses (skewed banking, `Skewed`), the copies hold the same data for more reads per cycle.
    `ports`: 1, one write and one read port; 2, true dual port (two reads in a cycle without a write)."""

    width: int
    depth: int
    copies: int
    why: str
    banks: int = 1
    ports: int = 1

    @property
    def memories(self) -> int:
        return self.copies * self.banks

    @property
    def bytes(self) -> int:
        return self.memories * self.depth * self.width // 8


@dataclass(frozen=True)
class Skewed:
    """Diagonal (skewed) banking of row-major matrices over `banks` RAMs, one element wide each: element
    (row, col) of a matrix of `cols` columns is in bank (row + col) mod B at address
    row * ceil(cols / B) + col // B (plus the matrix's first address in that buffer's banks).

    Any run of up to B consecutive rows of one column lands in B different banks (banks (row + i + col) mod B,
    i < B), and so does any run of up to B consecutive columns of one row: one cycle serves the epilogue's
    TM tokens of an output column and the vector unit's L channels of a token from the same RAMs, without
    changing a cycle of the schedule. The lanes meet the banks rotated by (row + col) mod B (a barrel shifter
    on the data, address logic, not counted). The padding: ceil(cols / B) * B - cols unused slots per row."""

    banks: int

    def row_words(self, cols: int) -> int:
        return -(-int(cols) // self.banks)

    def bank(self, row: int, col: int) -> int:
        return (row + col) % self.banks

    def address(self, row: int, col: int, cols: int) -> int:
        return row * self.row_words(cols) + col // self.banks

    def depth(self, rows: int, cols: int) -> int:
        """Words per bank of a rows x cols matrix."""
        return int(rows) * self.row_words(cols)


def _words(elements: int, lanes: int) -> int:
    """Words of a memory holding `elements` in `lanes` elements per word (at least 2: one address bit)."""
    return max(2, -(-int(elements) // lanes))


def activation_matrices(program: Program) -> list[tuple[int, int, int]]:
    """The activation buffer's matrices as (first element, rows, columns), read off the instruction stream:
    every access to the buffer (the patch input, LayerNorm and epilogue writes, MAC-array operand reads) is a
    run of rows of one stride; runs of the same stride that overlap are one matrix, whose columns are that
    stride (matrices of other strides may share addresses: `region_depth`). An access that falls in no matrix
    of its stride raises (the skewed banking would not hold)."""
    runs = []  # (first element, stride, rows, columns) of each access
    first_mm = next(row for row in program.instructions if row[0] == OP_MM)
    runs.append((int(first_mm[5]), int(first_mm[6]), *program.input_shape))  # the patches the host writes
    for row in program.instructions:
        if row[0] == OP_LN:
            runs.append((int(row[15]), int(row[16]), int(row[1]), int(row[2])))
        if row[0] != OP_MM:
            continue
        M, N, K, flags = int(row[1]), int(row[2]), int(row[3]), int(row[4])
        if flags >> 8 & 3 == 0:  # the epilogue writes M tokens x N outputs
            runs.append((int(row[15]), int(row[16]), M, N))
        if not flags & 1:  # A from this buffer: M tokens x the K columns of a dense walk, any of a linear's inputs
            width = K if flags >> 1 & 1 else int(row[6])
            runs.append((int(row[5]), int(row[6]), M, width))
        if flags >> 1 & 1:  # dense B from this buffer: QK^T reads N tokens of K, AV N channels of V
            bsn, bsk = int(row[8]), int(row[9])
            runs.append((int(row[7]), bsn, N, K) if bsn > bsk else (int(row[7]), bsk, K, N))
    matrices: dict[int, list[list[int]]] = {}
    for base, stride, rows, cols in sorted(runs, key=lambda r: (r[1], r[0])):
        end = base + (rows - 1) * stride + cols
        spans = matrices.setdefault(stride, [])
        if spans and base < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([base, end])
    spans = sorted((start, end, stride) for stride, spans in matrices.items() for start, end in spans)
    stray = [(base, stride) for base, stride, rows, cols in runs
             if not any(s == stride and start <= base and base + (rows - 1) * stride + cols <= end
                        and (base - start) % stride + cols <= stride for start, end, s in spans)]
    if stray:
        raise RuntimeError(f"the activation buffer is not a set of row-major matrices: accesses (first element, "
                           f"stride) outside one matrix {stray}")
    return [(start, -(-(end - start) // stride), stride) for start, end, stride in spans]


def region_depth(matrices: list[tuple[int, int, int]] | set[tuple[int, int, int]], skew: Skewed) -> int:
    """Words per bank of `matrices` (first element, rows, columns) banked by `skew`. Matrices of other strides
    that share addresses are one region the program reuses with another shape in another layer (a compacted
    MLP's hidden width differs per block): the region holds one of them at a time, so it needs the largest
    one's depth, not their sum."""
    total, region_end, deepest = 0, -1, 0
    for start, rows, cols in sorted(matrices):
        if start >= region_end:
            total, deepest = total + deepest, 0
        deepest = max(deepest, skew.depth(rows, cols))
        region_end = max(region_end, start + rows * cols)
    return total + deepest


def buffer_plan(program: Program) -> dict[str, BufferSpec]:
    """The engine's buffers for `program`, banked so that every access vit_engine.v makes in one cycle hits
    different RAMs (one write port and one read port per RAM: the epilogue or vector unit writes while the
    array or vector unit reads). Per buffer, the accesses of one cycle and the banking that serves them:

    - activations (int8): the MAC array reads TM consecutive tokens of one column per strip (TN/R strips,
      each its own kept column) and, in QK^T, the B operand's TN consecutive tokens of one column of K, in
      AV TN consecutive channels of one token of V; the epilogue writes TM tokens of one column, LayerNorm L
      channels of one token. Skewed over max(TM, L, TN) banks; QK^T reads Q and K in the same cycle and
      writes only scores, so the banks are true dual port (Q on one port, K on the other). Each matrix
      (patches, LayerNorm output, q|k|v, attention output, MLP hidden) is laid out on its own rows
      (`activation_matrices`). activation_strips: strips 2..TN/R read their own columns of the linears' inputs
      (not q|k|v, which only QK^T and AV read) from one more copy each of those matrices, written with them.
      The input record's beat (S_LOAD) writes DDR_W consecutive patch values: distinct banks when the bank count
      is at least DDR_W and a patch is whole beats (DeiT-S and vit_nano on the ZCU102/104 engines: 32 banks,
      768- and 16-byte patches); on smaller engines (the tests' 4 x 8) a real one would take ceil(DDR_W / banks)
      cycles per beat, which the simulation does not charge.
    - probabilities (16 bits): softmax writes L consecutive keys of one query, AV reads TM consecutive queries
      of one key: skewed over max(TM, L) banks.
    - scores (32 bits): the QK^T epilogue writes TM queries of one key, softmax reads L keys of one query:
      skewed over max(TM, L) banks. Scores and probabilities of a head are tokens x tokens at the current
      token count: at most TMAX rows of ceil(TMAX / B) words.
    - residual (the program's clamp width): the epilogue reads and writes TM tokens of one channel (residual
      add), LayerNorm reads and token selection copies/fuses L channels of one token: skewed over max(TM, L)
      banks, two regions of TMAX tokens x CMAX channels. The input record writes DDR_W / 4 consecutive channels
      of the embedding per beat (distinct banks while max(TM, L) >= DDR_W / 4 and a token is whole beats).
    - weights (wmem), indices (xmem) and constants (kmem) of the linears: every linear's section on chip, or,
      when the model streams, two halves of the largest section (the double buffers the weight port fills).
      The array reads, per TN/R strip, its kept column's R values and index in one cycle (values and indices
      one bank per strip: a strip's values and indices are runs of their own), the epilogue one channel's
      constants; the weight port writes one DDR_W-byte beat per cycle (words at least a beat wide).
    - norm_constants (cmem): LayerNorm's gain and offset, L consecutive channels of each per cycle: each its own
      memory interleaved over L banks (2L banks), at the width of the largest value.
    - the GELU table once per epilogue lane, the exp table once per vector lane (each lane looks up its own
      entry); the instruction stream one instruction per word (fetched at once).

    Element widths are the engine's: int8 activations and weights, 16-bit probabilities, 32-bit scores,
    the residual at the program's clamp width, the exp table at its largest entry."""
    cfg, s = program.config, program.sizes
    TM, TN, L = cfg.tokens, cfg.outputs, cfg.lanes
    strips = TN // program.block.rows
    mm = [row for row in program.instructions if row[0] == OP_MM]
    linears = [row for row in mm if row[4] >> 15 & 1]
    residual_bits = max(int(row[22]) + 1 for row in linears).bit_length() if linears else 32
    exp_bits = max(1, int(max(program.memories["elut"].max(), 1)).bit_length())
    dense_b = any(row[4] >> 1 & 1 for row in mm)  # QK^T / AV read their B operand from the activations
    both = [row for row in mm if row[4] & 3 == 2]  # QK^T: A and B from the activations in the same cycle
    act = Skewed(max(TM, L, TN if dense_b else 1))
    act_terms = "max(TM, L, TN)" if dense_b else "max(TM, L)"
    act_copies, act_ports, act_why = 1, 1, ""
    if both:
        if any(row[4] >> 8 & 3 == 0 for row in both):  # the epilogue writes them too: a second copy
            act_copies, act_why = 2, "two copies: QK^T reads Q and K in one cycle"
        else:
            act_ports, act_why = 2, "true dual port: QK^T reads Q and K in one cycle and writes the scores"
    matrices = activation_matrices(program)
    act_depth = region_depth(matrices, act)

    def holding(base: int, stride: int) -> tuple[int, int, int]:
        return next(m for m in matrices if m[2] == stride and m[0] <= base < m[0] + m[1] * m[2])

    strip_read = {holding(int(row[5]), int(row[6])) for row in linears}  # what the strips read, each its column
    strip_depth = region_depth(strip_read, act)
    vec = Skewed(max(TM, L))
    T, C = s["TMAX"], s["CMAX"]
    weights = program.weight_buffer_elements
    R, beat_bytes = program.block.rows, cfg.ddr_beat_bytes
    beat = max(2, beat_bytes) // 2  # indices per beat of the weight port
    value_word = max(R, beat_bytes)  # one strip's R values read per cycle; one beat written per cycle
    # one strip bank's values (bytes) and indices (entries) per linear: its strips s, s + TN/R, ...
    value_bytes = program.held([-(-layer["strips"] // strips) * layer["col_blocks"] * layer["kept"] * R
                                for layer in program.layers])
    index_entries = program.held([-(-layer["strips"] // strips) * layer["index_run"] for layer in program.layers])
    halves = "; streamed: two halves, each the largest linear's section" if program.streamed else ""
    norm_bits = max(1, int(np.abs(program.memories["cmem"]).max(initial=1))).bit_length() + 1
    plan = {
        "activations": BufferSpec(8, max(2, act_depth), act_copies,
                                  f"skewed over {act_terms} = {act.banks} banks: TM tokens of a column, L or TN "
                                  f"channels of a token" + (f"; {act_why}" if act_why else ""),
                                  banks=act.banks, ports=act_ports),
        "probabilities": BufferSpec(16, max(2, vec.depth(T, T)), 1, f"skewed over max(TM, L) = {vec.banks} banks: "
                                    "L keys of a query (softmax), TM queries of a key (AV)", banks=vec.banks),
        "scores": BufferSpec(32, max(2, vec.depth(T, T)), 1, f"skewed over max(TM, L) = {vec.banks} banks: TM "
                             "queries of a key (epilogue), L keys of a query (softmax)", banks=vec.banks),
        "residual": BufferSpec(residual_bits, max(2, vec.depth(s["RW"] // C, C)), 1,
                               f"skewed over max(TM, L) = {vec.banks} banks: TM tokens of a channel (epilogue), "
                               "L channels of a token (LayerNorm, token selection); two regions", banks=vec.banks),
        "weights": BufferSpec(8 * value_word, _words(value_bytes, value_word), 1, f"one bank per TN/R strip (its "
                              f"values are a run of their own): each strip reads its kept column's R values per "
                              f"cycle; max(R, DDR_W) = {value_word} bytes per word, so a streamed beat is one write "
                              f"into a bank (two at a strip boundary, one each; a word wider than a beat takes it "
                              f"with byte enables){halves}", banks=strips),
        "indices": BufferSpec(16 * beat, _words(index_entries, beat), 1, f"one bank per TN/R strip (strip s in bank "
                              f"s mod TN/R): each strip reads its own kept column; DDR_W / 2 = {beat} indices of one "
                              f"strip per word (its indices are whole 64-byte runs), so a streamed beat is one "
                              f"write{halves}", banks=strips),
        "constants": BufferSpec(8 * max(16, beat_bytes), _words(weights["kmem"], max(16, beat_bytes) // 8), 1,
                                f"one output channel's multiplier, bias and shift (16 bytes) per cycle for the "
                                f"epilogue, a beat per cycle from the weight port: max(16, DDR_W) bytes per "
                                f"word{halves}"),
        "norm_constants": BufferSpec(norm_bits, _words(s["CW"], 2 * L), 1, "LayerNorm's gain and offset, "
                                     "each interleaved over L banks (element i in bank i mod L): L consecutive "
                                     "channels of each per cycle", banks=2 * L),
        "gelu_tables": BufferSpec(8, _words(s["GW"], 1), TM, "one copy per epilogue lane"),
        "exp_table": BufferSpec(exp_bits, 256, L, "one copy per vector lane"),
        "instructions": BufferSpec(64 * NF, _words(len(program.instructions), 1), 1, "one instruction per word"),
    }
    if linears and strips > 1:  # strips 2.. read their own kept columns of the linears' inputs from copies of those
        plan["activation_strips"] = BufferSpec(8, max(2, strip_depth), strips - 1,
                                               "the matrices the linears read, banked like the activations: one "
                                               "copy per TN/R strip after the first", banks=act.banks)
    return plan


def synthesize_buffers(specs: dict[str, tuple[BufferSpec, bool]], family: str, timeout_s: float = 1800.0
                       ) -> tuple[dict[str, dict[str, int]], float]:
    """Yosys cell counts of one memory (one bank of one copy) of each buffer (name -> (spec, in UltraRAM)), each
    cached by its spec, family and vit_buffers.v; the missing ones are synthesised in one Yosys run. Returns the
    counts and the seconds (0 when all were cached)."""
    src = rtl_source_dir() / BUFFER_SOURCE
    source = src.read_bytes()
    keys = {name: bytes_sha256(json.dumps(["buffer", spec.width, spec.depth, spec.ports, ultra, family]).encode()
                               + source)
            for name, (spec, ultra) in specs.items()}
    folder = cache_dir("synth")
    cells = {name: json.loads((folder / f"{key[:24]}.json").read_text())
             for name, key in keys.items() if (folder / f"{key[:24]}.json").is_file()}
    todo = [name for name in specs if name not in cells]
    if not todo:
        return cells, 0.0
    script = "".join(f"design -reset\nread_verilog {src}\n"
                     f"chparam -set WIDTH {specs[n][0].width} -set DEPTH {specs[n][0].depth} -set ULTRA "
                     f"{int(specs[n][1])} -set PORTS {specs[n][0].ports} vit_buffer_bank\n"
                     f"synth_xilinx -family {family} -top vit_buffer_bank -noiopad\ntee -q -o {n}.stat stat\n"
                     for n in todo)
    start = time.perf_counter()
    stats = _run_yosys(script, "the buffers", timeout_s, read=tuple(f"{name}.stat" for name in todo))
    for name in todo:
        cells[name] = parse_stat(stats[f"{name}.stat"])
        write_json(folder / f"{keys[name][:24]}.json", cells[name])
    return cells, time.perf_counter() - start


def buffer_resources(program: Program, profile: BoardProfile, family: str | None = None) -> dict:
    """BRAM/URAM (and the LUTs/FFs of their address and output muxes) of the engine's buffers, synthesised
    by Yosys (`buffer_plan`, fpga/rtl/vit_buffers.v). Where the part has UltraRAM, every buffer is synthesised
    both ways: the weights go to URAM when it holds them, then, while the buffers exceed the part's BRAM,
    the buffer that frees the most BRAM36 per URAM block it takes moves to URAM."""
    family = family or profile.family
    plan = buffer_plan(program)
    ultra = profile.uram > 0 and family == "xcup"
    jobs = {name: (spec, False) for name, spec in plan.items()}
    if ultra:
        jobs.update({f"{name}@uram": (spec, True) for name, spec in plan.items()})
    cells, seconds = synthesize_buffers(jobs, family)
    each = {name: resources_of(c) for name, c in cells.items()}
    in_uram: set[str] = set()

    def total() -> Resources:
        out = Resources()
        for name, spec in plan.items():
            out = out + each[f"{name}@uram" if name in in_uram else name].scaled(spec.memories)
        return out

    if ultra:
        if each["weights@uram"].uram * plan["weights"].memories <= profile.uram:
            in_uram.add("weights")
        while total().bram36 > profile.bram36:
            left = profile.uram - total().uram
            gains = [((each[n].bram36 - each[f"{n}@uram"].bram36) * s.memories
                      / max(1, each[f"{n}@uram"].uram * s.memories), n)
                     for n, s in plan.items() if n not in in_uram
                     and each[f"{n}@uram"].uram * s.memories <= left and each[n].bram36 > each[f"{n}@uram"].bram36]
            if not gains:
                break
            in_uram.add(max(gains)[1])
    buffers = {name: {**asdict(spec), "bytes": spec.bytes, "in": "uram" if name in in_uram else "bram",
                      "each": each[f"{name}@uram" if name in in_uram else name].to_dict()}
               for name, spec in plan.items()}
    return {"total": total().to_dict(), "buffers": buffers, "weight_bytes_on_chip": int(program.weight_buffer_need),
            "synth_seconds": round(seconds, 1),
            "method": f"yosys synth_xilinx -family {family} of one bank of each buffer ({BUFFER_SOURCE}) x banks x "
                      f"copies"}


def engine_resources(program: Program, profile: BoardProfile, family: str | None = None) -> dict:
    """Yosys counts of the engine of `program` composed from its units, plus its buffers, and whether it fits
    `profile` (with each resource's use in % of the part)."""
    cfg = program.config
    family = family or profile.family
    parts = {
        "mac_row": ("vit_mac_array", {"TM": 1, "TN": cfg.outputs, "R": program.block.rows}, cfg.tokens),
        "epilogue_lane": ("vit_epilogue_lane", {}, cfg.tokens),
        "vector_lane": ("vit_vector_lane", {}, cfg.lanes),
        "shared_units": ("vit_shared_units", {"RECIP_LAT": cfg.recip_latency}, 1),
    }
    total, units, seconds = Resources(), {}, 0.0
    for name, (top, params, copies) in parts.items():
        res, _, s = synthesize(top, params, family)
        seconds += s
        units[name] = {"copies": copies, "each": res.to_dict()}
        total = total + res.scaled(copies)
    res, _, s = synthesize_control(program.parameters(), family)
    seconds += s
    units["sequencer"] = {"copies": 1, "each": res.to_dict()}
    total = total + res
    buffers = buffer_resources(program, profile, family)
    total = total + Resources(**buffers["total"])
    return {"family": family, "total": total.to_dict(), "units": units, "buffers": buffers,
            **fit_report(total, profile), "synth_seconds": round(seconds + buffers["synth_seconds"], 1),
            "method": "yosys synth_xilinx per unit x copies, the sequencer (vit_engine.v with the units as black "
                      "boxes and the buffers cut out) once; buffers (BRAM/URAM) per bank x banks x copies"}


MIN_TOKENS = 8  # the smallest TM `fitted` shrinks an engine to


def fitted(program: Program, profile: BoardProfile, sized_by_user: bool = False, min_tokens: int = MIN_TOKENS
           ) -> tuple[Program, dict]:
    """`program` on the engine that fits `profile` by Yosys' count, with that engine's resources. The engine is
    the one `program` was compiled for (`engine.design_for`'s sizes); when it does not fit and the user did not
    choose its token tile, TM halves (down to `min_tokens`) until it does: fewer token lanes take fewer skewed
    banks, epilogue lanes and MAC rows; the datapath units are the same (their synthesis is keyed on TN), the
    sequencer is synthesised again for each TM tried (minutes of Yosys each at board sizes, then cached).
    A re-sized engine's resources say from what and why (`resized`); when nothing fits, the last count is
    returned for `check_fit` to refuse with its numbers."""
    resources = engine_resources(program, profile)
    first, tokens = resources, program.config.tokens
    while not resources["fits"] and not sized_by_user and program.config.tokens > min_tokens:
        program = program.with_config(replace(program.config, tokens=max(min_tokens, program.config.tokens // 2)))
        resources = engine_resources(program, profile)
    if program.config.tokens != tokens:
        resources["resized"] = {"tokens": [tokens, program.config.tokens],
                                "why": f"TM={tokens} does not fit: {'; '.join(first['over'])}"}
    return program, resources


def fit_report(total: Resources, profile: BoardProfile) -> dict:
    """Each resource against the part: use in % and what is over."""
    limits = {"dsp": profile.dsp, "lut": profile.lut, "ff": profile.ff, "bram36": profile.bram36,
              "uram": profile.uram}
    use = {k: round(100.0 * getattr(total, k) / v, 1) if v else (0.0 if not getattr(total, k) else 1e9)
           for k, v in limits.items()}
    over = [f"{k} {getattr(total, k):g} > {v}" for k, v in limits.items() if getattr(total, k) > v]
    return {"limits": limits, "use_percent": use, "fits": not over, "over": over}


def check_fit(report: dict, profile: BoardProfile, what: str) -> None:
    if not report["fits"]:
        raise UserError(f"{what} does not fit the {profile.title} ({profile.part}): {'; '.join(report['over'])} "
                        f"(Yosys count); pass smaller engine sizes (--engine-tokens/--engine-outputs/--engine-lanes) "
                        f"or prune the model")


def estimate_power(program: Program, profile: BoardProfile, cycles: int, mac_cycles: int, ddr_bytes: int) -> dict:
    """Estimated power and energy of one inference from the simulated activity (see the module docstring)."""
    cfg = program.config
    seconds = cycles / (cfg.clock_mhz * 1e6)
    macs = mac_cycles * cfg.peak_macs_per_cycle  # every issued MAC slot toggles the array
    lane_ops = sum(layer["tokens"] * layer["out"] for layer in program.layers)  # epilogue: one per output
    lane_ops += program.activation_bytes  # vector unit and buffer traffic: about one op per buffered byte
    sram_bytes = 2 * macs / cfg.outputs + program.weight_bytes  # activation reads per row + weights once
    dynamic_j = (macs * PJ["mac_int8"] + lane_ops * PJ["lane_op"] + sram_bytes * PJ["sram_byte"]) * 1e-12
    ddr_j = ddr_bytes * profile.ddr_w_per_gbps / 1e9  # W per GB/s = J per GB
    energy_mj = (dynamic_j + ddr_j) * 1e3
    power_w = profile.static_w + (dynamic_j + ddr_j) / seconds
    return {"energy_mj": energy_mj, "energy_total_mj": power_w * seconds * 1e3, "power_w": power_w,
            "idle_power_w": profile.static_w, "net_power_w": power_w - profile.static_w,
            "parameters": {"power_model_version": POWER_VERSION, "pj_mac_int8": round(PJ["mac_int8"], 3),
                           "pj_lane_op": round(PJ["lane_op"], 3), "pj_sram_byte": round(PJ["sram_byte"], 3),
                           "fpga_asic_gap": FPGA_ASIC_GAP, "ddr_w_per_gbps": profile.ddr_w_per_gbps,
                           "static_power_w": profile.static_w, "macs_issued": int(macs), "lane_ops": int(lane_ops),
                           "sram_bytes": int(sram_bytes), "ddr_bytes": int(ddr_bytes), "cycles": int(cycles),
                           "clock_mhz": cfg.clock_mhz,
                           "sources": "Horowitz ISSCC 2014 x Kuon & Rose TCAD 2007 gap; board idle power"}}
