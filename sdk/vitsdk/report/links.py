"""Links from a report to its results files: relative to the report, so the folder can move as a whole."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote


def href(path: Path, out_dir: Path) -> str:
    """A URL-quoted relative link from `out_dir` to `path` (absolute file:// when on another drive)."""
    try:
        relative = os.path.relpath(path.resolve(), out_dir.resolve())
    except ValueError:
        return path.resolve().as_uri()
    return quote(relative.replace(os.sep, "/"))
