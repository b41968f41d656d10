"""The FPGA tools' build cache: `~/.cache/vitsdk/<kind>/<key>` (or `$VITSDK_CACHE/<kind>`), where `key` is a
digest of the verified sources a build was made from. Simulators (Verilator) are built
here from sha256-checked copies, never inside a bundle, so nothing built or shipped with a bundle is run."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable


def cache_dir(kind: str) -> Path:
    """The cache folder of one kind of build ('rtl', 'synth')."""
    root = os.environ.get("VITSDK_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                          os.path.expanduser("~/.cache"), "vitsdk")
    return Path(root) / kind


def build_once(kind: str, key: str, build: Callable[[Path], None]) -> tuple[Path, float]:
    """The folder `cache_dir(kind)/key`; when missing, `build(work)` fills a temporary sibling that is then
    renamed into place (a failed build leaves nothing). Returns the folder and the build seconds (0 when
    cached)."""
    folder = cache_dir(kind) / key
    if folder.is_dir():
        return folder, 0.0
    folder.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        build(work)
        try:
            work.rename(folder)
        except OSError:  # another process built the same thing first
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return folder, time.perf_counter() - start
