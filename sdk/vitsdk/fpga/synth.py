"""Resources of the generated engine from Yosys, the board fit, and the estimated power and energy.

Yosys (`synth_xilinx -family xcup|xc7`, Debian's yosys) synthesises the modules the simulated engine runs, and
`stat` counts DSP48, LUT, FF and carry cells. A board-sized engine is composed from units synthesised once each:
one MAC-array row (x TM rows: fpga/rtl/vit_mac_array.v), one epilogue lane (x TM) and one vector lane (x L:
fpga/rtl/vit_lanes.v), the shared unit (x 1: fpga/rtl/vit_shared_units.v, the iterative divider and square root),
and the sequencer (x 1: fpga/rtl/vit_engine.v with those units as black boxes and its buffers cut out at their
ports: instruction fetch and FSM, address pointers, the fetch unit, the lanes' operand selection, the vector
unit's reductions); the rows and lanes are identical copies, so their counts add. The buffers are synthesised too
(fpga/rtl/vit_buffers.v, buffer_plan.py: each buffer is banks x copies of one memory, banked so that every group
of elements the engine touches in one cycle lies in different memories), and Yosys maps them to RAMB18E2/RAMB36E2
or URAM288 (`buffer_resources`). Results are cached per sources + parameters.

Not counted: the rotation that lines lanes up with skewed banks (vit_engine.v reads its buffers as behavioural
arrays, one address per element, not as banks).

Power and energy are ESTIMATED from the simulated activity (MAC cycles of the array, vector/epilogue
element operations, on-chip bytes, DDR bytes) with per-operation energies from two named public sources:
M. Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm: 8-bit multiply 0.2 pJ, 32-bit add 0.1 pJ,
32-bit multiply 3.1 pJ, 8 KB SRAM read 10 pJ per 64 bits), scaled by the FPGA/ASIC dynamic-power gap of
I. Kuon and J. Rose, "Measuring the gap between FPGAs and ASICs", IEEE TCAD 2007 (7.1x with hard
multipliers and memories); DDR at the board profile's W per GB/s (~20 pJ/bit); plus the board's idle
power (boards.py). None of this is measured: it needs a board (fpga/board/run_board.py).

The buffer plan itself (what each buffer holds and how it is banked) is buffer_plan.py.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path


from vitsdk.errors import DoesNotFit, UserError, tool_failed
from vitsdk.atomic import write_json
from vitsdk.fpga.boards import BoardProfile
from vitsdk.fpga.buffer_plan import BufferSpec, buffer_plan
from vitsdk.fpga.program import Program
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


def lutram_luts(name: str) -> int:
    """The LUTs one distributed-RAM primitive occupies (AMD UG574, UltraScale CLB user guide): RAMnX1S one LUT per
    64 entries, RAMnX1D twice that (a read-only copy), RAM32M/RAM64M 4, RAM32M16/RAM64M8 8."""
    if name in ("RAM32M", "RAM64M"):
        return 4
    if name in ("RAM32M16", "RAM64M8"):
        return 8
    match = re.fullmatch(r"RAM(\d+)X1([SD])", name)
    if match is None:
        raise RuntimeError(f"Yosys used a distributed RAM primitive vitsdk does not know: {name}")
    return -(-int(match.group(1)) // 64) * (2 if match.group(2) == "D" else 1)


def resources_of(cells: dict[str, int]) -> Resources:
    """DSP/LUT/FF/carry/BRAM/URAM totals of Xilinx primitive counts."""
    r = Resources()
    for name, n in cells.items():
        if name.startswith("DSP48"):
            r.dsp += n
        elif re.fullmatch(r"LUT[1-6]", name) or name == "INV" or name.startswith("SRL"):
            r.lut += n
        elif name.startswith(("RAM32", "RAM64", "RAM128", "RAM256", "RAM512")):
            r.lut += n * lutram_luts(name)
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


def _engine_memories(parameters: dict[str, int]) -> str:
    """The Yosys script that reads vit_engine.v with `parameters` (its units as black boxes) and turns its buffers
    into $mem_v2 cells, selected as `mem`: without memory_share's logic for writes to one buffer in one cycle (the
    engine's writers of a buffer are in different states: they never collide)."""
    src = rtl_source_dir()
    params = {k: parameters[k] for k in CONTROL_PARAMETERS}
    units = " ".join(str(src / name) for name in UNIT_SOURCES)
    return (f"read_verilog -I{src} -lib {units}\nread_verilog -I{src} {src / 'vit_engine.v'}\n"
            f"chparam {' '.join(f'-set {k} {v}' for k, v in params.items())} vit_engine\n"
            "hierarchy -top vit_engine\nproc\nopt_clean\n"
            "opt_mem\nmemory_dff\nopt_clean\nmemory_collect\nselect -set mem t:$mem_v2\n")


def cut_memories(parameters: dict[str, int], timeout_s: float = 600.0) -> list[str]:
    """The memories of vit_engine.v that `synthesize_control` cuts out of the sequencer's count (each must be
    counted by buffer_plan.ENGINE_BUFFERS)."""
    script = _engine_memories(parameters) + "tee -q -o memories.txt select -list @mem\n"
    listed = _run_yosys(script, "the engine's memories", timeout_s, read=("memories.txt",))["memories.txt"]
    return sorted(line.split("/", 1)[1] for line in listed.split() if "/" in line)


def synthesize_control(parameters: dict[str, int], family: str = "xcup", timeout_s: float = 1800.0
                       ) -> tuple[Resources, dict[str, int], float]:
    """Synthesises vit_engine.v, the engine the simulator runs, for its sequencer: the instruction fetch and FSM,
    the address pointers, the fetch unit, the lanes' operand selection and the vector unit's reductions. The
    units (MAC array, lanes, shared unit) are black boxes, counted per unit; the buffers are cut out at their
    ports (their address, data and enable wires become the module's ports), counted by `buffer_plan`."""
    src = rtl_source_dir()
    script = (_engine_memories(parameters)
              + f"select -set ports {_BUFFER_PORTS}\nrename -enumerate @ports\n"  # expose takes named wires only
              f"select -set ports {_BUFFER_PORTS}\nexpose @ports\ndelete @mem\nsetundef -undriven -expose\n"
              f"synth_xilinx -family {family} -top vit_engine -noiopad\nstat\n")
    steps = script.replace(str(src), "rtl")  # the script without this checkout's path: a new script, a new count
    return _synthesize_cached("the engine's sequencer", _sources_key(CONTROL_SOURCES, "control", steps), script,
                              timeout_s)


BUFFER_SOURCE = "vit_buffers.v"


def synthesize_buffers(specs: dict[str, tuple[BufferSpec, bool]], family: str, timeout_s: float = 1800.0
                       ) -> tuple[dict[str, dict[str, int]], float]:
    """Yosys cell counts of one memory (one bank of one copy) of each buffer (name -> (spec, in UltraRAM)), each
    cached by its spec, family and vit_buffers.v; the missing ones are synthesised in one Yosys run. Returns the
    counts and the seconds (0 when all were cached)."""
    src = rtl_source_dir() / BUFFER_SOURCE
    source = src.read_bytes()
    keys = {name: bytes_sha256(json.dumps(["buffer", spec.width, spec.depth, spec.ports, ultra, spec.distributed,
                                           family]).encode() + source)
            for name, (spec, ultra) in specs.items()}
    folder = cache_dir("synth")
    cells = {name: json.loads((folder / f"{key[:24]}.json").read_text())
             for name, key in keys.items() if (folder / f"{key[:24]}.json").is_file()}
    todo = [name for name in specs if name not in cells]
    if not todo:
        return cells, 0.0
    script = "".join(f"design -reset\nread_verilog {src}\n"
                     f"chparam -set WIDTH {specs[n][0].width} -set DEPTH {specs[n][0].depth} -set ULTRA "
                     f"{int(specs[n][1])} -set PORTS {specs[n][0].ports} -set DISTRIBUTED "
                     f"{int(specs[n][0].distributed)} vit_buffer_bank\n"
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
        raise DoesNotFit(f"{what} does not fit the {profile.title} ({profile.part}): {'; '.join(report['over'])} "
                        f"(Yosys count); prune the model (vitsdk prune), pick a larger board (--board), or "
                        f"pass smaller engine sizes (export_fpga(..., engine={{'tokens': ..., 'outputs': ...}}))")


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
