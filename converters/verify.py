"""Verification: every exported file is compared with PyTorch on the bundle's reference inputs.

Each backend registers its own check (`register_converter(..., verify=)`): files that run here are run in
their real runtime (`verify_in_runtime`); Core ML validates its package; the FPGA compares its Verilator simulation's
outputs. All executed checks are judged by `compare`: max |diff| / max |ref| against the precision's
tolerance; a mismatch fails the export unless a quantized file is kept with allow_mismatch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from vitsdk.bench.runtimes import load, runtime_version
from vitsdk.converters.quiet import quiet
from vitsdk.converters.reference import batches, parity, top1
from vitsdk.converters.targets import QUANTIZED, Target
from vitsdk.errors import UserError
from vitsdk.formats.manifest import REFERENCE_DIR

if TYPE_CHECKING:
    from vitsdk.converters.options import ExportOptions


@dataclass(frozen=True)
class ReferenceSet:
    """What a file is checked against: PyTorch's `outputs` of `model` on `inputs`, and where to save a file's own."""

    model: nn.Module
    inputs: torch.Tensor
    outputs: np.ndarray
    options: ExportOptions
    staging: Path       # the bundle being written: each executed file's outputs go to reference/<file>.outputs.npy


def compare(target: Target, precision: str, path: Path, outputs: np.ndarray, runtime_name: str,
            reference: ReferenceSet) -> dict[str, Any]:
    """Judges a file's outputs against PyTorch's, saves them beside the reference, returns the record."""
    options = reference.options
    tolerance = options.tolerance(precision)
    figures = parity(outputs, reference.outputs)
    out_name = f"{REFERENCE_DIR}/{path.name}.outputs.npy"
    np.save(reference.staging / out_name, outputs.astype(np.float32))
    passed = figures["rel_diff"] <= tolerance
    status = "passed" if passed else "mismatch_allowed"
    if not passed and not (options.allow_mismatch and precision in QUANTIZED):
        hint = (" (quantized: pass --allow-mismatch to keep it and judge it by accuracy, or raise the tolerance)"
                if precision in QUANTIZED else " (fp32 must match PyTorch)")
        raise UserError(f"verification failed for {target.name} {precision}: max |diff| / max |ref| = "
                        f"{figures['rel_diff']:.3g} > tolerance {tolerance:g} on {len(reference.inputs)} reference "
                        f"inputs{hint}; nothing was written")
    return {"status": status, "executed": True, "runtime": runtime_name,
            "inputs": len(reference.inputs), "metric": "max_abs_diff / max_abs_ref", "tolerance": tolerance,
            **{k: round(v, 9) for k, v in figures.items()}, "outputs": out_name}


def run_file(runtime: str, path: Path, x: torch.Tensor, batch: int) -> np.ndarray:
    """A file's outputs on `x` in its real runtime, fed in the static batch size it was exported with."""
    with quiet():
        predict = load(runtime, path).predict
        return np.concatenate([predict(b.numpy()) for b in batches(x, batch)])


def verify_in_runtime(target: Target, precision: str, path: Path, reference: ReferenceSet) -> dict[str, Any]:
    """The check of a file this machine can run: the file in its real runtime on the reference inputs."""
    outputs = run_file(target.runtime, path, reference.inputs, reference.options.batch)
    return compare(target, precision, path, outputs, f"{target.runtime} {runtime_version(target.runtime)}", reference)


def file_accuracy(target: Target, path: Path, accuracy_set, batch: int) -> dict[str, Any]:
    """Top-1 of an executable file on the accuracy set, beside PyTorch's and their agreement."""
    x, labels, text, reference = accuracy_set
    outputs = run_file(target.runtime, path, x, batch)
    return {"dataset": text, "n": int(len(x)), "top1": top1(outputs, labels),
            "top1_pytorch": top1(reference, labels),
            "top1_agreement": float((outputs.argmax(-1) == reference.argmax(-1)).mean())}
