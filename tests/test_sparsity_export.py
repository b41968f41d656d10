"""A compacted pruned model exports to .pte (ExecuTorch + XNNPACK), .tflite (LiteRT) and .mlpackage (Core ML;
converted and validated only: prediction needs macOS); the first two run in the
real runtimes with the masked model's outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vitsdk.models import create_model
from vitsdk.sparsity import BlockPruneConfig, ColumnBlockLinear, RowBlockLinear, compact, prune_


@pytest.fixture(scope="module")
def pruned():
    """Every compact module kind in one model: strip-gathered columns with a batched matmul (MLP, 16x16),
    one gather + linear (proj, full-height blocks), rows summed into place (qkv, 8x16 rows); token keep 0.7."""
    torch.manual_seed(0)
    model = create_model("vit_nano_patch4_28", keep_rate=0.7).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5, layers=("mlp",)))
    prune_(model, BlockPruneConfig(block_shape=(0, 8), ratio=0.5, layers=("proj",)))
    prune_(model, BlockPruneConfig(block_shape=(8, 16), ratio=0.5, direction="rows", layers=("qkv",)))
    compacted = compact(model, "gather")
    kinds = {type(m).__name__ for m in compacted.modules()}
    assert {"ColumnBlockLinear", "RowBlockLinear"} <= kinds
    assert any(isinstance(m, ColumnBlockLinear) and m.groups == 1 for m in compacted.modules())
    assert any(isinstance(m, RowBlockLinear) for m in compacted.modules())
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        return compacted, x, model(x).numpy()


@pytest.mark.slow
def test_pte_runs_in_executorch(pruned, tmp_path):
    from vitsdk.converters.executorch import to_pte
    from vitsdk.bench.runtimes import load

    compacted, x, reference = pruned
    info = to_pte(compacted, (x,), tmp_path / "pruned.pte")
    assert info.delegation["coverage"] > 0.6  # the matmuls run in XNNPACK; index_select stays portable
    out = load("executorch", tmp_path / "pruned.pte").predict(x.numpy())
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_tflite_runs_in_litert(pruned, tmp_path):
    from vitsdk.converters.litert import to_tflite
    from vitsdk.bench.runtimes import load

    compacted, x, reference = pruned
    to_tflite(compacted, (x,), tmp_path / "pruned.tflite")
    out = load("litert", tmp_path / "pruned.tflite").predict(x.numpy())
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_mlpackage_converts(pruned, tmp_path):
    """Core ML prediction needs macOS: here the compact ops (index_select, bmm) must convert to an ML program
    whose input and output shapes check out."""
    from vitsdk.converters.coreml import to_mlpackage, validate_mlpackage

    compacted, x, reference = pruned
    to_mlpackage(compacted, (x,), tmp_path / "pruned.mlpackage", precision="fp32")
    checked = validate_mlpackage(tmp_path / "pruned.mlpackage", tuple(x.shape), tuple(reference.shape))
    assert checked["status"] == "validated" and checked["ops"].get("matmul", 0) + checked["ops"].get("linear", 0) > 0
