"""The C simulation of a project's HLS C++ (g++): the functional check of the HLS model against the integer
reference.

It is compiled in the cache (`vitsdk.fpga.cache`) from copies of the sources whose sha256 match the record
project.json keeps of them (`csim_sources`, written at export), never inside or from the bundle; its inputs
and outputs live in a temporary folder, so running it writes nothing into the project.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitsdk.errors import UserError, tool_failed
from vitsdk.fpga.cache import build_once
from vitsdk.fpga.project import check_sources, read_io, read_project, write_io
from vitsdk.hashing import bytes_sha256, file_sha256

CXXFLAGS = ["-std=c++17", "-O2", "-fwrapv", "-Wall", "-Wno-unknown-pragmas", "-Wno-unused-variable",
            "-Wno-unused-label"]
SOURCES_KEY = "csim_sources"  # project.json: {relative path: sha256} of every file the C simulation compiles
TESTBENCH = "tb/tb_vit.cpp"
TOP_SOURCE = "firmware/vit_top.cpp"


def source_record(folder: Path) -> dict[str, str]:
    """sha256 of every file the C simulation is compiled from (the firmware folder and the testbench)."""
    names = sorted([p.relative_to(folder).as_posix() for p in (folder / "firmware").iterdir()] + [TESTBENCH])
    return {name: file_sha256(folder / name) for name in names}


@dataclass
class CsimResult:
    logits: np.ndarray  # (N, classes) int32
    images: int
    seconds: float  # wall time of the inference loop inside the testbench
    compile_seconds: float

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")


def _verified_sources(folder: Path) -> dict[str, str]:
    """project.json's record of the C-simulation sources, after every file matched it."""
    _, project = read_project(folder)
    recorded = project.get(SOURCES_KEY)
    if not isinstance(recorded, dict) or not recorded:
        raise UserError(f"{folder / 'project.json'} records no sha256 of its C-simulation sources (exported by an "
                        f"older vitsdk): export it again (nothing was built or run)")
    check_sources(folder, recorded, "project.json")
    return recorded


def build_csim(project_dir: str | os.PathLike) -> tuple[Path, float]:
    """The testbench compiled with g++ in the cache (once per sources + compiler); returns the binary and the
    compile seconds (0 when cached)."""
    folder = Path(project_dir)
    recorded = _verified_sources(folder)
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        raise UserError("C simulation needs a C++17 compiler: install g++ (or set CXX)")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    key = bytes_sha256(json.dumps([recorded, CXXFLAGS, version], sort_keys=True).encode())[:24]

    def build(work: Path) -> None:
        for name in recorded:
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folder / name, work / name)
        cmd = [cxx, *CXXFLAGS, "-I", "firmware", TESTBENCH, TOP_SOURCE, "-o", "csim.bin"]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if proc.returncode != 0:
            raise tool_failed(f"{Path(cxx).name} on the generated project {folder}", proc.returncode, proc.stderr)

    cached, seconds = build_once("csim", key, build)
    return cached / "csim.bin", seconds


def run_csim(project_dir: str | os.PathLike, patches: np.ndarray | None = None, repeat: int = 1) -> CsimResult:
    """Runs the C simulation on `patches` (default: the project's reference inputs)."""
    folder = Path(project_dir)
    binary, compile_s = build_csim(folder)
    with tempfile.TemporaryDirectory(prefix="vitsdk-csim-") as tmp:
        inputs = folder / "tb" / "inputs.bin"
        if patches is not None:
            inputs = Path(tmp) / "inputs.bin"
            write_io(inputs, patches.reshape(len(patches), -1), "int8")
        outputs = Path(tmp) / "outputs.bin"
        proc = subprocess.run([str(binary), str(inputs), str(outputs), str(repeat)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise tool_failed(f"the C simulation {binary}", proc.returncode, proc.stderr)
        logits = read_io(outputs, "int32").copy()
    seconds = float(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("seconds")))
    return CsimResult(logits, len(logits) * repeat, seconds, compile_s)
