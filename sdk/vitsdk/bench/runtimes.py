"""The one loader of the runtimes that run here (ExecuTorch, LiteRT): the host bench, the exporter's
verification and accuracy, and the pruning advisor all load a model file through `load`.

`LoadedModel.run` and `.bind` call the runtime directly rather than through a wrapper, so the timed call is
the runtime's own: the bench loop adds two clock reads per run (benchmarks/bench_overhead.py measures this
against a bare loop). `.predict` is for comparing numbers: float32 in and out, the quantized input and
output of a full-integer .tflite converted through its own scale and zero point.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vitsdk.errors import UserError, unknown

# the Python module that must import for a runtime to run here, and the package whose version is recorded
RUNTIME_MODULES = {"executorch": "executorch.runtime", "litert": "ai_edge_litert.interpreter"}
RUNTIME_PACKAGES = {"executorch": "executorch", "litert": "ai-edge-litert"}


@dataclass
class LoadedModel:
    run: Callable[[np.ndarray], np.ndarray]    # one inference (input copied in, output copied out)
    bind: Callable[[np.ndarray], Callable[[], object]]   # one inference on a fixed input, converted once
    predict: Callable[[np.ndarray], np.ndarray]   # float32 in, float32 out (quantized I/O converted)
    input_shape: tuple[int, ...] | None
    input_dtype: np.dtype
    version: str | None
    delegate: str | None
    threads: int | None
    handle: object = None    # the runtime's own object (ExecuTorch method, LiteRT interpreter), for benchmarks


def package_version(name: str) -> str | None:
    """The installed version of a Python package, None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def runtime_version(runtime: str) -> str | None:
    """The installed version of a runtime's Python package."""
    return package_version(RUNTIME_PACKAGES[runtime])


def require_runtime(runtime: str) -> None:
    """Imports a runtime's Python modules (seconds for ExecuTorch, so the bench's load_ms times only the model
    load); a clear error unless `runtime` is one we run here and it is installed."""
    if runtime not in RUNTIME_MODULES:
        raise unknown("runtime", runtime, RUNTIME_MODULES)
    try:
        importlib.import_module(RUNTIME_MODULES[runtime])
    except ImportError as exc:
        raise UserError(f"runtime '{runtime}' is not installed here ({exc}); install the extra: "
                        f"pip install 'vitsdk[export]'") from None




def load_executorch(path: Path, threads: int | None, delegate: str | None) -> LoadedModel:
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if threads is not None:
        portable_lib._unsafe_reset_threadpool(threads)
    try:
        method = Runtime.get().load_program(Path(path)).load_method("forward")
    except Exception as exc:  # a file that is not an ExecuTorch program
        raise UserError(f"cannot load ExecuTorch program '{path}': {str(exc)[:200]}") from None
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

    def predict(x: np.ndarray) -> np.ndarray:
        value = np.asarray(x, dtype=np.float32)
        tensor = torch.empty(value.shape, dtype=torch.float32).copy_(torch.from_numpy(value))  # default strides
        return method.execute([tensor])[0].detach().numpy().copy()

    return LoadedModel(run, bind, predict, shape, dtype, runtime_version("executorch"), delegate or "xnnpack",
                       portable_lib._threadpool_get_thread_count(), method)


def load_litert(path: Path, threads: int | None, delegate: str | None) -> LoadedModel:
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except Exception as exc:  # a file that is not a LiteRT model
        raise UserError(f"cannot load LiteRT model '{path}': {str(exc)[:200]}") from None
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

    def predict(x: np.ndarray) -> np.ndarray:
        value = np.asarray(x, dtype=np.float32)
        if inp["dtype"] != np.float32:  # full-int8 models take quantized input
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            value = np.clip(np.round(value / scale + zero), info.min, info.max).astype(inp["dtype"])
        result = run(value)
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            result = (result.astype(np.float32) - zero) * scale
        return np.array(result, dtype=np.float32)

    return LoadedModel(run, bind, predict, tuple(int(d) for d in inp["shape"]), np.dtype(inp["dtype"]),
                       runtime_version("litert"), delegate or "xnnpack", threads, interpreter)


LOADERS: dict[str, Callable[[Path, int | None, str | None], LoadedModel]] = {
    "executorch": load_executorch,
    "litert": load_litert,
}
HOST_RUNTIMES = tuple(LOADERS)   # the runtimes `vitsdk bench --device host` runs


def load(runtime: str, path: str | Path, threads: int | None = None, delegate: str | None = None) -> LoadedModel:
    """A model file loaded once in its runtime; a missing file or one the runtime refuses is a UserError."""
    if runtime not in LOADERS:
        raise unknown("host runtime", runtime, LOADERS)
    if not Path(path).is_file():
        raise UserError(f"model file '{path}' does not exist")
    return LOADERS[runtime](Path(path), threads, delegate)
