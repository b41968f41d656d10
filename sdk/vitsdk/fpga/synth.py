"""Resources of the generated engine from Yosys, the board fit, and the estimated power and energy.

Yosys (`synth_xilinx -family xcup|xc7`, Debian's yosys) synthesises the engine's datapath units from
fpga/rtl/vit_datapath.v (the MAC array module the simulator runs, and lanes built from the same
vit_ops.vh functions) and `stat` counts DSP48, LUT, FF and carry cells. A board-sized engine is
composed from units synthesised once each: one MAC-array row (x TM rows), one epilogue lane (x TM),
one vector lane (x L) and the shared units (x 1); the rows and lanes are identical copies, so their
counts add. Buffers (BRAM/URAM) are counted from their sizes and banking, not synthesised; the
sequencer and address generation are not counted. Results are cached per sources + parameters.

Power and energy are ESTIMATED from the simulated activity (MAC cycles of the array, vector/epilogue
element operations, on-chip bytes, DDR bytes) with per-operation energies from two named public sources:
M. Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm: 8-bit multiply 0.2 pJ, 32-bit add 0.1 pJ,
32-bit multiply 3.1 pJ, 8 KB SRAM read 10 pJ per 64 bits), scaled by the FPGA/ASIC dynamic-power gap of
I. Kuon and J. Rose, "Measuring the gap between FPGAs and ASICs", IEEE TCAD 2007 (7.1x with hard
multipliers and memories); DDR at the board profile's W per GB/s (~20 pJ/bit); plus the board's idle
power (boards.py). None of this is measured: it needs a board (fpga/board/run_board.py).
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vitsdk.errors import UserError, tool_failed
from vitsdk.fpga.boards import BRAM36_BYTES, URAM_BYTES, BoardProfile
from vitsdk.fpga.program import Program
from vitsdk.fpga.cache import cache_dir
from vitsdk.fpga.rtl import require_tool, rtl_source_dir
from vitsdk.hashing import bytes_sha256

SYNTH_SOURCES = ("vit_mac_array.v", "vit_datapath.v", "vit_ops.vh")
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


def synthesize(top: str, parameters: dict[str, int], family: str = "xcup", timeout_s: float = 1800.0
               ) -> tuple[Resources, dict[str, int], float]:
    """Synthesises module `top` of the datapath sources with `parameters`; returns its resources, raw cell
    counts and seconds (0 when cached)."""
    yosys = require_tool("yosys")
    src = rtl_source_dir()
    key = bytes_sha256(json.dumps([top, parameters, family]).encode()
                       + b"".join((src / name).read_bytes() for name in SYNTH_SOURCES))
    cached = cache_dir("synth") / f"{key[:24]}.json"
    if cached.is_file():
        cells = json.loads(cached.read_text())
        return resources_of(cells), cells, 0.0
    chparam = " ".join(f"-set {k} {v}" for k, v in parameters.items())
    script = (f"read_verilog -I{src} {src / 'vit_mac_array.v'} {src / 'vit_datapath.v'}\n"
              + (f"chparam {chparam} {top}\n" if parameters else "")
              + f"synth_xilinx -family {family} -top {top} -flatten -noiopad\nstat\n")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vitsdk-yosys-") as tmp:
        (Path(tmp) / "synth.ys").write_text(script)
        try:
            proc = subprocess.run([yosys, "-q", "-l", "synth.log", "synth.ys"], cwd=tmp, capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"yosys did not finish {top} in {timeout_s:.0f} s") from None
        log = (Path(tmp) / "synth.log").read_text() if (Path(tmp) / "synth.log").is_file() else ""
        if proc.returncode != 0:
            raise tool_failed(f"yosys on {top}", proc.returncode, proc.stderr + log)
    cells = parse_stat(log)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(cells))
    return resources_of(cells), cells, time.perf_counter() - start


def buffer_brams(program: Program, profile: BoardProfile) -> dict:
    """BRAM36/URAM of the engine's buffers from their sizes and banking (not synthesised): activations
    token-banked (TM x strips read copies), scores and probabilities, residual (24-bit), weights; each bank
    takes at least one RAMB18. Weights go to URAM first where the part has it."""
    cfg, s = program.config, program.sizes
    strips = cfg.outputs // program.block.rows
    T0 = s["TMAX"]
    buffers = {  # name: (bytes, banks)
        "activations": (s["AW"] * strips, cfg.tokens * strips),
        "scores": (4 * s["SW"], cfg.lanes),
        "probabilities": (2 * s["PW"], cfg.tokens),
        "residual": (3 * s["RW"], cfg.lanes),
        "luts": (s["GW"] + 8 * 256, 1),
    }
    weights = program.weight_buffer_need
    buffers["weights"] = (weights, cfg.outputs // 2)
    uram_left = profile.uram
    placed = {}
    bram = 0.0
    # URAM (where the part has it) takes the weights first, then the largest other buffers while BRAM is short
    for name in ["weights"] + sorted((k for k in buffers if k != "weights"), key=lambda k: -buffers[k][0]):
        nbytes, banks = buffers[name]
        need_uram = math.ceil(nbytes / URAM_BYTES)
        short = name == "weights" or bram + sum(max(b / 2, math.ceil(n / BRAM36_BYTES)) for k, (n, b) in buffers.items()
                                                if k not in placed) > profile.bram36
        if uram_left >= need_uram and short and nbytes:
            placed[name] = ("uram", need_uram)
            uram_left -= need_uram
        else:
            placed[name] = ("bram", max(banks / 2, math.ceil(nbytes / BRAM36_BYTES)) if nbytes else 0)
            bram += placed[name][1]
    uram = sum(n for kind, n in placed.values() if kind == "uram")
    return {"bram36": bram, "uram": int(uram), "weight_bytes_on_chip": int(weights), "tokens": T0,
            "buffers": {k: {"bytes": v[0], "banks": v[1], "in": placed[k][0]} for k, v in buffers.items()}}


def engine_resources(program: Program, profile: BoardProfile, family: str | None = None) -> dict:
    """Yosys counts of the engine of `program` composed from its units, plus its buffers, and whether it fits
    `profile` (with each resource's use in % of the part)."""
    cfg = program.config
    family = family or profile.family
    parts = {
        "mac_row": ("vit_mac_array", {"TM": 1, "TN": cfg.outputs, "R": program.block.rows}, cfg.tokens),
        "epilogue_lane": ("vit_epilogue_lane", {}, cfg.tokens),
        "vector_lane": ("vit_vector_lane", {}, cfg.lanes),
        "shared_units": ("vit_shared_units", {}, 1),
    }
    total, units, seconds = Resources(), {}, 0.0
    for name, (top, params, copies) in parts.items():
        res, _, s = synthesize(top, params, family)
        seconds += s
        units[name] = {"copies": copies, "each": res.to_dict()}
        total = total + res.scaled(copies)
    buffers = buffer_brams(program, profile)
    total.bram36 += buffers["bram36"]
    total.uram += buffers["uram"]
    return {"family": family, "total": total.to_dict(), "units": units, "buffers": buffers,
            **fit_report(total, profile), "synth_seconds": round(seconds, 1),
            "method": "yosys synth_xilinx per unit x copies; buffers from sizes"}


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
