"""Block-pruned weights stored block-sparse in the .tflite flatbuffer (SparsityParameters + DENSIFY): the file
shrinks with the ratio, and ai-edge-litert (XNNPACK) still computes what PyTorch computes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vitsdk.models import create_model
from vitsdk.sparsity import BlockPruneConfig, compact, prune_


@pytest.fixture(scope="module")
def models():
    """vit_nano with random weights pruned 16x16 columns at ratio 0.5 ('remove': zeros kept in dense
    weights, as multi-strip layers export), and its fp32 .tflite buffer, converted once (the slow step)."""
    from vitsdk.converters.litert import convert_float

    torch.manual_seed(0)
    model = create_model("vit_nano_patch4_28").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    x = torch.randn(1, 1, 28, 28)
    pruned = compact(model, "remove")
    with torch.no_grad():
        return pruned, x, model(x).numpy(), convert_float(pruned, (x,))


@pytest.mark.slow
def test_pruned_tflite_is_smaller_and_matches_pytorch(models, tmp_path):
    """Against the same model stored dense (what the exporter wrote before, zeros included)."""
    from vitsdk.converters.litert import to_tflite, tflite_ops
    from vitsdk.bench.runtimes import load

    pruned, x, reference, float_model = models
    plain = to_tflite(pruned, (x,), tmp_path / "dense.tflite", float_model=float_model, weight_storage="dense")
    info = to_tflite(pruned, (x,), tmp_path / "pruned.tflite", float_model=float_model)
    assert plain.weight_storage["storage"] == "dense"
    assert info.weight_storage["storage"] == "block-sparse"
    with_zeros = sum(int((m.weight == 0).any()) for m in pruned.modules() if isinstance(m, torch.nn.Linear))
    assert with_zeros >= 8 and info.weight_storage["sparse_tensors"] == with_zeros  # every pruned layer
    # The pruned values leave the file (less the indices of the kept pieces); embeddings, biases and the
    # head stay dense. (benchmarks/pruning.py has the whole-file ratios of DeiT-S and vit_micro.)
    zeros = sum(int((m.weight == 0).sum()) for m in pruned.modules() if isinstance(m, torch.nn.Linear))
    assert plain.size_bytes - info.size_bytes > 0.6 * 4 * zeros
    assert abs(info.weight_storage["dense_equivalent_bytes"] - plain.size_bytes) < 0.05 * plain.size_bytes
    assert tflite_ops(tmp_path / "pruned.tflite").get("DENSIFY") == with_zeros
    out = load("litert", tmp_path / "pruned.tflite").predict(x.numpy())
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_fp16_sparse_and_int8_dense(models, tmp_path):
    """fp16 weights are densified and then dequantized inside XNNPACK; int8 weights stay dense (XNNPACK
    cannot take them from DENSIFY) and the record says so."""
    from vitsdk.converters.litert import to_tflite
    from vitsdk.bench.runtimes import load

    pruned, x, _, float_model = models
    zeros = sum(int((m.weight == 0).sum()) for m in pruned.modules() if isinstance(m, torch.nn.Linear))
    dense16 = to_tflite(pruned, (x,), tmp_path / "d16.tflite", "fp16", float_model=float_model, weight_storage="dense")
    sparse16 = to_tflite(pruned, (x,), tmp_path / "s16.tflite", "fp16", float_model=float_model)
    assert sparse16.weight_storage["storage"] == "block-sparse"
    # most of the pruned fp16 bytes leave the file (the rest: indices of (1 x 1) pieces where removal
    # broke the strips, and alignment)
    assert dense16.size_bytes - sparse16.size_bytes > 0.45 * 2 * zeros
    out = load("litert", tmp_path / "s16.tflite").predict(x.numpy())
    np.testing.assert_allclose(out, load("litert", tmp_path / "d16.tflite").predict(x.numpy()), rtol=1e-5, atol=1e-5)
    int8 = to_tflite(pruned, (x,), tmp_path / "i8.tflite", "int8-dynamic", float_model=float_model,
                     weight_storage="sparse")
    assert int8.weight_storage["storage"] == "dense" and "int8" in int8.weight_storage["note"]
    assert np.isfinite(load("litert", tmp_path / "i8.tflite").predict(x.numpy())).all()


def test_no_pruned_layers_is_a_plain_file_with_a_note():
    """Sparse storage asked for a model with no zero blocks: the buffer is returned untouched, with one note."""
    from vitsdk.converters.litert import store_weights
    from vitsdk.converters.tflite_sparse import sparsify

    buffer = _tiny_fc_model(np.random.RandomState(0).randn(8, 16).astype(np.float32))
    out, record = store_weights(buffer, "fp32", "sparse")
    assert out is buffer and record["storage"] == "dense" and "no pruned layers" in record["note"]
    assert sparsify(buffer)[1]["tensors"] == 0


def test_layout_choice_follows_the_zeros():
    """Column-pruned strips are stored as (rows x 1) pieces, row-pruned chunks as (1 x cols) pieces, and
    the stored bytes count only the kept pieces plus their indices."""
    from vitsdk.converters.tflite_sparse import best_layout

    rng = np.random.RandomState(0)
    w = rng.randn(64, 64).astype(np.float32)
    columns = w.copy()
    for strip in range(2):  # 32x32 blocks, half of each block's columns pruned
        for chunk in range(2):
            columns[strip * 32:(strip + 1) * 32, chunk * 32 + rng.permutation(32)[:16]] = 0
    layout = best_layout(columns)
    assert layout.block == (32, 1) and layout.kept == 64 and layout.total == 128
    assert layout.stored_bytes == 64 * 32 * 4 + 3 * 1 + 64 * 1
    rows = columns.T.copy()
    assert best_layout(rows).block == (1, 32)
    assert best_layout(w).stored_bytes == w.nbytes  # nothing pruned: dense is best


def _tiny_fc_model(weight: np.ndarray) -> bytes:
    """A one-FULLY_CONNECTED .tflite through litert-torch (the real converter)."""
    from vitsdk.converters.litert import _import_litert_torch

    litert_torch = _import_litert_torch()
    linear = torch.nn.Linear(weight.shape[1], weight.shape[0]).eval()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        litert_torch.convert(linear, (torch.randn(1, weight.shape[1]),)).export(str(Path(folder) / "m.tflite"))
        return (Path(folder) / "m.tflite").read_bytes()


@pytest.mark.slow
def test_coreml_stores_a_pruned_model_sparse_by_default(models, tmp_path):
    """Core ML's default compression ('auto') is 'sparse' for a pruned model: its zeros stay out of the weights."""
    from vitsdk.converters.common import pruned_fraction
    from vitsdk.converters.coreml import to_mlpackage

    pruned, x, _, _ = models
    info = to_mlpackage(pruned, (x,), tmp_path / "pruned.mlpackage")
    assert info.details["coreml"]["compression"] == "sparse" and pruned_fraction(pruned) > 0.3
    assert pruned_fraction(create_model("vit_nano_patch4_28")) == 0.0  # a dense model stays 'none'
