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
interrupted export leaves nothing that looks like a bundle.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vitsdk.atomic import atomic_path
from vitsdk.hashing import file_sha256
from vitsdk.formats.manifest import MANIFEST, MANIFEST_FILE, REFERENCE_DIR
from vitsdk.formats.schema import load_schema
from vitsdk.converters.common import package_version
from vitsdk.converters.targets import (NEEDS_CALIBRATION, QUANTIZED, RELATIVE_BOUND_PRECISIONS, TOLERANCE, Target,
                                      plan)
from vitsdk.errors import UserError

PREPROCESSING = ("uint8 image -> float / 255 -> resize to img_size x img_size (bilinear) -> channels "
                 "(grey repeated to RGB, RGB averaged to grey) -> (x - mean) / std per channel; layout NCHW")
EXPORTER_PACKAGES = ("torch", "executorch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert", "coremltools")


@dataclass
class ExportOptions:
    """Everything `export` needs besides the model.

    Args:
        target: a target or platform name from `vitsdk.converters.targets.TARGETS`.
        precisions: precisions to export (each file target gets those it supports); None: the defaults.
        calib_data: dataset for int8 calibration ('fashion-mnist', an image folder or an .npz).
        calib_samples: calibration images drawn from its train split.
        reference_samples: reference inputs stored in the bundle and used for verification.
        reference_data: where the reference inputs come from (a dataset spec; None: Fashion-MNIST when
            installed and the model takes 28x28-compatible input, else seeded Gaussian noise).
        accuracy_data: dataset whose test split measures top-1 of PyTorch and every executed file.
        accuracy_samples: test images for that accuracy.
        allow_mismatch: keep quantized files (fp16, int8-dynamic, int8) whose parity exceeds tolerance;
            their accuracy is the figure to trust. fp32 files must always match.
        tolerances: per-precision overrides of `TOLERANCE` (max |diff| / max |ref|).
        force: replace an existing bundle at the output path.
        coreml_target: Core ML minimum deployment target ('iOS17', ...).
        coreml_compression: 'auto' (sparse for a pruned model), 'none', 'sparse' or 'palettized'.
        batch: the static batch size of the exported graphs.
        seed: seed for sampling calibration/reference images.
    """

    target: str = "android"
    precisions: tuple[str, ...] | None = None
    calib_data: str | None = None
    calib_samples: int = 128
    reference_samples: int = 8
    reference_data: str | None = None
    accuracy_data: str | None = None
    accuracy_samples: int = 1000
    allow_mismatch: bool = False
    tolerances: dict[str, float] = field(default_factory=dict)
    force: bool = False
    coreml_target: str = "iOS17"
    coreml_compression: str = "auto"
    batch: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.precisions, str):
            self.precisions = tuple(p.strip() for p in self.precisions.split(",") if p.strip())
        elif self.precisions is not None:
            self.precisions = tuple(self.precisions)
        for name in ("calib_samples", "reference_samples", "accuracy_samples", "batch"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        for precision, tol in self.tolerances.items():
            if precision not in TOLERANCE or not tol > 0:
                raise UserError(f"tolerance for '{precision}' must be a positive number for a known precision")
        from vitsdk.converters.coreml import COMPRESSIONS

        if self.coreml_compression not in COMPRESSIONS:
            from vitsdk.errors import unknown

            raise unknown("Core ML compression", self.coreml_compression, COMPRESSIONS)

    def tolerance(self, precision: str) -> float:
        return float(self.tolerances.get(precision, TOLERANCE[precision]))


@dataclass
class Bundle:
    """An exported bundle on disk: its folder and parsed manifest."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Bundle":
        path = Path(path)
        try:
            manifest = json.loads((path / MANIFEST_FILE).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"'{path}' is not a bundle (cannot read {MANIFEST_FILE}: {exc})") from None
        MANIFEST.check_tag(manifest, str(path / MANIFEST_FILE))
        return cls(path, manifest)

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.manifest["files"]

    def file(self, target: str, precision: str) -> dict[str, Any]:
        for entry in self.files:
            if entry["target"] == target and entry["precision"] == precision:
                return entry
        raise UserError(f"bundle '{self.path}' has no {target} {precision} file")

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        ref = self.manifest["reference"]
        return np.load(self.path / ref["inputs"]), np.load(self.path / ref["outputs"])


# --- small helpers ---------------------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a folder (an .mlpackage) as the sorted relative paths and contents."""
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(item.read_bytes()).digest())
        return digest.hexdigest()
    return file_sha256(path)


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silences the exporters' C++ logging (fd 2) and Python warnings, unless VITSDK_VERBOSE is set."""
    if os.environ.get("VITSDK_VERBOSE"):
        yield
        return
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_images(spec: str, split: str, count: int, config, seed: int) -> tuple[torch.Tensor, np.ndarray, str]:
    """(inputs preprocessed for `config`, labels, description) of `count` images of a dataset split."""
    from vitsdk.data import load_dataset

    data = load_dataset(spec, split).subset(count, seed=seed)
    x = data.to_tensor(config.img_size, config.in_chans, config.mean, config.std)
    return x, data.labels, f"{spec} {split}, {len(x)} images (seed {seed})"


def reference_inputs(config, options: ExportOptions) -> tuple[torch.Tensor, np.ndarray | None, str]:
    """Real images when available (Fashion-MNIST for 1-channel models by default), else seeded noise."""
    spec = options.reference_data
    if spec is None:
        from vitsdk.data import find_fashion_mnist

        if config.in_chans == 1 and find_fashion_mnist(required=False):
            spec = "fashion-mnist"
    if spec is not None:
        x, labels, text = load_images(spec, "test", options.reference_samples, config, options.seed)
        return x, labels, text
    generator = torch.Generator().manual_seed(options.seed)
    x = torch.randn(options.reference_samples, config.in_chans, config.img_size, config.img_size, generator=generator)
    return x, None, f"Gaussian noise N(0, 1), {options.reference_samples} inputs (seed {options.seed})"


def batches(x: torch.Tensor, batch: int) -> list[torch.Tensor]:
    usable = len(x) - len(x) % batch
    return [x[i:i + batch] for i in range(0, usable, batch)]


def run_file(runner, x: torch.Tensor, batch: int) -> np.ndarray:
    return np.concatenate([runner.run(b.numpy()) for b in batches(x, batch)])


def parity(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """max |diff| relative to max |ref| (the figure checked against the tolerance) and top-1 agreement."""
    max_diff = float(np.abs(outputs - reference).max())
    max_ref = float(np.abs(reference).max())
    return {"max_abs_diff": max_diff, "max_abs_ref": max_ref, "rel_diff": max_diff / max(max_ref, 1e-12),
            "top1_agreement": float((outputs.argmax(-1) == reference.argmax(-1)).mean())}


def fp16_emulation(model: nn.Module, x: torch.Tensor, reference: np.ndarray) -> dict[str, Any]:
    """Estimated fp16-compute error: the model run in float16 by PyTorch on CPU (not Core ML itself)."""
    import copy

    try:
        half = copy.deepcopy(model).half().eval()
        with torch.no_grad():
            out = half(x.half()).float().numpy()
    except Exception as exc:  # an op without a CPU float16 kernel
        return {"method": "estimated: PyTorch float16 on CPU", "error": str(exc).splitlines()[0][:160]}
    finite = bool(np.isfinite(out).all())
    figures = parity(out, reference) if finite else {}
    return {"method": "estimated: PyTorch float16 on CPU", "finite": finite, **figures}


def top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(-1) == labels).mean())


@dataclass
class ModelSource:
    """Where the model came from, for the manifest."""

    kind: str  # registry | checkpoint | run | pruned | module
    spec: str | None = None
    sha256: str | None = None
    sparsity: dict[str, Any] | None = None  # sparsity.json of a pruned artifact

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "spec": self.spec, "sha256": self.sha256}


def resolve(model: nn.Module | str | os.PathLike, overrides: dict[str, Any]) -> tuple[nn.Module, ModelSource]:
    """The model to export and where it came from (registry name, checkpoint, run folder, pruned artifact)."""
    if isinstance(model, nn.Module):
        if overrides:
            raise UserError("keep_rate / img_size / attn_keep overrides apply to a model name or checkpoint, not to a "
                            "model object: build the model with them instead")
        return model.eval(), ModelSource("module")
    from vitsdk.models import resolve_model
    from vitsdk.models.checkpoint import MODEL_FILE

    spec = str(model)
    path = Path(spec)
    module = resolve_model(spec, **overrides).eval()
    if path.is_dir() and (path / "sparsity.json").is_file():
        document = json.loads((path / "sparsity.json").read_text())
        return module, ModelSource("pruned", spec, sha256_of(path / MODEL_FILE), document)
    if path.is_dir():
        return module, ModelSource("run", spec, sha256_of(path / MODEL_FILE))
    if path.is_file():
        return module, ModelSource("checkpoint", spec, sha256_of(path))
    return module, ModelSource("registry", spec)


def sparsity_block(model: nn.Module, source: ModelSource) -> dict[str, Any]:
    from vitsdk.models import count

    c = model.config
    block: dict[str, Any] = {"keep_rate": c.keep_rate, "attn_keep": c.attn_keep, "attn_mode": c.attn_mode,
                             "fuse_token": c.fuse_token, "prune_at": list(c.prune_at),
                             "tokens_per_block": [b.tokens_mlp for b in count(model).blocks], "pruning": None}
    if source.sparsity is not None:
        prune = source.sparsity.get("prune", {})
        totals = source.sparsity.get("totals", {})
        block["pruning"] = {"ratio": prune.get("ratio"), "block_shape": prune.get("block_shape"),
                            "direction": prune.get("direction"), "criterion": prune.get("criterion"),
                            "layers": prune.get("layers"), **{k: totals.get(k) for k in
                                                              ("params_dense", "params_stored", "macs_dense",
                                                               "macs_compact", "compaction")}}
    return block


def check_output(output: Path, force: bool) -> None:
    """Refuses to overwrite without --force, and never replaces something that is not a bundle."""
    if not output.exists():
        return
    if not force:
        raise UserError(f"output '{output}' already exists; pass --force to replace it")
    if output.is_file() or (any(output.iterdir()) and not (output / MANIFEST_FILE).is_file()):
        raise UserError(f"output '{output}' exists and is not a vitsdk bundle; refusing to replace it even "
                        f"with --force (choose another -o)")


# --- converters per file target ----------------------------------------------------------------------------

@dataclass
class ConvertContext:
    """What a converter gets besides model, example inputs, path and precision (shared within one export)."""

    calibration: torch.Tensor | None
    options: ExportOptions
    reference: torch.Tensor | None = None  # the bundle's reference inputs (the FPGA C simulation runs them)
    cache: dict[str, Any] = field(default_factory=dict)  # e.g. the fp32 .tflite, converted once


Converter = Callable[[nn.Module, tuple, Path, str, ConvertContext], dict]
CONVERTERS: dict[str, Converter] = {}


def register_converter(target: str) -> Callable[[Converter], Converter]:
    """Registers the function that writes `target`'s file (the FPGA path registers its own)."""
    def add(fn: Converter) -> Converter:
        CONVERTERS[target] = fn
        return fn
    return add


@register_converter("executorch")
def _executorch(module, example, path, precision, context):
    from vitsdk.converters.executorch import to_pte

    return to_pte(module, example, path, precision, calibration=context.calibration)


@register_converter("tflite")
def _tflite(module, example, path, precision, context):
    from vitsdk.converters.litert import convert_float, to_tflite

    if "float_tflite" not in context.cache:
        context.cache["float_tflite"] = convert_float(module, example)
    return to_tflite(module, example, path, precision, calibration=context.calibration,
                     float_model=context.cache["float_tflite"])


@register_converter("coreml")
def _coreml(module, example, path, precision, context):
    from vitsdk.converters.coreml import to_mlpackage

    return to_mlpackage(module, example, path, precision, minimum_deployment_target=context.options.coreml_target,
                        compression=context.options.coreml_compression)


@register_converter("fpga")
def _fpga(module, example, path, precision, context):
    from vitsdk.fpga import to_fpga

    return to_fpga(module, example, path, precision, reference=context.reference)


# --- the export ------------------------------------------------------------------------------------------

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
    needs_calibration = [f"{t.name} {p}" for t, p in pairs if (t.name, p) in NEEDS_CALIBRATION]
    if needs_calibration and calibration is None and options.calib_data is None:
        raise UserError(f"{', '.join(needs_calibration)} needs calibration data to set activation ranges: "
                        f"pass --calib-data (e.g. fashion-mnist, an image folder or an .npz)")
    overrides = {k: v for k, v in (("keep_rate", keep_rate), ("img_size", img_size), ("attn_keep", attn_keep))
                 if v is not None}

    start = time.perf_counter()
    module, source = resolve(model, overrides)
    if not hasattr(module, "config"):
        raise UserError("export needs a vitsdk VisionTransformer (a model with a ViTConfig `config`)")
    config = module.config
    from vitsdk.models import count

    accounting = count(module)
    log(f"model {config.name}: {accounting.params / 1e6:.3f} M params, {accounting.macs / 1e6:.1f} M MACs, "
        f"keep_rate {config.keep_rate}, input {options.batch}x{config.in_chans}x{config.img_size}x{config.img_size}")

    if needs_calibration and calibration is None:
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
        for t, p in pairs:
            name = f"{t.name}-{p}{t.suffix}"
            step = time.perf_counter()
            if t.name not in CONVERTERS:
                raise UserError(t.unavailable or f"target {t.name} has no converter registered")
            with quiet():
                info = CONVERTERS[t.name](module, example, staging / name, p, context)
            info["export_s"] = round(time.perf_counter() - step, 3)
            entry = describe(t, p, name, info, staging, accounting.macs)
            entry["verification"] = verify(t, p, staging / name, module, ref_x, ref_y, options, staging)
            if accuracy_set is not None and t.executable_here:
                entry["accuracy"] = file_accuracy(t, staging / name, accuracy_set, options.batch)
            files.append(entry)
            log(step_line(entry))
        manifest = build_manifest(module, source, accounting, options, files, ref_text, ref_labels is not None,
                                  example[0].shape, ref_y.shape[-1], accuracy_set)
        problems = manifest_errors(manifest)
        if problems:
            raise RuntimeError(f"internal error: the manifest does not match its schema: {problems[0]}")
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"bundle {output} written in {time.perf_counter() - start:.1f} s")
    return Bundle(output, manifest)


def describe(t: Target, precision: str, name: str, info: dict[str, Any], staging: Path, macs: int) -> dict[str, Any]:
    path = staging / name
    entry = {"path": name, "target": t.name, "format": t.format, "runtime": t.runtime, "precision": precision,
             "delegate": info.get("delegate"), "size_bytes": size_of(path), "sha256": sha256_of(path),
             "macs": int(macs), "export_s": info["export_s"], "exporter": info["exporter"],
             "delegation": info.get("delegation")}
    if info.get("weight_storage"):
        entry["weight_storage"] = info["weight_storage"]
    if t.name == "coreml":
        entry["coreml"] = {k: info[k] for k in ("compute_precision", "weights", "compression",
                                                "minimum_deployment_target")}
    if t.name == "fpga":
        entry["fpga"] = info["fpga"]
    return entry


def verify(t: Target, precision: str, path: Path, module: nn.Module, ref_x: torch.Tensor, ref_y: np.ndarray,
           options: ExportOptions, staging: Path) -> dict[str, Any]:
    """Runs the file in its real runtime on the reference inputs and compares with PyTorch; a mismatch
    beyond tolerance fails the export (quantized files may be kept with allow_mismatch). Core ML files,
    which cannot run here, are validated and recorded as not executed."""
    batch = options.batch
    if t.name == "coreml":
        from vitsdk.converters.coreml import validate_mlpackage

        with quiet():
            checks = validate_mlpackage(path, (batch, *ref_x.shape[1:]), (batch, ref_y.shape[-1]))
        if precision != "fp32":
            checks["fp16_compute"] = fp16_emulation(module, ref_x, ref_y)
        return checks
    if t.name == "fpga":
        from vitsdk.fpga.api import CSIM_OUTPUTS

        outputs = np.load(path / CSIM_OUTPUTS)  # the g++ C simulation, bit-exact with the integer reference
        runtime_name = "g++ C simulation of the HLS project"
    else:
        from vitsdk.converters.runtimes import load_runner

        with quiet():
            runner = load_runner(t.runtime, path)
            outputs = run_file(runner, ref_x, batch)
        runtime_name = f"{t.runtime} {runtime_version(t.runtime)}"
    tolerance = options.tolerance(precision)
    figures = parity(outputs, ref_y)
    out_name = f"{REFERENCE_DIR}/{path.name}.outputs.npy"
    np.save(staging / out_name, outputs.astype(np.float32))
    passed = figures["rel_diff"] <= tolerance
    status = "passed" if passed else "mismatch_allowed"
    if not passed and not (options.allow_mismatch and precision in QUANTIZED):
        hint = (" (quantized: pass --allow-mismatch to keep it and judge it by accuracy, or raise the tolerance)"
                if precision in QUANTIZED else " (fp32 must match PyTorch)")
        raise UserError(f"verification failed for {t.name} {precision}: max |diff| / max |ref| = "
                        f"{figures['rel_diff']:.3g} > tolerance {tolerance:g} on {len(ref_x)} reference inputs"
                        f"{hint}; nothing was written")
    return {"status": status, "executed": True, "runtime": runtime_name,
            "inputs": len(ref_x), "metric": "max_abs_diff / max_abs_ref", "tolerance": tolerance,
            **{k: round(v, 9) for k, v in figures.items()}, "outputs": out_name}


def runtime_version(runtime: str) -> str | None:
    return package_version({"executorch": "executorch", "litert": "ai-edge-litert"}[runtime])


def file_accuracy(t: Target, path: Path, accuracy_set, batch: int) -> dict[str, Any]:
    from vitsdk.converters.runtimes import load_runner

    x, labels, text, reference = accuracy_set
    with quiet():
        outputs = run_file(load_runner(t.runtime, path), x, batch)
    return {"dataset": text, "n": int(len(x)), "top1": top1(outputs, labels),
            "top1_pytorch": top1(reference, labels),
            "top1_agreement": float((outputs.argmax(-1) == reference.argmax(-1)).mean())}


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


def build_manifest(module: nn.Module, source: ModelSource, accounting, options: ExportOptions,
                   files: list[dict[str, Any]], ref_text: str, has_labels: bool, input_shape, classes: int,
                   accuracy_set) -> dict[str, Any]:
    from vitsdk import __version__

    c = module.config
    manifest: dict[str, Any] = {
        "schema": MANIFEST.tag,
        "created_by": f"vitsdk {__version__}",
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "target": options.target,
        "model": c.to_dict(),
        "source": source.to_dict(),
        "sparsity": sparsity_block(module, source),
        "accounting": {"params": int(accounting.params), "macs": int(accounting.macs),
                       "convention": accounting.convention},
        "input": {"name": "x", "shape": [int(d) for d in input_shape], "dtype": "float32", "layout": "NCHW",
                  "mean": list(c.mean), "std": list(c.std), "preprocessing": PREPROCESSING},
        "output": {"shape": [int(input_shape[0]), int(classes)], "dtype": "float32", "meaning": "logits"},
        "files": files,
        "reference": {"inputs": f"{REFERENCE_DIR}/inputs.npy", "outputs": f"{REFERENCE_DIR}/outputs.npy",
                      "labels": f"{REFERENCE_DIR}/labels.npy" if has_labels else None,
                      "source": ref_text, "produced_by": "PyTorch (fp32)",
                      "metric": "max_abs_diff / max_abs_ref", "tolerance": options.tolerance("fp32"),
                      "tolerances": {p: options.tolerance(p) for p in RELATIVE_BOUND_PRECISIONS}},
        "exporters": {name: package_version(name) for name in EXPORTER_PACKAGES},
        # what the Android app built from the same schemas/runtime_versions.json runs these files with
        "app_runtimes": {name: load_schema("runtime_versions.json")[name] for name in ("executorch", "litert")},
        "accuracy": None,
    }
    if accuracy_set is not None:
        x, labels, text, reference = accuracy_set
        manifest["accuracy"] = {"dataset": text, "n": int(len(x)), "top1": top1(reference, labels),
                                "produced_by": "PyTorch (fp32)"}
    return manifest


def manifest_errors(manifest: dict[str, Any]) -> list[str]:
    """Schema problems of a manifest, each naming its JSON path (empty when valid)."""
    return MANIFEST.errors(manifest)
