"""An exported FPGA project folder (`project.json`, `vitsdk.fpga_project/1`): finding it in a bundle, naming
the bundle member it is, and running its RTL in Verilator from its sha256-verified sources."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from vitsdk.errors import UserError
from vitsdk.fpga import rtl as R
from vitsdk.fpga.engine import EngineConfig
from vitsdk.fpga.program import Program
from vitsdk.fpga.hls import PROJECT_FORMAT, read_io
from vitsdk.resources import inside

CSIM_OUTPUTS = "csim_outputs.npy"  # float logits of the C simulation on the reference inputs


def _fpga_entries(path: Path) -> tuple[bytes, list[dict]]:
    """The raw manifest.json of a bundle at `path` and its fpga `files[]` entries (none if it has no
    readable manifest)."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return b"", []
    raw = manifest.read_bytes()
    try:
        files = json.loads(raw).get("files", [])
    except (json.JSONDecodeError, AttributeError):
        return raw, []
    return raw, [f for f in files if isinstance(f, dict) and f.get("runtime") == "fpga" and isinstance(f.get("path"), str)]


def bundle_entry(path: str | os.PathLike, folder: Path) -> tuple[str, dict] | None:
    """(manifest sha256, its files[] entry) when `path` is a bundle whose manifest lists the project `folder`,
    so results name the bundle the way the host and phone runners do (the report matches them by these)."""
    raw, entries = _fpga_entries(Path(path))
    for entry in entries:
        if isinstance(entry.get("sha256"), str) and (Path(path) / entry["path"]).resolve() == folder.resolve():
            return hashlib.sha256(raw).hexdigest(), entry
    return None


def read_project(path: str | os.PathLike) -> tuple[Path, dict]:
    """The FPGA project in `path`: a project folder, or a bundle whose manifest names one (else fpga/)."""
    path = Path(path)
    _, entries = _fpga_entries(path)
    # a manifest path is confined to the bundle in code, as every other bundle reader does
    candidates = [path] + [inside(path, f["path"], f"{path / 'manifest.json'} files[]") for f in entries]
    candidates.append(path / "fpga")
    for folder in candidates:
        if (folder / "project.json").is_file():
            project = json.loads((folder / "project.json").read_text())
            if project.get("format") != PROJECT_FORMAT:
                raise UserError(f"{folder / 'project.json'} is not a vitsdk FPGA project "
                                f"(format {project.get('format')!r})")
            return folder, project
    raise UserError(f"{path} has no FPGA project (project.json): export it first with "
                    f"`vitsdk export MODEL --target fpga` (it needs the pruned artifact or a checkpoint)")


def simulate_project(folder: Path, project: dict, patches: np.ndarray | None = None,
                     config: EngineConfig | None = None) -> tuple[R.RtlResult, Program]:
    """Runs the project's RTL in Verilator (built from its sha256-verified sources in the cache) on `patches`
    (default: its reference inputs), on its own engine or on `config`."""
    record = R.read_rtl(folder)
    files = R.verified_files(folder, record, project.get("rtl_sha256"))
    program = R.load_program(record, files, config)
    if patches is None:
        patches = read_io(folder / "tb" / "inputs.bin", "int8").reshape(-1, *program.input_shape)
    return R.simulate(files, program.parameters(), patches), program
