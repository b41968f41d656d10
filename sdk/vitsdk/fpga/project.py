"""An exported FPGA project folder (`project.json`, `vitsdk.fpga_project/1`): finding it in a bundle, naming
the bundle member it is, and its testbench files (`tb/inputs.bin`, `tb/expected.bin`).

Needs numpy only (no torch): the board runner (fpga/board/run_board.py) reads projects through it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from vitsdk.errors import UserError
from vitsdk.resources import inside

PROJECT_FORMAT = "vitsdk.fpga_project/1"
CSIM_OUTPUTS = "csim_outputs.npy"  # float logits of the C simulation on the reference inputs


def write_io(path: Path, array: np.ndarray, dtype: str) -> None:
    """Testbench file: int32 count, int32 values per item, then the values (little-endian)."""
    array = np.asarray(array)
    header = np.array([array.shape[0], int(np.prod(array.shape[1:]))], dtype="<i4").tobytes()
    path.write_bytes(header + array.astype(np.dtype(dtype).newbyteorder("<")).tobytes())


def read_io(path: Path, dtype: str) -> np.ndarray:
    data = path.read_bytes()
    count, width = np.frombuffer(data[:8], dtype="<i4")
    return np.frombuffer(data[8:], dtype=np.dtype(dtype).newbyteorder("<")).reshape(int(count), int(width))


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
