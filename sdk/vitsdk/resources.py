"""The data files vitsdk reads at run time, found through `importlib.resources`; paths a manifest names, kept
inside their bundle (`inside`). Schemas are loaded by `vitsdk.formats.schema`.

The files stay in the repository's top-level folders (the apps and the board share them); setup.py maps
those folders into the package, so a wheel and an editable install see the same names:

    schemas/      -> vitsdk._schemas     (JSON Schemas, vectors/)
    fpga/         -> vitsdk._fpga        (rtl/ engine sources, board/ runner)

A missing file is a broken installation and an error, never a skipped check. Schemas are loaded and
applied by `vitsdk.formats.schema`.
"""
from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from vitsdk.errors import UserError

SCHEMAS = "vitsdk._schemas"
FPGA = "vitsdk._fpga"


def data_path(package: str, *parts: str) -> Path:
    """The path of a data file (or folder) of `package`; UserError naming it when missing."""
    try:
        node = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise UserError(f"this vitsdk installation lacks its data package {package}; reinstall vitsdk "
                        f"(pip install --force-reinstall vitsdk, or pip install -e . in a checkout)") from None
    for part in parts:  # a folder without __init__.py answers with a MultiplexedPath: walk one name at a time
        node = node.joinpath(part)
    if not isinstance(node, os.PathLike) or not os.path.exists(node):
        raise UserError(f"this vitsdk installation lacks {'/'.join(parts)} of {package} (looked in {node}); "
                        f"reinstall vitsdk")
    return Path(node)


def schema_path(name: str) -> Path:
    """schemas/NAME (e.g. 'manifest.schema.json', 'vectors/stats.json')."""
    return data_path(SCHEMAS, *name.split("/"))


def fpga_path(*parts: str) -> Path:
    """fpga/PARTS (e.g. fpga_path('rtl', 'vit_axi.v'))."""
    return data_path(FPGA, *parts)


def inside(root: str | Path, relative: str, where: str) -> Path:
    """`root / relative`, refused unless it resolves inside `root` (no '..', absolute paths or symlinks out)."""
    base = Path(root).resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise UserError(f"{where}: path '{relative}' points outside the bundle folder {base}; refusing to read it")
    return base / relative
