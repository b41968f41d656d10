"""The runtimes the host runner drives directly (ExecuTorch, LiteRT), loaded once per model file.

Called directly rather than through a wrapper so the timed call is the runtime's own: the bench loop
adds two clock reads per run (benchmarks/bench_overhead.py measures this against a bare loop).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vitsdk.errors import unknown


@dataclass
class LoadedModel:
    run: Callable[[np.ndarray], np.ndarray]    # one inference (input copied in, output copied out)
    bind: Callable[[np.ndarray], Callable[[], object]]   # one inference on a fixed input, converted once
    input_shape: tuple[int, ...] | None
    input_dtype: np.dtype
    version: str | None
    delegate: str | None
    threads: int | None
    handle: object = None    # the runtime's own object (ExecuTorch method, LiteRT interpreter), for benchmarks


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def import_runtime(runtime: str) -> None:
    """Imports a runtime's Python modules (seconds for ExecuTorch), so load_ms times only the model load."""
    if runtime == "executorch":
        import executorch.runtime  # noqa: F401
        import torch  # noqa: F401
    elif runtime == "litert":
        import ai_edge_litert.interpreter  # noqa: F401


def load_executorch(path: Path, threads: int | None, delegate: str | None) -> LoadedModel:
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if threads is not None:
        portable_lib._unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(Path(path)).load_method("forward")
    meta = method.metadata
    shape, dtype = None, np.dtype(np.float32)
    if meta.num_inputs() >= 1:
        info = meta.input_tensor_meta(0)
        shape = tuple(int(d) for d in info.sizes())

    def run(x: np.ndarray) -> np.ndarray:
        return method.execute([torch.from_numpy(x)])[0].numpy()

    def bind(x: np.ndarray) -> Callable[[], object]:
        inputs = [torch.from_numpy(x)]
        execute = method.execute
        return lambda: execute(inputs)

    return LoadedModel(run, bind, shape, dtype, _version("executorch"), delegate or "xnnpack",
                       portable_lib._threadpool_get_thread_count(), method)


def load_litert(path: Path, threads: int | None, delegate: str | None) -> LoadedModel:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()[:1]
    out = interpreter.get_output_details()[0]
    set_tensor, invoke, get_tensor = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
    in_index, out_index = inp["index"], out["index"]

    def run(x: np.ndarray) -> np.ndarray:
        set_tensor(in_index, x)
        invoke()
        return get_tensor(out_index)

    def bind(x: np.ndarray) -> Callable[[], object]:
        return lambda: run(x)   # LiteRT copies the input in on every call, as a direct caller would

    return LoadedModel(run, bind, tuple(int(d) for d in inp["shape"]), np.dtype(inp["dtype"]), _version("ai-edge-litert"),
                       delegate or "xnnpack", threads, interpreter)


LOADERS: dict[str, Callable[[Path, int | None, str | None], LoadedModel]] = {
    "executorch": load_executorch,
    "litert": load_litert,
}
HOST_RUNTIMES = tuple(LOADERS)   # the runtimes `vitsdk bench --device host` runs


def load(runtime: str, path: Path, threads: int | None = None, delegate: str | None = None) -> LoadedModel:
    if runtime not in LOADERS:
        raise unknown("host runtime", runtime, LOADERS)
    return LOADERS[runtime](path, threads, delegate)
