"""The manifest document of an export (`vitsdk.manifest/1`): model, sparsity, input spec, files, reference.

Built here from what the export measured; checked and written by `vitsdk.formats.manifest.write_manifest`,
read back by `vitsdk.formats.manifest.Bundle`.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from torch import nn

from vitsdk.bench.runtimes import package_version
from vitsdk.converters.reference import top1
from vitsdk.converters.targets import RELATIVE_BOUND_PRECISIONS
from vitsdk.formats.manifest import MANIFEST, REFERENCE_DIR
from vitsdk.formats.schema import load_schema

if TYPE_CHECKING:
    from vitsdk.converters.options import ExportOptions
    from vitsdk.resolve import ModelSource

PREPROCESSING = ("uint8 image -> float / 255 -> resize to img_size x img_size (bilinear) -> channels "
                 "(grey repeated to RGB, RGB averaged to grey) -> (x - mean) / std per channel; layout NCHW")
EXPORTER_PACKAGES = ("torch", "executorch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert", "coremltools")


def sparsity_block(model: nn.Module, source: ModelSource) -> dict[str, Any]:
    """The manifest's `sparsity`: token pruning from the config, block pruning from the artifact's sparsity.json."""
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
