"""Results files (`results/*.json`, `vitsdk.results/1`): one benchmark run of one model file on one device."""
from __future__ import annotations

import os

from vitsdk.formats.schema import Format

RESULTS = Format("vitsdk.results/1", "results.schema.json")


def load_results(path: str | os.PathLike) -> dict:
    """Reads and validates a results file; truncated or invalid files are a clear error."""
    return RESULTS.read(path)
