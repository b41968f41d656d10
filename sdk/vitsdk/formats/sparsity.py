"""Pruned-artifact descriptions (`PRUNED/sparsity.json`, `vitsdk.sparsity/1`), beside `model.safetensors`."""
from __future__ import annotations

import os
from pathlib import Path

from vitsdk.formats.schema import Format

SPARSITY = Format("vitsdk.sparsity/1", "sparsity.schema.json")
SPARSITY_FILE = "sparsity.json"


def is_pruned_artifact(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by `vitsdk prune` (it holds a sparsity.json)."""
    return Path(path).is_dir() and (Path(path) / SPARSITY_FILE).is_file()


def read_sparsity(folder: str | os.PathLike) -> dict:
    """sparsity.json of an artifact folder, checked against the schema (errors name the JSON path)."""
    return SPARSITY.read(Path(folder) / SPARSITY_FILE)
