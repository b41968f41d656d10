"""LiteRT (.tflite) export through litert-torch, with post-training quantization by ai-edge-quantizer.

Precisions:
  fp32         the float model as litert-torch converts it.
  fp16         weights stored as float16, compute in float32 (half the weight bytes, ~fp32 accuracy).
  int8-dynamic dynamic range: int8 weights, activations quantized on the fly (no calibration).
  int8         static int8 fully-connected layers (int8 weights and activations, ranges from calibration
               data); attention matmuls, softmax, LayerNorm and GELU stay float, as with the XNNPACK
               quantizer on ExecuTorch. Float input/output. The accurate int8 choice.
  int8-full    full integer: every supported op in int8, input/output tensors int8 too (for
               integer-only accelerators); costs several points of top-1 on our ViTs (the runner converts I/O).

Block-pruned weights are stored block-sparse (`converters/tflite_sparse.py`: the flatbuffer's
SparsityParameters + a DENSIFY op that XNNPACK folds when the model loads), so fp32 and fp16 files shrink
with the pruning ratio and run the same dense kernels. int8 weights stay dense: the XNNPACK delegate of
ai-edge-litert 2.3 refuses a FULLY_CONNECTED whose int8 weight comes from DENSIFY ("failed to prepare").
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vitsdk.atomic import atomic_path
from vitsdk.bench.runtimes import package_version
from vitsdk.converters.common import calibration_batches, check_precision, export_friendly, standard_inputs
from vitsdk.converters.registry import ConvertContext, ConvertedFile, register_converter
from vitsdk.converters.verify import verify_in_runtime
from vitsdk.errors import UserError

SIGNATURE = "serving_default"
SPARSE_PRECISIONS = ("fp32", "fp16")  # whose pruned weights the runtime can densify inside XNNPACK
WEIGHT_STORAGE = ("auto", "dense", "sparse")


def _import_litert_torch():
    try:
        import litert_torch
    except ImportError as exc:
        raise UserError(f"litert-torch is not installed ({exc}); install the extra: pip install 'vitsdk[export]'") from None
    litert_torch.config.show_progress = False  # its own progress log would interleave with ours
    return litert_torch


def _recipe(precision: str):
    from ai_edge_quantizer import qtyping, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    if precision == "fp16":
        manager = recipe_manager.RecipeManager()
        manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                       num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
        return manager.get_quantization_recipe()
    if precision == "int8-dynamic":
        return recipe.dynamic_wi8_afp32()
    if precision == "int8-full":
        return recipe.static_wi8_ai8()
    # int8: only the linear layers. In a probe on a Fashion-MNIST ViT, int8 attention matmuls and
    # softmax/LayerNorm cost 3-6 points of top-1; int8 fully-connected layers alone cost under 1.
    manager = recipe_manager.RecipeManager()
    for op in (qtyping.TFLOperationName.FULLY_CONNECTED, qtyping.TFLOperationName.CONV_2D):
        manager.add_static_config(regex=".*", operation_name=op, activation_num_bits=8, weight_num_bits=8)
    return manager.get_quantization_recipe()


def quantize(float_model: bytes, precision: str, calibration: torch.Tensor | None, batch: int) -> bytes:
    """Post-training quantization of a float .tflite buffer with ai-edge-quantizer."""
    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(bytearray(float_model), _recipe(precision))
    ranges = None
    if q.need_calibration:
        input_name = _input_name(float_model)
        samples = [{input_name: b.numpy()} for b in calibration_batches(calibration, batch)]
        with contextlib.redirect_stderr(io.StringIO()):  # tqdm bars
            ranges = q.calibrate({SIGNATURE: samples})
    with contextlib.redirect_stderr(io.StringIO()):
        result = q.quantize(ranges, enable_progress_report=False)
    return bytes(result.quantized_model)


def _input_name(model: bytes) -> str:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=model).get_signature_runner(SIGNATURE)
    (name,) = runner.get_input_details()
    return name


def convert_float(model: torch.nn.Module, example_inputs: tuple) -> bytes:
    """The fp32 .tflite buffer of `model`: the slow step, shared by every precision of one export."""
    litert_torch = _import_litert_torch()
    example_inputs = standard_inputs(example_inputs)
    model = export_friendly(model, layer_norm=False)  # LiteRT has its own LayerNorm lowering
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "float.tflite"
        litert_torch.convert(model, example_inputs).export(str(path))
        return path.read_bytes()


def store_weights(buffer: bytes, precision: str, storage: str) -> tuple[bytes, dict[str, Any]]:
    """Block-sparse storage of the pruned weights of a .tflite buffer (see `tflite_sparse`), as asked.

    'auto' stores sparsely when some weight has zero blocks, 'sparse' as well but says why when it cannot,
    'dense' never. Returns the buffer and the manifest's `weight_storage` record.
    """
    from vitsdk.converters.tflite_sparse import sparsify

    if storage not in WEIGHT_STORAGE:
        from vitsdk.errors import unknown

        raise unknown("weight storage", storage, WEIGHT_STORAGE)
    record: dict[str, Any] = {"storage": "dense", "sparse_tensors": 0, "dense_equivalent_bytes": len(buffer)}
    if storage == "dense":
        return buffer, record
    if precision not in SPARSE_PRECISIONS:
        if storage == "sparse":
            record["note"] = (f"{precision} weights stay dense: XNNPACK cannot densify int8 weights at load "
                              f"(sparse storage applies to {', '.join(SPARSE_PRECISIONS)})")
        return buffer, record
    sparse, summary = sparsify(buffer)
    if summary["tensors"] == 0:
        if storage == "sparse":
            record["note"] = "no pruned layers (no weight with zero blocks): stored dense"
        return buffer, record
    saved = summary["weight_bytes_dense"] - summary["weight_bytes_stored"]
    return sparse, {"storage": "block-sparse", "sparse_tensors": summary["tensors"],
                    "dense_equivalent_bytes": len(sparse) + saved, "layouts": summary["layouts"]}


def to_tflite(model: torch.nn.Module, example_inputs: tuple, path: str | os.PathLike, precision: str = "fp32",
              *, calibration: torch.Tensor | None = None, float_model: bytes | None = None,
              weight_storage: str = "auto") -> ConvertedFile:
    """Exports `model` to a LiteRT flatbuffer at `path` (written atomically).

    Args:
        model: the PyTorch model (not modified).
        example_inputs: a tuple of input tensors; their shapes become the model's static shapes.
        path: the .tflite file to write.
        precision: one of the tflite row's precisions in `targets.TARGETS` ('fp32', 'fp16', 'int8-dynamic', 'int8',
            'int8-full').
        calibration: float inputs (N, C, H, W) for int8 activation ranges (required for 'int8', 'int8-full').
        float_model: the fp32 buffer from `convert_float`, to skip converting again for another precision.
        weight_storage: 'auto' (block-sparse when the model has pruned weights), 'sparse' or 'dense'.

    Returns:
        what was written: delegate, weight_storage, size, versions.
    """
    check_precision("tflite", precision, calibration)
    start = time.perf_counter()
    example_inputs = standard_inputs(example_inputs)
    buffer = float_model if float_model is not None else convert_float(model, example_inputs)
    if precision != "fp32":
        buffer = quantize(buffer, precision, calibration, example_inputs[0].shape[0])
    buffer, storage = store_weights(buffer, precision, weight_storage)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer)
    exporter = {"litert-torch": package_version("litert-torch"),
                "ai-edge-quantizer": package_version("ai-edge-quantizer"), "torch": package_version("torch")}
    return ConvertedFile(precision, exporter, "xnnpack", path.stat().st_size, round(time.perf_counter() - start, 3),
                         weight_storage=storage)


@register_converter("tflite", verify=verify_in_runtime)
def convert(model: torch.nn.Module, example_inputs: tuple, path: Path, precision: str,
            context: ConvertContext) -> ConvertedFile:
    """One precision of the bundle's .tflite files; the fp32 conversion (the slow step) is shared by all."""
    if "float_tflite" not in context.cache:
        context.cache["float_tflite"] = convert_float(model, example_inputs)
    return to_tflite(model, example_inputs, path, precision, calibration=context.calibration,
                     float_model=context.cache["float_tflite"])


def tflite_ops(path: str | os.PathLike) -> dict[str, int]:
    """Operator counts of a .tflite file (what the runtime will execute)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=False)
    counts: dict[str, int] = {}
    for op in interpreter._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return dict(sorted(counts.items()))


def as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
