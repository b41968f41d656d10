"""Core ML (.mlpackage, ML program) export with coremltools, and its validation on a machine without macOS.

Precisions: 'fp16' (Core ML's default compute precision), 'fp32' (for models whose softmax/LayerNorm
overflow in fp16) and 'int8' (int8 linear-quantized weights, fp16 compute). Optional weight compression:
'sparse' stores the weights' existing zeros sparsely (it keeps block-pruned zeros exactly and prunes
nothing new), 'palettized' clusters each weight tensor to a 256-entry lookup table (8 bits); 'auto' (the
default) is 'sparse' for a block-pruned model (fp16/fp32) and 'none' otherwise.

Core ML prediction needs macOS, so on Linux the converted program is validated instead of run: the spec
is an ML program, its input/output names and shapes match the model, and the op list is recorded.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vitsdk.bench.runtimes import package_version
from vitsdk.converters.common import check_precision, export_friendly, pruned_fraction, size_of, standard_inputs
from vitsdk.converters.quiet import quiet
from vitsdk.converters.reference import fp16_emulation
from vitsdk.converters.registry import ConvertContext, ConvertedFile, register_converter
from vitsdk.converters.targets import Target
from vitsdk.errors import UserError, unknown

if TYPE_CHECKING:
    from vitsdk.converters.verify import ReferenceSet

COMPRESSIONS = ("auto", "none", "sparse", "palettized")
DEFAULT_DEPLOYMENT_TARGET = "iOS17"
NOT_EXECUTED = "Core ML prediction needs macOS; the program was validated (spec, inputs/outputs, ops), not run"


def _import_coremltools():
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # "Failed to load _MLModelProxy" on Linux is expected
            import coremltools as ct
    except ImportError as exc:
        raise UserError(f"coremltools is not installed ({exc}); install the extra: pip install 'vitsdk[export]'") from None
    return ct


def deployment_target(name: str):
    ct = _import_coremltools()
    options = [t.name for t in ct.target]
    if name not in options:
        raise unknown("minimum deployment target", name, options)
    return getattr(ct.target, name)


def _compress(ml, precision: str, compression: str):
    import coremltools.optimize.coreml as cto

    if precision == "int8":
        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
        ml = cto.linear_quantize_weights(ml, config)
    if compression == "sparse":
        # threshold ~0 keeps exactly the zeros already there (block pruning); nothing new is pruned.
        config = cto.OptimizationConfig(global_config=cto.OpThresholdPrunerConfig(threshold=1e-12,
                                                                                  minimum_sparsity_percentile=0.0))
        ml = cto.prune_weights(ml, config)
    elif compression == "palettized":
        config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(nbits=8, mode="kmeans"))
        ml = cto.palettize_weights(ml, config)
    return ml


def to_mlpackage(model: torch.nn.Module, example_inputs: tuple, path: str | os.PathLike, precision: str = "fp16",
                 *, minimum_deployment_target: str = DEFAULT_DEPLOYMENT_TARGET,
                 compression: str = "auto") -> ConvertedFile:
    """Converts `model` to a Core ML ML program saved at `path` (an .mlpackage folder, written atomically).

    Args:
        model: the PyTorch model (not modified).
        example_inputs: a tuple of input tensors (static shapes).
        path: the .mlpackage folder to write.
        precision: 'fp16' or 'fp32' compute precision, or 'int8' (int8 weights, fp16 compute).
        minimum_deployment_target: a coremltools target name ('iOS16', 'iOS17', 'macOS14', ...).
        compression: 'auto', 'none', 'sparse' (keep existing zeros sparse) or 'palettized' (8-bit lookup
            tables); 'auto' is 'sparse' when at least 10% of the linear weights are pruned zeros (not with int8).

    Returns:
        what was written: the `coreml` details (compute precision, weights, compression, deployment target), size,
        versions.
    """
    check_precision("coreml", precision, None)
    if compression not in COMPRESSIONS:
        raise unknown("Core ML compression", compression, COMPRESSIONS)
    if compression == "auto":
        compression = "sparse" if precision != "int8" and pruned_fraction(model) >= 0.1 else "none"
    if precision == "int8" and compression == "palettized":
        raise UserError("Core ML int8 weights and palettized compression do not combine: choose one "
                        "(--precision int8, or --coreml-compression palettized with fp16/fp32)")
    ct = _import_coremltools()
    target = deployment_target(minimum_deployment_target)
    start = time.perf_counter()
    example_inputs = standard_inputs(example_inputs)
    program = torch.export.export(export_friendly(model, layer_norm=False), example_inputs).run_decompositions({})
    compute = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    with contextlib.redirect_stderr(io.StringIO()):  # tqdm progress bars
        ml = ct.convert(program, convert_to="mlprogram", compute_precision=compute,
                        minimum_deployment_target=target)
        ml = _compress(ml, precision, compression)
    ml.short_description = "vitsdk export"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        ml.save(str(staging / path.name))
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    details = {"compute_precision": "fp32" if precision == "fp32" else "fp16",
               "weights": "int8" if precision == "int8" else ("fp32" if precision == "fp32" else "fp16"),
               "compression": compression, "minimum_deployment_target": minimum_deployment_target}
    return ConvertedFile(precision, {"coremltools": package_version("coremltools"), "torch": package_version("torch")},
                         None, size_of(path), round(time.perf_counter() - start, 3), details={"coreml": details})


def _shape(feature) -> list[int]:
    return [int(d) for d in feature.type.multiArrayType.shape]


def validate_mlpackage(path: str | os.PathLike, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> dict:
    """Checks a saved .mlpackage without running it: ML program, one input/output of the right shapes,
    the ops it uses. Raises UserError when a check fails; returns the figures for the manifest."""
    ct = _import_coremltools()
    path = Path(path)
    try:
        spec = ct.utils.load_spec(str(path))
    except Exception as exc:
        raise UserError(f"cannot read Core ML package '{path}': {str(exc)[:200]}") from None
    kind = spec.WhichOneof("Type")
    problems = []
    if kind != "mlProgram":
        problems.append(f"model type is {kind}, not an ML program")
    inputs = list(spec.description.input)
    outputs = list(spec.description.output)
    if len(inputs) != 1 or _shape(inputs[0]) != list(input_shape):
        problems.append(f"inputs {[(i.name, _shape(i)) for i in inputs]} != one input of shape {list(input_shape)}")
    if len(outputs) != 1 or _shape(outputs[0]) not in ([], list(output_shape)):
        problems.append(f"outputs {[(o.name, _shape(o)) for o in outputs]} != one output of shape "
                        f"{list(output_shape)}")
    ops: dict[str, int] = {}
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops[op.type] = ops.get(op.type, 0) + 1
    if not ops:
        problems.append("the program has no operations")
    if problems:
        raise UserError(f"Core ML validation of '{path}' failed: {'; '.join(problems)}")
    return {"status": "validated", "executed": False, "reason": NOT_EXECUTED,
            "spec_version": int(spec.specificationVersion),
            "inputs": [{"name": i.name, "shape": _shape(i)} for i in inputs],
            "outputs": [{"name": o.name, "shape": _shape(o)} for o in outputs],
            "ops": dict(sorted(ops.items()))}


def verify(target: Target, precision: str, path: Path, reference: ReferenceSet) -> dict[str, Any]:
    """Core ML cannot run here: the package is validated (spec, input/output shapes, ops) and recorded as not
    executed; for fp16 compute, PyTorch's own float16 run estimates the error."""
    batch = reference.options.batch
    with quiet():
        checks = validate_mlpackage(path, (batch, *reference.inputs.shape[1:]), (batch, reference.outputs.shape[-1]))
    if precision != "fp32":
        checks["fp16_compute"] = fp16_emulation(reference.model, reference.inputs, reference.outputs)
    return checks


@register_converter("coreml", verify=verify)
def convert(model: torch.nn.Module, example_inputs: tuple, path: Path, precision: str,
            context: ConvertContext) -> ConvertedFile:
    return to_mlpackage(model, example_inputs, path, precision, minimum_deployment_target=context.options.coreml_target,
                        compression=context.options.coreml_compression)
