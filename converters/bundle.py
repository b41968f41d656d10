"""`export(model, target=...) -> Bundle`: every file a target needs, verified, described by one manifest.

A bundle is a folder:
    manifest.json                 vitsdk.manifest/1 (schemas/manifest.schema.json): model config, sparsity,
                                  input spec + preprocessing, and per file its format, runtime, precision,
                                  delegate, size, sha256, MACs, exporter versions and verification figures
    <target>-<precision>.<ext>    the model files (names are for people; metadata lives in the manifest)
    reference/inputs.npy          preprocessed reference inputs (N, C, H, W) float32
    reference/outputs.npy         PyTorch's outputs on them (N, classes) float32
    reference/<file>.outputs.npy  each executed file's own outputs, for on-device comparison

The whole folder is built under a temporary name and renamed into place at the end, so a failed or
interrupted export leaves nothing that looks like a bundle. The steps live in their own modules: options
(`options`), reference inputs and parity (`reference`), one converter and check per backend (`registry`,
`executorch`, `litert`, `coreml`, `fpga`, `verify`), the manifest document (`describe`).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vitsdk.atomic import atomic_path
from vitsdk.converters.common import size_of
from vitsdk.converters.describe import build_manifest
from vitsdk.converters.options import ExportOptions
from vitsdk.converters.quiet import quiet
from vitsdk.converters.reference import load_images, reference_inputs, top1
from vitsdk.converters.registry import ConvertContext, converter_for, manifest_entry
from vitsdk.converters.targets import plan
from vitsdk.converters.verify import ReferenceSet, file_accuracy
from vitsdk.errors import UserError
from vitsdk.formats.manifest import MANIFEST_FILE, REFERENCE_DIR, Bundle, write_manifest
from vitsdk.hashing import path_sha256
from vitsdk.resolve import resolve

__all__ = ["Bundle", "ExportOptions", "export"]


Log = Callable[[str], None]


def export(model: nn.Module | str | os.PathLike, target: str = "android", output: str | os.PathLike = "bundle",
           precision: str | Sequence[str] | None = None, *, options: ExportOptions | None = None,
           calibration: torch.Tensor | None = None, keep_rate: float | None = None, img_size: int | None = None,
           attn_keep: float | None = None, log: Log | None = None, **option_values: Any) -> Bundle:
    """Exports `model` (a module, registry name, checkpoint, run folder or pruned artifact) to a bundle.

    Args:
        model: what to export.
        target: target or platform name (`vitsdk.converters.targets.TARGETS`).
        output: the bundle folder to create.
        precision: one precision, a comma list or a sequence; None exports each target's default.
        options: an `ExportOptions`; or give its fields as keywords (`calib_data="fashion-mnist"`, ...).
        calibration: preprocessed calibration inputs (N, C, H, W); overrides `options.calib_data`.
        keep_rate, img_size, attn_keep: model overrides when `model` is a name, checkpoint or artifact.
        log: called with one line per step (the CLI prints them); None is silent.
    Returns:
        the `Bundle` written.
    """
    if options is None:
        options = ExportOptions(target=target, precisions=precision, **option_values)
    elif option_values or precision is not None:
        raise UserError("give either options=ExportOptions(...) or keyword options, not both")
    log = log or (lambda line: None)
    output = Path(output)
    pairs = plan(options.target, list(options.precisions) if options.precisions else None)
    check_output(output, options.force)
    needs_calibration = [f"{t.name} {p}" for t, p in pairs if t.needs_calibration(p)]
    if needs_calibration and calibration is None and options.calib_data is None:
        raise UserError(f"{', '.join(needs_calibration)} needs calibration data to set activation ranges: "
                        f"pass --calib-data (e.g. fashion-mnist, an image folder or an .npz)")
    overrides = {k: v for k, v in (("keep_rate", keep_rate), ("img_size", img_size), ("attn_keep", attn_keep))
                 if v is not None}

    start = time.perf_counter()
    module, source = resolve(model, **overrides)
    if not hasattr(module, "config"):
        raise UserError("export needs a vitsdk VisionTransformer (a model with a ViTConfig `config`)")
    config = module.config
    from vitsdk.models import count

    accounting = count(module)
    log(f"model {config.name}: {accounting.params / 1e6:.3f} M params, {accounting.macs / 1e6:.1f} M MACs, "
        f"keep_rate {config.keep_rate}, input {options.batch}x{config.in_chans}x{config.img_size}x{config.img_size}")

    # the fpga member calibrates too (on default images when none are given), so given ones always load
    if calibration is None and (needs_calibration or options.calib_data is not None):
        calibration, _, calib_text = load_images(options.calib_data, "train", options.calib_samples, config,
                                                 options.seed)
        log(f"calibration: {calib_text}")
    ref_x, ref_labels, ref_text = reference_inputs(config, options)
    ref_x = ref_x[:len(ref_x) - len(ref_x) % options.batch] if len(ref_x) >= options.batch else ref_x
    if len(ref_x) < options.batch:
        raise UserError(f"reference-samples ({len(ref_x)}) must be at least the batch size ({options.batch})")
    with torch.no_grad():
        ref_y = module(ref_x).numpy()
    example = (ref_x[:options.batch].contiguous(),)

    accuracy_set = None
    if options.accuracy_data:
        acc_x, acc_labels, acc_text = load_images(options.accuracy_data, "test", options.accuracy_samples, config,
                                                  options.seed)
        acc_x = acc_x[:len(acc_x) - len(acc_x) % options.batch]
        acc_labels = acc_labels[:len(acc_x)]
        with torch.no_grad():
            acc_ref = torch.cat([module(b) for b in acc_x.split(256)]).numpy()
        accuracy_set = (acc_x, acc_labels, acc_text, acc_ref)
        log(f"accuracy set: {acc_text}; PyTorch top-1 {top1(acc_ref, acc_labels):.4f}")

    files: list[dict[str, Any]] = []
    with atomic_path(output, is_dir=True) as staging:
        (staging / REFERENCE_DIR).mkdir()
        np.save(staging / REFERENCE_DIR / "inputs.npy", ref_x.numpy().astype(np.float32))
        np.save(staging / REFERENCE_DIR / "outputs.npy", ref_y.astype(np.float32))
        if ref_labels is not None:
            np.save(staging / REFERENCE_DIR / "labels.npy", np.asarray(ref_labels, dtype=np.int64))
        context = ConvertContext(calibration=calibration, options=options, reference=ref_x)
        reference = ReferenceSet(module, ref_x, ref_y, options, staging)
        for t, p in pairs:
            name = f"{t.name}-{p}{t.suffix}"
            path = staging / name
            step = time.perf_counter()
            backend = converter_for(t)
            with quiet():
                converted = backend.convert(module, example, path, p, context)
            entry = manifest_entry(t, name, replace(converted, export_s=round(time.perf_counter() - step, 3)),
                                   size_of(path), path_sha256(path), accounting.macs)
            entry["verification"] = backend.verify(t, p, path, reference)
            if accuracy_set is not None and t.executable_here:
                entry["accuracy"] = file_accuracy(t, path, accuracy_set, options.batch)
            files.append(entry)
            log(step_line(entry))
        manifest = build_manifest(module, source, accounting, options, files, ref_text, ref_labels is not None,
                                  example[0].shape, ref_y.shape[-1], accuracy_set)
        manifest_sha256 = write_manifest(staging, manifest)
    log(f"bundle {output} written in {time.perf_counter() - start:.1f} s")
    return Bundle.from_document(output, manifest, manifest_sha256, str(output / MANIFEST_FILE))


def check_output(output: Path, force: bool) -> None:
    """Refuses to overwrite without --force, and never replaces something that is not a bundle."""
    if not output.exists():
        return
    if not force:
        raise UserError(f"output '{output}' already exists; pass --force to replace it")
    if output.is_file() or (any(output.iterdir()) and not (output / MANIFEST_FILE).is_file()):
        raise UserError(f"output '{output}' exists and is not a vitsdk bundle; refusing to replace it even "
                        f"with --force (choose another -o)")


def step_line(entry: dict[str, Any]) -> str:
    v = entry["verification"]
    if v.get("executed"):
        check = f"parity {v['rel_diff']:.2e} (tol {v['tolerance']:g}) {v['status']}"
    else:
        check = "validated, not executed (Core ML needs macOS)"
    coverage = entry.get("delegation") or {}
    extra = f", XNNPACK coverage {coverage['coverage']:.0%}" if "coverage" in coverage else ""
    acc = f", top-1 {entry['accuracy']['top1']:.4f}" if entry.get("accuracy") else ""
    return (f"{entry['target']:<10} {entry['precision']:<12} {entry['path']:<28} "
            f"{entry['size_bytes'] / 2**20:6.2f} MiB {entry['export_s']:6.1f} s  {check}{extra}{acc}")
