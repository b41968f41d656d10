"""Bundle manifests (`BUNDLE/manifest.json`, `vitsdk.manifest/1`): what `vitsdk export` wrote and how it checked it.

The one reader of a bundle: `Bundle.load(folder)` (also spelled `load_bundle`) checks the version, the
schema (`schemas/manifest.schema.json`) and that every path the manifest names resolves inside the bundle
folder (checked here, not only by the schema's pattern: a symlink passes the pattern). The benchmarks, the
report, the FPGA runner and the exporter all read bundles through it. `Bundle.manifest` is the document
itself, so a reader that needs a field nobody modelled reads it there. `write_manifest` is the one writer
(`vitsdk export` builds the document in `vitsdk.converters.describe`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vitsdk.converters.targets import RELATIVE_BOUND_PRECISIONS
from vitsdk.errors import UserError
from vitsdk.formats.schema import Format
from vitsdk.hashing import bytes_sha256
from vitsdk.resources import inside

if TYPE_CHECKING:
    import numpy as np

MANIFEST = Format("vitsdk.manifest/1", "manifest.schema.json")
MANIFEST_FILE = "manifest.json"
REFERENCE_DIR = "reference"


@dataclass(frozen=True)
class ModelFile:
    """One `files[]` entry, with the fields the benchmarks use (the whole entry is `Bundle.entries()`)."""

    path: str               # relative to the bundle
    format: str
    runtime: str
    precision: str | None
    delegate: str | None
    size_bytes: int | None
    sha256: str
    macs: int | None
    target: str | None = None


@dataclass(frozen=True)
class Bundle:
    """An exported bundle on disk: its folder, its parsed manifest, the manifest's sha256 and its model files."""

    root: Path
    manifest: dict
    manifest_sha256: str
    files: tuple[ModelFile, ...]

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Bundle":
        """Reads and checks a bundle folder; every problem is a one-line UserError naming the file."""
        root = Path(path)
        manifest_path = root / MANIFEST_FILE
        if not root.is_dir():
            raise UserError(f"bundle '{root}' is not a folder (make one with `vitsdk export`)")
        try:
            raw = manifest_path.read_bytes()
        except OSError:
            raise UserError(f"{manifest_path}: missing; a bundle is a folder made by `vitsdk export`") from None
        try:
            manifest = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            line = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise UserError(f"{manifest_path}: not valid JSON (truncated?){line}") from None
        MANIFEST.check_tag(manifest, str(manifest_path))
        problems = MANIFEST.errors(manifest)
        if problems:
            raise UserError(f"{manifest_path}: does not match the manifest schema: {problems[0]}")
        return cls.from_document(root, manifest, bytes_sha256(raw), str(manifest_path))

    @classmethod
    def from_document(cls, root: Path, manifest: dict, manifest_sha256: str, where: str) -> "Bundle":
        """A Bundle of a manifest already checked against the schema (`where` names it in errors)."""
        files = []
        for i, entry in enumerate(manifest.get("files") or []):
            try:
                files.append(ModelFile(path=entry["path"], format=entry["format"], runtime=entry["runtime"],
                                       precision=entry.get("precision"), delegate=entry.get("delegate"),
                                       size_bytes=entry.get("size_bytes"), sha256=entry["sha256"],
                                       macs=entry.get("macs"), target=entry.get("target")))
            except (KeyError, TypeError) as exc:
                raise UserError(f"{where}: /files/{i} lacks {exc}") from None
        if not files:
            raise UserError(f"{where}: lists no model files")
        for f in files:
            inside(root, f.path, where)
        return cls(Path(root), manifest, manifest_sha256, tuple(files))

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def model_name(self) -> str | None:
        model = self.manifest.get("model")
        return model.get("name") if isinstance(model, dict) else None

    @property
    def input_shape(self) -> list[int] | None:
        spec = self.manifest.get("input")
        return list(spec["shape"]) if isinstance(spec, dict) and "shape" in spec else None

    def entries(self, target: str | None = None, runtime: str | None = None) -> list[dict[str, Any]]:
        """The manifest's `files[]` entries (whole dicts), optionally only one target's or one runtime's."""
        return [e for e in self.manifest.get("files") or [] if isinstance(e, dict)
                and (target is None or e.get("target") == target) and (runtime is None or e.get("runtime") == runtime)]

    def file(self, target: str, precision: str) -> dict[str, Any]:
        """The `files[]` entry of one target and precision; UserError when the bundle has none."""
        for entry in self.entries(target):
            if entry.get("precision") == precision:
                return entry
        raise UserError(f"bundle '{self.root}' has no {target} {precision} file")

    def file_entry(self, model_file: str, model_sha256: str) -> dict[str, Any] | None:
        """The `files[]` entry of a benchmarked model file: by sha256, else by relative path."""
        entries = self.entries()
        for entry in entries:
            if entry.get("sha256") == model_sha256:
                return entry
        for entry in entries:
            if entry.get("path") == model_file:
                return entry
        return None

    def reference(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(inputs, outputs) from the manifest's `reference` .npy files, or None when the bundle has none."""
        import numpy as np

        paths = self.reference_files()
        if paths is None:
            return None
        try:
            arrays = [np.load(self.inside(p), allow_pickle=False) for p in paths]
            return arrays[0], arrays[1]
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.root}: cannot read reference arrays ({exc})") from exc

    def tolerance(self, precision: str) -> float | None:
        """The manifest's tolerance of max |diff| / max |ref| for a precision (reference.tolerances); None for
        integer precisions, which are judged by top-1 agreement even where an older manifest lists a bound
        (see RELATIVE_BOUND_PRECISIONS)."""
        ref = self.manifest.get("reference")
        if not isinstance(ref, dict) or precision not in RELATIVE_BOUND_PRECISIONS:
            return None
        per = ref.get("tolerances")
        if isinstance(per, dict) and isinstance(per.get(precision), (int, float)):
            return float(per[precision])
        if precision == "fp32" and isinstance(ref.get("tolerance"), (int, float)):
            return float(ref["tolerance"])
        return None

    def reference_files(self) -> tuple[str, str] | None:
        """The manifest's reference (inputs, outputs) paths, relative to the bundle ("inputs" or the older
        "input"), or None when the bundle has none."""
        ref = self.manifest.get("reference")
        if not isinstance(ref, dict):
            return None
        paths = [ref.get(k, ref.get(k[:-1])) for k in ("inputs", "outputs")]
        return (paths[0], paths[1]) if all(isinstance(p, str) for p in paths) else None

    def inside(self, relative: str) -> Path:
        """A path the manifest names, refused unless it resolves inside the bundle folder."""
        return inside(self.root, relative, str(self.manifest_path))

    def path_of(self, model: ModelFile) -> Path:
        return self.inside(model.path)


load_bundle = Bundle.load


def write_manifest(folder: Path, manifest: dict) -> str:
    """Writes `folder/manifest.json` after checking it against the schema, and returns its sha256. A manifest
    that fails the check is vitsdk's bug, not the user's: an internal error, and nothing is written."""
    problems = MANIFEST.errors(manifest)
    if problems:
        raise RuntimeError(f"internal error: the manifest does not match its schema: {problems[0]}")
    raw = (json.dumps(manifest, indent=2) + "\n").encode()
    (Path(folder) / MANIFEST_FILE).write_bytes(raw)
    return bytes_sha256(raw)
