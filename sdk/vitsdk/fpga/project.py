"""An exported FPGA project folder (`project.json`, `vitsdk.fpga_project/1`): finding it in a bundle, naming
the bundle member it is, and its testbench files (`tb/inputs.bin`, `tb/expected.bin`). Everything read from a
project is checked first: the folder against its bundle manifest's sha256 (when a manifest lists it), the
testbench files against project.json's, the RTL files against rtl.json's (and rtl.json against project.json's).

Imports no torch (numpy, vitsdk.formats): the board runner (fpga/board/run_board.py) reads projects through it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vitsdk.errors import UserError
from vitsdk.formats.manifest import MANIFEST_FILE, Bundle
from vitsdk.formats.schema import read_json
from vitsdk.hashing import file_sha256, path_sha256

PROJECT_FORMAT = "vitsdk.fpga_project/2"  # /1: the HLS C++ project (retired), read no more
RTL_FORMAT = "vitsdk.fpga_rtl/3"
# what each older format lacks: its project cannot run on this engine
OLDER_RTL_FORMATS = {"vitsdk.fpga_rtl/1": "its weight image and buffers have another layout",
                     "vitsdk.fpga_rtl/2": "its engine has no iterative shared unit and takes its input through "
                                          "registers, not from DDR"}
INPUTS, EXPECTED = "tb/inputs.bin", "tb/expected.bin"  # the testbench files: reference inputs, expected logits
SIM_OUTPUTS = "sim_outputs.npy"  # float logits of the RTL simulation on the reference inputs


def write_io(path: Path, array: np.ndarray, dtype: str) -> None:
    """Testbench file: int32 count, int32 values per item, then the values (little-endian)."""
    array = np.asarray(array)
    header = np.array([array.shape[0], int(np.prod(array.shape[1:]))], dtype="<i4").tobytes()
    path.write_bytes(header + array.astype(np.dtype(dtype).newbyteorder("<")).tobytes())


def read_io(path: Path, dtype: str) -> np.ndarray:
    data = path.read_bytes()
    count, width = np.frombuffer(data[:8], dtype="<i4")
    return np.frombuffer(data[8:], dtype=np.dtype(dtype).newbyteorder("<")).reshape(int(count), int(width))


def check_sources(folder: Path, record: dict[str, str], record_name: str) -> None:
    """UserError unless every file `record` names ({relative path: sha256}) is in `folder` with that sha256:
    files modified after export are refused before anything is built from them or run."""
    bad = [name for name, digest in record.items()
           if not (folder / name).is_file() or file_sha256(folder / name) != digest]
    if bad:
        raise UserError(f"{folder}: {', '.join(sorted(bad))} do(es) not match the sha256 in {record_name}: the "
                        f"files were modified after export; export it again (nothing was built or run)")


def _fpga_entries(path: Path) -> tuple[Bundle | None, list[dict]]:
    """The bundle at `path` (read and checked by the one manifest reader: version, schema, paths inside the
    bundle) and its fpga `files[]` entries; (None, []) when `path` has no manifest (a bare project folder)."""
    if not (path / MANIFEST_FILE).is_file():
        return None, []
    bundle = Bundle.load(path)
    return bundle, bundle.entries(runtime="fpga")


def bundle_entry(path: str | os.PathLike, folder: Path) -> tuple[str, dict] | None:
    """(manifest sha256, its files[] entry) when `path` is a bundle whose manifest lists the project `folder`,
    so results name the bundle the way the host and phone runners do (the report matches them by these)."""
    bundle, entries = _fpga_entries(Path(path))
    entry = _entry_of(bundle, entries, folder)
    return None if entry is None else (bundle.manifest_sha256, entry)


def _entry_of(bundle: Bundle | None, entries: list[dict], folder: Path) -> dict | None:
    """The fpga `files[]` entry of `bundle` whose path is the project `folder`, if any."""
    return next((entry for entry in entries if bundle.inside(entry["path"]).resolve() == folder.resolve()), None)


def read_project(path: str | os.PathLike) -> tuple[Path, dict]:
    """The FPGA project in `path`: a project folder, or a bundle whose manifest names one (else fpga/)."""
    path = Path(path)
    bundle, entries = _fpga_entries(path)
    candidates = [path] + [bundle.inside(f["path"]) for f in entries] + [path / "fpga"]
    for folder in candidates:
        if (folder / "project.json").is_file():
            _check_member(bundle, entries, folder)
            project = read_json(folder / "project.json")
            if project.get("format") == "vitsdk.fpga_project/1":
                raise UserError(f"{folder} is an HLS C++ project of an older vitsdk (retired): export the model "
                                f"again with `vitsdk export MODEL --target fpga` for the RTL engine")
            if project.get("format") != PROJECT_FORMAT:
                raise UserError(f"{folder / 'project.json'} is not a vitsdk FPGA project "
                                f"(format {project.get('format')!r})")
            return folder, project
    raise UserError(f"{path} has no FPGA project (project.json): export it first with "
                    f"`vitsdk export MODEL --target fpga` (it needs the pruned artifact or a checkpoint)")


def _check_member(bundle: Bundle | None, entries: list[dict], folder: Path) -> None:
    """UserError when the bundle's manifest lists `folder` with a sha256 the folder no longer has."""
    entry = _entry_of(bundle, entries, folder)
    if entry is not None and path_sha256(folder) != entry["sha256"]:
        raise UserError(f"{folder} does not match the sha256 {bundle.manifest_path.name} records for "
                        f"{entry['path']}: the project was modified after export; export it again (nothing "
                        f"was built or run)")


def testbench_files(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of the project's testbench files, as project.json records them."""
    return {name: file_sha256(folder / name) for name in (INPUTS, EXPECTED)}


def reference_io(folder: Path, project: dict) -> tuple[np.ndarray, np.ndarray]:
    """The project's reference inputs (int8 patches, one row per image) and the integer reference's int32 logits,
    after their sha256 matched project.json's: a modified testbench file is refused before anything runs on it."""
    record = project["reference"].get("sha256")
    if not record or set(record) != {INPUTS, EXPECTED}:
        raise UserError(f"{folder / 'project.json'} records no sha256 of its testbench files (exported by an older "
                        f"vitsdk): export it again with `vitsdk export MODEL --target fpga`")
    check_sources(folder, record, "project.json")
    return read_io(folder / INPUTS, "int8"), read_io(folder / EXPECTED, "int32")


def read_rtl(project: Path) -> dict:
    """The project's rtl/rtl.json (the engine's parameters, program summary and the sha256 of every RTL file)."""
    path = project / "rtl" / "rtl.json"
    if not path.is_file():
        raise UserError(f"{project} has no RTL design (rtl/rtl.json): export it again with this vitsdk "
                        f"(`vitsdk export MODEL --target fpga`)")
    record = read_json(path)
    if record.get("format") in OLDER_RTL_FORMATS:
        raise UserError(f"{path} was written by an older vitsdk ({OLDER_RTL_FORMATS[record['format']]}): "
                        f"export the model again with `vitsdk export MODEL --target fpga`")
    if record.get("format") != RTL_FORMAT:
        raise UserError(f"{path} is not a vitsdk RTL record (format {record.get('format')!r})")
    return record


def verified_files(project: Path, record: dict, expected_rtl_sha256: str | None = None) -> dict[str, Path]:
    """Every file the simulator is built from or the board loads, after its sha256 matched the record (and the
    record the sha256 the project/manifest holds for it). A mismatch is refused before anything is built or run."""
    rtl = project / "rtl"
    if expected_rtl_sha256 is not None and file_sha256(rtl / "rtl.json") != expected_rtl_sha256:
        raise UserError(f"{rtl / 'rtl.json'} does not match the sha256 its project records: the bundle was "
                        f"modified after export; export it again (nothing was built or run)")
    check_sources(rtl, record["files"], "rtl.json")
    return {name: rtl / name for name in record["files"]}
