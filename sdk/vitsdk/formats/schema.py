"""The one schema loader and the one version check behind every on-disk format.

A `Format` is a JSON document type: the value of its `schema` field (`vitsdk.results/1`) and its JSON Schema
file in `schemas/`. All schema files are loaded into one `referencing` registry, so a schema may refer to
another by file name (`results.schema.json` uses `run_spec.schema.json#/$defs/protocol`).

Validation reports the JSON path of the problem, e.g. `/energy/energy_mj: None is not of type 'number'`.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitsdk import resources
from vitsdk.errors import UserError


@functools.cache
def load_schema(name: str) -> dict:
    """A JSON file of `schemas/` by name ('manifest.schema.json', 'runtime_versions.json'), parsed once."""
    path = resources.schema_path(name)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read the schema {path} ({exc}); reinstall vitsdk") from None


@functools.cache
def _registry() -> Any:
    """Every `*.schema.json` of `schemas/`, reachable by its `$id` and by its file name."""
    from referencing import Registry, Resource

    names = sorted(p.name for p in resources.schema_path(".").iterdir() if p.name.endswith(".schema.json"))
    pairs = []
    for name in names:
        schema = load_schema(name)
        pairs += [(name, Resource.from_contents(schema)), (schema["$id"], Resource.from_contents(schema))]
    return Registry().with_resources(pairs)


def schema_errors(document: Any, name: str) -> list[str]:
    """Every violation of schema file `name` as 'JSON-path: message', the most relevant first; [] when valid."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    found = list(Draft202012Validator(load_schema(name), registry=_registry()).iter_errors(document))
    if not found:
        return []
    first = best_match(found)
    ordered = [first] + [e for e in sorted(found, key=lambda e: list(map(str, e.absolute_path))) if e is not first]
    return [("/" + "/".join(map(str, e.absolute_path))) + f": {e.message[:300]}" for e in ordered]


def json_problem(path: str | os.PathLike) -> tuple[Any, str | None]:
    """(contents, None) of a JSON file, or (None, why it cannot be read: unreadable, not UTF-8, truncated), for
    readers that skip a bad file (the report) as well as those that refuse it (`read_json`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, f"cannot read ({exc.strerror})"
    except UnicodeDecodeError:
        return None, "not UTF-8 text (not a JSON file?)"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON (truncated?) at line {exc.lineno} column {exc.colno}"


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's contents; unreadable, non-UTF-8 or truncated files are one clear UserError naming it."""
    document, problem = json_problem(path)
    if problem:
        raise UserError(f"{path}: {problem}")
    return document


@dataclass(frozen=True)
class Format:
    """A JSON document type: `tag` is its `schema` field ('vitsdk.results/1'), `schema_file` its JSON Schema."""

    tag: str
    schema_file: str

    @property
    def name(self) -> str:
        """The tag without its version ('vitsdk.results')."""
        return self.tag.partition("/")[0]

    def tag_problem(self, document: Any) -> str | None:
        """None when `document` carries this format's tag; else why not, with an upgrade hint for a newer one."""
        if not isinstance(document, dict) or not isinstance(document.get("schema"), str):
            return f"not a {self.name} file (no 'schema' field; expected \"schema\": \"{self.tag}\")"
        name, _, version = document["schema"].partition("/")
        if name != self.name:
            return f"is a '{name}' file, expected '{self.name}'"
        if document["schema"] != self.tag:
            want = self.tag.partition("/")[2]
            newer = version.isdigit() and want.isdigit() and int(version) > int(want)
            hint = " (made by a newer vitsdk; upgrade vitsdk)" if newer else ""
            return f"schema version {document['schema']} is not supported, this vitsdk reads {self.tag}{hint}"
        return None

    def errors(self, document: Any) -> list[str]:
        """Schema violations as 'JSON-path: message' (see `schema_errors`); the tag is not checked here."""
        return schema_errors(document, self.schema_file)

    def problem(self, document: Any) -> tuple[str, str] | None:
        """The first problem as (JSON path, message), tag first; None when the document is valid."""
        tag = self.tag_problem(document)
        if tag:
            return "/schema", tag
        found = self.errors(document)
        if not found:
            return None
        where, _, message = found[0].partition(": ")
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return where, message + more

    def check_tag(self, document: Any, where: str) -> None:
        """UserError unless `document` carries this format's tag."""
        problem = self.tag_problem(document)
        if problem:
            raise UserError(f"{where}: {problem}")

    def validate(self, document: Any, where: str) -> None:
        """UserError naming `where` and the JSON path of the first problem (tag, then schema)."""
        self.check_tag(document, where)
        problem = self.problem(document)
        if problem:
            raise UserError(f"{where}: does not match {self.schema_file}: {problem[0]}: {problem[1]}")

    def read(self, path: str | os.PathLike) -> dict:
        """A file of this format, read and validated; every problem is one UserError naming the file."""
        document = read_json(path)
        self.validate(document, str(path))
        return document
