"""The run spec and results schemas (`schemas/` at the repository root, read through `vitsdk.resources`).

Validation reports the JSON path of the problem, e.g. `/energy/energy_mj: None is not of type 'number'`.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from vitsdk import resources
from vitsdk.errors import UserError

RUN_SPEC = "vitsdk.run_spec/1"
RESULTS = "vitsdk.results/1"
_FILES = {"run_spec": "run_spec.schema.json", "results": "results.schema.json"}


@functools.cache
def _registry_and_schemas() -> tuple[Any, dict[str, dict]]:
    from referencing import Registry, Resource

    schemas = {kind: resources.load_schema(name) for kind, name in _FILES.items()}
    registry = Registry().with_resources(
        [(s["$id"], Resource.from_contents(s)) for s in schemas.values()]
        + [(name, Resource.from_contents(schemas[kind])) for kind, name in _FILES.items()])
    return registry, schemas


def load_schema(kind: str) -> dict:
    return _registry_and_schemas()[1][kind]


def errors(document: Any, kind: str) -> list[str]:
    """Every schema violation as 'JSON-path: message', most specific first; [] when valid."""
    return resources.schema_errors(document, _FILES[kind], registry=_registry_and_schemas()[0])


def check_version(document: Any, expected: str, where: str) -> None:
    """A clear error for a file of another format or a newer major version."""
    if not isinstance(document, dict) or not isinstance(document.get("schema"), str):
        raise UserError(f"{where}: not a {expected.split('/')[0]} file (no 'schema' field)")
    name, _, version = document["schema"].partition("/")
    want_name, _, want_version = expected.partition("/")
    if name != want_name:
        raise UserError(f"{where}: is a '{name}' file, expected '{want_name}'")
    if version != want_version:
        newer = version.isdigit() and want_version.isdigit() and int(version) > int(want_version)
        hint = " (made by a newer vitsdk; upgrade vitsdk)" if newer else ""
        raise UserError(f"{where}: schema version {document['schema']} is not supported, "
                        f"this vitsdk reads {expected}{hint}")


def validate(document: Any, kind: str, where: str) -> None:
    """Raises UserError naming the file and the JSON path of the first problem."""
    check_version(document, RESULTS if kind == "results" else RUN_SPEC, where)
    problems = errors(document, kind)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(f"{where}: does not match the {kind} schema: {problems[0]}{more}")


def load_results(path: str | os.PathLike) -> dict:
    """Reads and validates a results file; truncated or invalid files are a clear error."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read results file {path}: {exc.strerror}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON (truncated?) at line {exc.lineno} column {exc.colno}") from exc
    validate(document, "results", str(path))
    return document
