"""Finding and validating results files, and the bundle manifests they point at.

A bad results file is not fatal: it becomes a `Problem` naming the file and the JSON path of what is
wrong, and the report goes on without it. Validation is `vitsdk.formats` (one source of truth:
`schemas/results.schema.json`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vitsdk.formats.manifest import MANIFEST, MANIFEST_FILE, Bundle
from vitsdk.formats.results import RESULTS
from vitsdk.formats.run_spec import RUN_SPEC
from vitsdk.formats.schema import json_problem
from vitsdk.errors import UserError
from vitsdk.hashing import bytes_sha256

# Files of these formats may sit beside results (a bundle, a run spec, an earlier report): skipped quietly
# when found by walking a folder, an error when named on the command line.
_OTHER_FORMATS = (MANIFEST.name, RUN_SPEC.name, "vitsdk.report")


@dataclass(frozen=True)
class Problem:
    """Why a file was skipped: `where` is the JSON path inside it ('/' for the whole file)."""

    path: Path
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.message}"

    def to_dict(self) -> dict:
        return {"file": str(self.path), "json_path": self.where, "message": self.message}


@dataclass
class Loaded:
    """Everything read: valid results (path, document), problems, and the manifests index."""

    results: list[tuple[Path, dict]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    manifests: dict[str, Bundle] = field(default_factory=dict)            # manifest sha256 -> bundle
    by_model_sha: dict[str, Bundle] = field(default_factory=dict)         # model file sha256 -> bundle

    def manifest_for(self, document: dict) -> Bundle | None:
        """The bundle a result came from: by `model.manifest_sha256`, else by the model file's sha256."""
        model = document["model"]
        found = self.manifests.get(model.get("manifest_sha256") or "")
        return found or self.by_model_sha.get(model["sha256"])


def results_problem(document: object, path: Path) -> Problem | None:
    """None when `document` is a valid results file, else the first problem with its JSON path."""
    problem = RESULTS.problem(document)
    return Problem(path, *problem) if problem else None


def _walk(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".json") and not name.startswith("."):
                yield Path(root) / name


def _add_manifest(loaded: Loaded, path: Path, raw: bytes, document: dict) -> None:
    """Indexes a bundle manifest by its own sha256 and its files' sha256; a bad one becomes a Problem."""
    sha = bytes_sha256(raw)
    if sha in loaded.manifests:
        return
    bundle = _read_manifest(path, sha, document)
    if isinstance(bundle, Problem):
        loaded.problems.append(bundle)
        return
    loaded.manifests[sha] = bundle
    for model_file in bundle.files:
        loaded.by_model_sha.setdefault(model_file.sha256, bundle)


def _read_manifest(path: Path, sha: str, document: dict) -> Bundle | Problem:
    """The bundle of a manifest found beside results, or why the report ignores it (schema, then paths)."""
    problems = MANIFEST.errors(document)
    if problems:
        where, _, message = problems[0].partition(": ")
    else:
        try:
            return Bundle.from_document(path.parent, document, sha, str(path))
        except UserError as exc:
            where, message = "/files", str(exc).removeprefix(f"{path}: ")
    return Problem(path, where, f"manifest ignored (variant and accuracy unknown for its results): {message}")


def _try_manifest(loaded: Loaded, path: Path) -> None:
    try:
        raw = path.read_bytes()
        document = json.loads(raw)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return
    if isinstance(document, dict) and str(document.get("schema", "")).startswith(MANIFEST.name + "/"):
        _add_manifest(loaded, path, raw, document)


def load(paths: Sequence[str | os.PathLike], bundles: Sequence[str | os.PathLike] = ()) -> Loaded:
    """Reads every results file under `paths` (files or folders, walked recursively).

    Manifests are looked for in the folders given, near each results file (see `_nearby_manifests`) and in
    `bundles` (bundle folders or manifest files), so the report can tell the model variant and accuracy.
    """
    loaded = Loaded()
    seen: set[Path] = set()
    named: list[tuple[Path, bool]] = []          # (file, named on the command line)
    for given in paths:
        path = Path(given)
        if path.is_dir():
            named.extend((p, False) for p in _walk(path))
        elif path.is_file():
            named.append((path, True))
        else:
            raise UserError(f"results path '{path}' does not exist")
    for given in bundles:
        path = Path(given)
        manifest = path / MANIFEST_FILE if path.is_dir() else path
        if not manifest.is_file():
            raise UserError(f"--bundle '{path}': no manifest.json there (a bundle is a folder made by `vitsdk export`)")
        _try_manifest(loaded, manifest)

    folders: set[Path] = set()
    for path, explicit in named:
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        document, problem = json_problem(path)
        if problem:
            loaded.problems.append(Problem(path, "/", problem))
            continue
        schema = document.get("schema") if isinstance(document, dict) else None
        if isinstance(schema, str) and schema.startswith(_OTHER_FORMATS):
            if schema.startswith(MANIFEST.name + "/"):
                _add_manifest(loaded, path, path.read_bytes(), document)
            if explicit:
                loaded.problems.append(Problem(path, "/schema", f"'{schema}' is not a results file ({RESULTS.tag})"))
            continue
        problem = results_problem(document, path)
        if problem:
            loaded.problems.append(problem)
            continue
        loaded.results.append((path, document))
        folders.add(resolved.parent)
    for candidate in _nearby_manifests(folders):
        if candidate.resolve() not in seen:
            _try_manifest(loaded, candidate)
    return loaded


def _nearby_manifests(folders: set[Path]) -> list[Path]:
    """manifest.json in each results folder, its parent, and the parent's subfolders (results/ beside
    bundle folders, as `vitsdk bench BUNDLE -o OUT/results` leaves them). Matching is by sha256 only."""
    found: set[Path] = set()
    for folder in folders:
        for place in (folder, folder.parent):
            if (place / MANIFEST_FILE).is_file():
                found.add(place / MANIFEST_FILE)
        try:
            found.update(p for p in folder.parent.glob(f"*/{MANIFEST_FILE}") if p.is_file())
        except OSError:
            continue
    return sorted(found)
