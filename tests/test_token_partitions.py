"""Token dropping on ExecuTorch: the token selection of each pruning block is one contiguous portable segment,
so the .pte has exactly len(prune_at) + 1 XNNPACK subgraphs (the stock partitioner made 5 for vit_nano's
two pruning blocks with a fused token, 7 for vit_micro's three), and it still computes what PyTorch does."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vitsdk.models import create_model


@pytest.mark.slow
def test_fused_token_dropping_is_one_portable_segment_per_pruning_block(tmp_path):
    from vitsdk.converters.executorch import to_pte
    from vitsdk.bench.runtimes import load

    model = create_model("vit_nano_patch4_28", keep_rate=0.7, fuse_token=True).eval()
    x = torch.randn(2, 1, 28, 28)
    info = to_pte(model, (x,), tmp_path / "k07.pte")
    assert info.delegation["subgraphs"] == len(model.config.prune_at) + 1
    # what stays portable is the selection itself (mean, topk, gather), not the transformer's compute
    assert not {"aten_linear_default", "aten_bmm_default", "aten_addmm_default"} & set(info.delegation["non_delegated_ops"])
    with torch.no_grad():
        np.testing.assert_allclose(load("executorch", tmp_path / "k07.pte").predict(x.numpy()), model(x).numpy(),
                                   rtol=1e-4, atol=1e-4)


def test_merge_keeps_subgraphs_acyclic():
    """Two delegated groups joined through a portable node must not merge (the delegate would need its own
    output as input); independent groups do."""
    from vitsdk.converters.executorch import merge_acyclic

    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    a = graph.call_function(torch.relu, (x,))
    portable = graph.call_function(torch.topk, (a, 1))
    b = graph.call_function(torch.sigmoid, (portable,))
    c = graph.call_function(torch.tanh, (x,))
    graph.output((b, c))
    groups = merge_acyclic([{a}, {b}, {c}])
    assert {a, c} in groups and {b} in groups and len(groups) == 2
