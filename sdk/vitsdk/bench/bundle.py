"""Reading an exported bundle (`BUNDLE/manifest.json`, format `vitsdk.manifest/1`) for benchmarking.

Only what the bench needs: the model files with their runtime, delegate, precision, sha256 and MACs,
the input spec and the reference input/output arrays. Everything else in the manifest is the
converters' business (schemas/manifest.schema.json validates it). Every path the manifest names must
resolve inside the bundle folder (checked here, not only by the schema's pattern).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from vitsdk.errors import UserError
from vitsdk.formats.manifest import MANIFEST
from vitsdk.resources import inside

HOST_RUNTIMES = ("executorch", "litert")


@dataclass(frozen=True)
class ModelFile:
    path: str               # relative to the bundle
    format: str
    runtime: str
    precision: str | None
    delegate: str | None
    size_bytes: int | None
    sha256: str
    macs: int | None


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: dict
    manifest_sha256: str
    files: tuple[ModelFile, ...]

    @property
    def model_name(self) -> str | None:
        model = self.manifest.get("model")
        return model.get("name") if isinstance(model, dict) else None

    @property
    def input_shape(self) -> list[int] | None:
        spec = self.manifest.get("input")
        return list(spec["shape"]) if isinstance(spec, dict) and "shape" in spec else None

    def reference(self) -> tuple["np.ndarray", "np.ndarray"] | None:  # noqa: F821
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
        from vitsdk.converters.targets import RELATIVE_BOUND_PRECISIONS

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
        return inside(self.root, relative, f"{self.root}/manifest.json")

    def path_of(self, model: ModelFile) -> Path:
        return self.inside(model.path)


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Reads and checks a bundle folder; every problem is a one-line UserError naming the file."""
    root = Path(path)
    manifest_path = root / "manifest.json"
    if not root.is_dir():
        raise UserError(f"bundle '{root}' is not a folder (make one with `vitsdk export`)")
    try:
        raw = manifest_path.read_bytes()
    except OSError:
        raise UserError(f"{manifest_path}: missing; a bundle is a folder made by `vitsdk export`") from None
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"{manifest_path}: not valid JSON (truncated?) at line {exc.lineno}") from None
    MANIFEST.check_tag(manifest, str(manifest_path))
    problems = MANIFEST.errors(manifest)
    if problems:
        raise UserError(f"{manifest_path}: does not match the manifest schema: {problems[0]}")
    files = []
    for i, entry in enumerate(manifest.get("files") or []):
        try:
            files.append(ModelFile(path=entry["path"], format=entry["format"], runtime=entry["runtime"],
                                   precision=entry.get("precision"), delegate=entry.get("delegate"),
                                   size_bytes=entry.get("size_bytes"), sha256=entry["sha256"],
                                   macs=entry.get("macs")))
        except (KeyError, TypeError) as exc:
            raise UserError(f"{manifest_path}: /files/{i} lacks {exc}") from None
    if not files:
        raise UserError(f"{manifest_path}: lists no model files")
    for f in files:
        inside(root, f.path, str(manifest_path))
    return Bundle(root, manifest, hashlib.sha256(raw).hexdigest(), tuple(files))

