"""Run exported files in their real runtimes from Python: ExecuTorch (.pte) and LiteRT (.tflite).

Each runner loads its file once; `.run(x)` takes and returns float32 numpy arrays, so callers
(verification, benchmarks) treat every runtime alike. Quantized LiteRT models with int8 input/output
tensors are fed and read through their own scale/zero-point.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vitsdk.errors import UserError


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file '{path}' does not exist")
    return path


class ExecuTorchRunner:
    """A .pte program's `forward` method, loaded once with `executorch.runtime` (XNNPACK included)."""

    def __init__(self, path: str | os.PathLike, method: str = "forward") -> None:
        from executorch.runtime import Runtime

        self.path = _existing(path)
        try:
            self.program = Runtime.get().load_program(self.path)
            self.method = self.program.load_method(method)
        except Exception as exc:  # a file that is not an ExecuTorch program
            raise UserError(f"cannot load ExecuTorch program '{self.path}': {str(exc)[:200]}") from None
        meta = self.method.metadata
        self.input_shapes = [tuple(meta.input_tensor_meta(i).sizes()) for i in range(meta.num_inputs())]

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        value = np.asarray(x, dtype=np.float32)
        tensor = torch.empty(value.shape, dtype=torch.float32).copy_(torch.from_numpy(value))  # default strides
        return self.method.execute([tensor])[0].detach().numpy().copy()


class LiteRTRunner:
    """A .tflite model in the `ai_edge_litert` Interpreter (its XNNPACK delegate applied by default)."""

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = _existing(path)
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except Exception as exc:
            raise UserError(f"cannot load LiteRT model '{self.path}': {str(exc)[:200]}") from None
        (self.input,) = self.interpreter.get_input_details()
        (self.output,) = self.interpreter.get_output_details()
        self.input_shapes = [tuple(int(d) for d in self.input["shape"])]

    def run(self, x: np.ndarray) -> np.ndarray:
        value = np.asarray(x, dtype=np.float32)
        if self.input["dtype"] != np.float32:  # full-int8 models take quantized input
            scale, zero = self.input["quantization"]
            info = np.iinfo(self.input["dtype"])
            value = np.clip(np.round(value / scale + zero), info.min, info.max).astype(self.input["dtype"])
        self.interpreter.set_tensor(self.input["index"], value)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        if self.output["dtype"] != np.float32:
            scale, zero = self.output["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return np.array(out, dtype=np.float32)


RUNNERS = {"executorch": ExecuTorchRunner, "litert": LiteRTRunner}
_RUNTIME_MODULES = {"executorch": "executorch.runtime", "litert": "ai_edge_litert.interpreter"}


def require_runtime(runtime: str) -> None:
    """A clear error unless `runtime` is one we run here and it is installed."""
    import importlib

    from vitsdk.errors import unknown

    if runtime not in RUNNERS:
        raise unknown("runtime", runtime, RUNNERS)
    try:
        importlib.import_module(_RUNTIME_MODULES[runtime])
    except ImportError as exc:
        raise UserError(f"runtime '{runtime}' is not installed here ({exc}); install the extra: "
                        f"pip install 'vitsdk[export]'") from None


def load_runner(runtime: str, path: str | os.PathLike):
    """The runner for a manifest file's `runtime` field."""
    from vitsdk.errors import unknown

    if runtime not in RUNNERS:
        raise unknown("runtime", runtime, RUNNERS)
    return RUNNERS[runtime](path)
