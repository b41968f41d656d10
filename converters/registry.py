"""The converter registry: each backend module registers the function that writes its target's file.

    @register_converter("executorch", verify=verify_in_runtime)
    def convert(model, example_inputs, path, precision, context) -> ConvertedFile: ...

`converter_for(target)` imports the module the target's row names (`Target.converter`), so a backend's heavy
dependencies load only when its target is exported. A backend returns a `ConvertedFile`; `manifest_entry`
turns it into the manifest's `files[]` entry, the one place that knows the entry's layout.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vitsdk.converters.targets import Target
from vitsdk.errors import UserError

if TYPE_CHECKING:
    import torch

    from vitsdk.converters.options import ExportOptions


@dataclass(frozen=True)
class ConvertedFile:
    """What a converter wrote and what the manifest records about it.

    Args:
        precision: the precision written.
        exporter: the versions of the packages that wrote it ({'executorch': '1.0.0', 'torch': ...}).
        delegate: the backend the runtime hands the graph to ('xnnpack', 'rtl'), None for none.
        size_bytes: the file's (or folder's) size.
        export_s: the seconds the conversion took.
        delegation: how much of the graph the delegate runs (ExecuTorch), else None.
        weight_storage: how pruned weights are stored (dense or block-sparse), else None.
        details: the backend's own manifest block, keyed by its name ({'coreml': {...}}, {'fpga': {...}}).
    """

    precision: str
    exporter: dict[str, str | None]
    delegate: str | None
    size_bytes: int
    export_s: float
    delegation: dict[str, Any] | None = None
    weight_storage: dict[str, Any] | None = None
    details: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ConvertContext:
    """What a converter gets besides model, example inputs, path and precision (shared within one export)."""

    calibration: torch.Tensor | None
    options: ExportOptions
    reference: torch.Tensor | None = None  # the bundle's reference inputs (the FPGA's Verilator simulation runs them)
    cache: dict[str, Any] = field(default_factory=dict)  # e.g. the fp32 .tflite, converted once


# (model, example inputs, path, precision, ConvertContext) -> what it wrote
Converter = Callable[..., ConvertedFile]
# (target, precision, path, verify.ReferenceSet) -> the manifest's `verification` record; raises on a failed check
Verifier = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Backend:
    convert: Converter
    verify: Verifier


CONVERTERS: dict[str, Backend] = {}


def register_converter(target: str, *, verify: Verifier) -> Callable[[Converter], Converter]:
    """Registers the function that writes `target`'s file and the check that proves the file right."""
    def add(fn: Converter) -> Converter:
        CONVERTERS[target] = Backend(fn, verify)
        return fn
    return add


def converter_for(target: Target) -> Backend:
    """The registered backend of a file target, importing the module its row names."""
    if target.converter is not None:
        importlib.import_module(target.converter)
    if target.name not in CONVERTERS:
        raise UserError(target.unavailable or f"target {target.name} has no converter registered")
    return CONVERTERS[target.name]


def manifest_entry(target: Target, name: str, converted: ConvertedFile, size_bytes: int, sha256: str,
                   macs: int) -> dict[str, Any]:
    """The manifest's `files[]` entry of a converted file (verification and accuracy are added by the export)."""
    entry = {"path": name, "target": target.name, "format": target.format, "runtime": target.runtime,
             "precision": converted.precision, "delegate": converted.delegate, "size_bytes": size_bytes,
             "sha256": sha256, "macs": int(macs), "export_s": converted.export_s, "exporter": converted.exporter,
             "delegation": converted.delegation}
    if converted.weight_storage:
        entry["weight_storage"] = converted.weight_storage
    entry.update(converted.details)
    return entry
