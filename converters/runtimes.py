"""Temporary (issue 12): the one runtime loader is `vitsdk.bench.runtimes` (`load(...).predict(x)`). These names
stay only until their importers switch: sparsity/compact.py and cli/prune.py (H3), benchmarks/export.py and
benchmarks/pruning.py, tests/test_sparsity_export.py."""
from __future__ import annotations

import os

from vitsdk.bench.runtimes import load, require_runtime

__all__ = ["ExecuTorchRunner", "LiteRTRunner", "RUNNERS", "load_runner", "require_runtime"]


class _Runner:
    """A loaded model whose `.run(x)` is `LoadedModel.predict` (float32 in and out), as the old runners had."""

    def __init__(self, runtime: str, path: str | os.PathLike, num_threads: int | None = None) -> None:
        self.loaded = load(runtime, path, num_threads)
        self.run = self.loaded.predict


def ExecuTorchRunner(path: str | os.PathLike) -> _Runner:  # noqa: N802 - the old class name
    return _Runner("executorch", path)


def LiteRTRunner(path: str | os.PathLike, num_threads: int | None = None) -> _Runner:  # noqa: N802
    return _Runner("litert", path, num_threads)


RUNNERS = {"executorch": ExecuTorchRunner, "litert": LiteRTRunner}


def load_runner(runtime: str, path: str | os.PathLike) -> _Runner:
    return _Runner(runtime, path)
