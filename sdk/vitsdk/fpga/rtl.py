"""The engine as RTL files and their Verilator simulation: a project's rtl/ folder (the Verilog sources, the
program's buffer images as hex files, rtl.json with the sha256 of each), and the simulator built from them.

Why hand-written Verilog filled with parameters rather than a Python HDL: the engine (fpga/rtl/:
`vit_engine.v`, with the units `vit_mac_array.v`, `vit_lanes.v` and `vit_shared_units.v`, arithmetic in
`vit_ops.vh`) is a sequencer over buffers with a handful of datapath units; plain Verilog keeps one readable
source that Verilator and Yosys take directly (and Vivado too), with no generator dependency between the design
and its users. The model is data: the instruction stream and buffers of `vitsdk.fpga.program`; the sizes are
`vitsdk.fpga.engine`'s.

The simulator is built from a project's sources only after their sha256 match `project.json`'s record
(and project.json the bundle manifest's), into a cache folder keyed by the sources' digest; nothing
built or shipped inside a bundle is executed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vitsdk.errors import UserError, tool_failed
from vitsdk.fpga.axi import BUFFERS, ddr_hex, input_record, read_ddr_image, read_hex, record_bytes, record_embedding
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.cache import build_once
from vitsdk.fpga.engine import EngineConfig
from vitsdk.fpga.program import NF, Program
from vitsdk.fpga.weight_image import WEIGHT_BUFFERS, join_image, weight_memories
from vitsdk.fpga.project import RTL_FORMAT, read_rtl, reference_io, verified_files
from vitsdk.hashing import bytes_sha256, file_sha256
from vitsdk.resources import fpga_path

INCLUDE = "vit_ops.vh"  # the arithmetic functions every top includes
# the simulators: tb_vit loads the buffers with $readmemh; tb_vit_axi is vit_axi (the IP) driven through AXI-Lite
ENGINE = ("vit_engine.v", "vit_mac_array.v", "vit_lanes.v", "vit_shared_units.v")  # the engine and its units
TOPS = {"tb_vit": ("tb_vit.v", *ENGINE), "tb_vit_axi": ("tb_vit_axi.v", "vit_axi.v", *ENGINE)}
SOURCES = tuple(dict.fromkeys(name for top in TOPS.values() for name in (*top, INCLUDE)))  # what rtl/ ships


def rtl_source_dir() -> Path:
    """fpga/rtl/ (the engine's Verilog), package data of vitsdk."""
    return fpga_path("rtl")


# ---- files ----

_HEX_WIDTH = {name: bits // 4 for name, (_, bits) in BUFFERS.items()}  # hex digits per element


def to_hex(values: np.ndarray, digits: int) -> str:
    """Two's complement hex, one value per line ($readmemh)."""
    mask = (1 << (4 * digits)) - 1
    return "\n".join(format(int(v) & mask, f"0{digits}x") for v in np.asarray(values).reshape(-1).tolist()) + "\n"


def _hex_text(name: str, values: np.ndarray, beat_bytes: int) -> str:
    """rtl/<name>.hex of a buffer image: ddr.hex in beat-wide words, every other buffer one element per line."""
    return ddr_hex(values, beat_bytes) if name == "ddr" else to_hex(values, _HEX_WIDTH[name])


def _word_bytes(path: Path) -> int:
    """Bytes per word of a ddr.hex (its first line's hex digits / 2)."""
    with path.open() as f:
        return len(f.readline().strip()) // 2


PLANNED_FROM = ("elut", "cmem")  # images whose values set a buffer's width in buffer_plan.py
_WEIGHT_FILES = ("ddr.hex", *(f"{name}.hex" for name in WEIGHT_BUFFERS))  # where the linears' weights may be


def _read_weights(files: dict[str, Path]) -> dict[str, np.ndarray]:
    """The linears' weights as the project holds them: {"ddr": the weight image's bytes} from rtl/ddr.hex (at its
    own word width), else wmem, xmem and kmem from their hex files."""
    if "ddr.hex" in files:
        return {"ddr": read_ddr_image(files["ddr.hex"], _word_bytes(files["ddr.hex"]))}
    return {name: read_hex(files[f"{name}.hex"], BUFFERS[name][1]) for name in WEIGHT_BUFFERS}


def read_weight_image(files: dict[str, Path], layers: list[dict]) -> np.ndarray:
    """The weight image's bytes (uint8): rtl/ddr.hex, or the same records joined from wmem, xmem and kmem."""
    weights = _read_weights(files)
    return weights["ddr"] if "ddr" in weights else join_image(weights, layers)


def weight_files(files: dict[str, Path], program: Program, folder: Path) -> dict[str, Path]:
    """`files` with the linears' weights in the form `program`'s engine reads them: ddr.hex of DDR_W-byte words for
    the DDR model when they stream, wmem/xmem/kmem.hex (on chip) otherwise; what is missing is written into
    `folder` from the same bytes (a project exported with its weights on chip can be simulated streaming, and
    back)."""
    streamed, width = program.streamed, program.config.ddr_beat_bytes
    if "ddr.hex" in files and streamed and _word_bytes(files["ddr.hex"]) == width or \
            "ddr.hex" not in files and not streamed:
        return files
    out = {name: path for name, path in files.items() if name not in _WEIGHT_FILES}
    for name, values in weight_memories(_read_weights(files), program.layers, streamed).items():
        out[f"{name}.hex"] = folder / f"{name}.hex"
        out[f"{name}.hex"].write_text(_hex_text(name, values, width))
    return out


def write_rtl(program: Program, folder: Path) -> dict:
    """Writes rtl/ into a project folder being staged: the engine sources, the buffer images and rtl.json
    (parameters, sha256 of every file). Returns the rtl record for project.json."""
    src = rtl_source_dir()
    out = folder / "rtl"
    out.mkdir()
    files = {}
    for name in SOURCES:
        shutil.copy(src / name, out / name)
    for name, values in program.memories.items():
        (out / f"{name}.hex").write_text(_hex_text(name, values, program.config.ddr_beat_bytes))
    for path in sorted(out.iterdir()):
        files[path.name] = file_sha256(path)
    record = {"format": RTL_FORMAT, "engine": program.config.to_dict(), "parameters": program.parameters(),
              "streamed": program.streamed, "on_chip_bytes": program.on_chip_bytes,
              "instructions": len(program.instructions), "program": program.summary(), "files": files}
    (out / "rtl.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def load_program(record: dict, files: dict[str, Path], config: EngineConfig | None = None) -> Program:
    """The program of a verified rtl/ folder (instructions from prog.hex; of the buffer images, the tables and
    constants `buffer_plan.buffer_plan` sizes by their values), on its engine or on `config`."""
    words = [int(line, 16) for line in files["prog.hex"].read_text().split()]
    words = [w - (1 << 64) if w >> 63 else w for w in words]
    rows = [words[i:i + NF] for i in range(0, len(words), NF)]
    p = record["program"]
    memories = {name: read_hex(files[f"{name}.hex"], BUFFERS[name][1]) for name in PLANNED_FROM}
    program = Program(EngineConfig(**record["engine"]), BlockShape.parse(p["block_shape"]), rows, memories, p["sizes"],
                      p["layers"], p["weight_bytes"], p["activation_bytes"], tuple(p["input_shape"]), p["classes"])
    return program.with_config(config) if config is not None else program


# ---- simulation ----

def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UserError(f"{name} is not installed: run `sudo apt-get install -y verilator yosys` "
                        f"(or scripts/setup_fpga.sh as root)")
    return path


def build_simulator(files: dict[str, Path], parameters: dict[str, int], top: str = "tb_vit") -> tuple[Path, float]:
    """Builds (once per sources + parameters + top) the Verilator simulator `top` (TOPS) from verified copies of
    the sources in the cache folder; returns the binary and the build seconds (0 when cached)."""
    verilator = require_tool("verilator")
    sources = (*TOPS[top], INCLUDE)
    missing = [name for name in sources if name not in files]
    if missing:
        raise UserError(f"this project's rtl/ has no {', '.join(missing)} (exported by an older vitsdk): export it "
                        f"again (nothing was built or run)")
    key = bytes_sha256(top.encode() + b"".join(name.encode() + files[name].read_bytes() for name in sources)
                       + json.dumps(parameters, sort_keys=True).encode()
                       + subprocess.run([verilator, "--version"], capture_output=True, text=True).stdout.encode())

    def build(work: Path) -> None:
        for name in sources:
            shutil.copy(files[name], work / name)
        params = [f"-G{key}={value}" for key, value in parameters.items()]
        cmd = [verilator, "--binary", "--timing", "-O2", "-Wno-fatal", "-Wno-WIDTH", "-Wno-lint", "-Wno-style",
               "-j", str(max(1, min(4, os.cpu_count() or 1))), "--top-module", top, *params,
               "-I.", *TOPS[top], "-o", f"V{top}", "--Mdir", "obj"]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if proc.returncode != 0:
            raise tool_failed("verilator on the engine sources", proc.returncode, proc.stdout + proc.stderr)
        (work / "obj" / f"V{top}").rename(work / f"V{top}")
        shutil.rmtree(work / "obj")

    folder, seconds = build_once("rtl", key[:24], build)
    return folder / f"V{top}", seconds


@dataclass
class RtlResult:
    """Outputs and counters of the simulated engine for each image."""

    logits: np.ndarray  # (images, classes) int32
    cycles: list[int]
    mac_cycles: list[int]
    stall_cycles: list[int]
    ddr_bytes: list[int]
    build_seconds: float
    run_seconds: float
    parameters: dict = field(default_factory=dict)


def simulate(files: dict[str, Path], parameters: dict[str, int], patches: np.ndarray) -> RtlResult:
    """Runs the engine on int8 `patches` (images, patches, values) in Verilator: one inference per image. The
    linears' weights in `files` must be in the form the engine reads them (`weight_files`)."""
    binary, build_s = build_simulator(files, parameters)
    patches = np.asarray(patches)
    with tempfile.TemporaryDirectory(prefix="vitsdk-rtl-") as tmp:
        run = Path(tmp)
        for name, path in files.items():
            if name.endswith(".hex"):
                shutil.copy(path, run / name)
        embed = record_embedding(files, parameters)
        for i, image in enumerate(patches):  # the input record the engine reads from DDR
            record = input_record(image, embed, parameters["REC_IN"], record_bytes(parameters))
            (run / f"in_{i}.hex").write_text(ddr_hex(record, parameters["DDR_W"]))
        start = time.perf_counter()
        proc = subprocess.run([str(binary), f"+images={len(patches)}"], cwd=run, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0 or not (run / "out.txt").is_file():
            raise tool_failed(f"the RTL simulation {binary}", proc.returncode, proc.stdout + proc.stderr)
        lines = (run / "out.txt").read_text().split("\n")
    logits, counters = [], []
    i = 0
    while i < len(lines) and lines[i].startswith("image"):
        words = lines[i].split()
        counters.append({words[k]: int(words[k + 1]) for k in range(2, len(words), 2)})
        n = parameters["NOUT"]
        logits.append([int(v) for v in lines[i + 1:i + 1 + n]])
        i += 1 + n
    if len(logits) != len(patches):
        raise RuntimeError(f"the RTL simulation wrote {len(logits)} of {len(patches)} results")
    return RtlResult(np.array(logits, dtype=np.int64).astype(np.int32), [c["cycles"] for c in counters],
                     [c["mac_cycles"] for c in counters], [c["stall_cycles"] for c in counters],
                     [c["ddr_bytes"] for c in counters], build_s, seconds, parameters)


def load_project(folder: Path, project: dict, config: EngineConfig | None = None
                 ) -> tuple[Program, dict[str, Path]]:
    """The project's program, on its own engine or on `config`, and its rtl/ files, sha256-verified."""
    record = read_rtl(folder)
    files = verified_files(folder, record, project.get("rtl_sha256"))
    return load_program(record, files, config), files


def simulate_program(program: Program, files: dict[str, Path], patches: np.ndarray) -> RtlResult:
    """Runs `program` (a project's, `load_project`) in Verilator, built from its verified `files` in the cache,
    on int8 `patches` (one row or (patches, values) block per image)."""
    patches = np.asarray(patches).reshape(-1, *program.input_shape)
    with tempfile.TemporaryDirectory(prefix="vitsdk-weights-") as tmp:
        return simulate(weight_files(files, program, Path(tmp)), program.parameters(), patches)


def simulate_project(folder: Path, project: dict, patches: np.ndarray | None = None,
                     config: EngineConfig | None = None) -> tuple[RtlResult, Program]:
    """Runs the project's RTL in Verilator on `patches` (default: its sha256-checked reference inputs), on its own
    engine or on `config`."""
    program, files = load_project(folder, project, config)
    if patches is None:
        patches = reference_io(folder, project)[0]
    return simulate_program(program, files, patches), program
