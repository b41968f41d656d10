"""ExecuTorch fp16: vit_nano exported with fp16 weights and activations runs in the real ExecuTorch runtime,
in one XNNPACK subgraph, behind fp32 input and output, and matches PyTorch fp32 within the fp16 tolerance.

One .pte of the Fashion-MNIST-trained fixture (real logits: a random ViT's are ~0) is written per module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vitsdk.converters.targets import TOLERANCE
from vitsdk.errors import UserError
from vitsdk.models import load_model

TRAINED = Path(__file__).parent / "fixtures" / "fpga" / "vit_nano_fmnist.safetensors"
CAST = "dim_order_ops__to_dim_order_copy_default"


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    from vitsdk.data import load_dataset

    c = load_model(TRAINED).config
    return load_dataset("fashion-mnist", "test").subset(32, seed=1).to_tensor(c.img_size, c.in_chans, c.mean, c.std)


@pytest.fixture(scope="module")
def fp16(tmp_path_factory, inputs):
    """(model, ConvertedFile, path) of the dense trained vit_nano exported as fp16."""
    from vitsdk.converters.executorch import to_pte

    model = load_model(TRAINED).eval()
    path = tmp_path_factory.mktemp("fp16") / "nano-fp16.pte"
    return model, to_pte(model, (inputs[:1],), path, "fp16"), path


@pytest.mark.slow
def test_fp16_pte_matches_pytorch_fp32_in_the_executorch_runtime(fp16, inputs):
    """Fed float32 like the fp32 file; its error is fp16's: within TOLERANCE['fp16'] (measured 1.5e-3 on 64
    inputs), yet far above fp32's (7e-7), so the file does compute in half precision."""
    from vitsdk.bench.runtimes import load

    model, _, path = fp16
    loaded = load("executorch", path, threads=1)
    outputs = np.concatenate([loaded.predict(x[None].numpy()) for x in inputs])
    with torch.no_grad():
        reference = model(inputs).numpy()
    assert outputs.dtype == np.float32 and outputs.shape == reference.shape
    rel = np.abs(outputs - reference).max() / np.abs(reference).max()
    assert 1e-5 < rel <= TOLERANCE["fp16"]
    assert (outputs.argmax(-1) == reference.argmax(-1)).mean() >= 0.95


@pytest.mark.slow
def test_fp16_pte_is_one_xnnpack_call_between_two_casts(fp16):
    """Every linear layer (and attention, LayerNorm, GELU) runs inside XNNPACK: the program's only portable
    kernels are the input's fp32->fp16 cast and the output's fp16->fp32 cast, and it keeps fp32 I/O."""
    from executorch.exir._serialize._program import deserialize_pte_binary
    from executorch.exir.schema import ScalarType

    _, info, path = fp16
    assert info.precision == "fp16" and info.delegate == "xnnpack"
    assert info.delegation["subgraphs"] == 1
    assert info.delegation["non_delegated_ops"] == {CAST: 2}
    plan = deserialize_pte_binary(path.read_bytes()).program.execution_plan[0]
    calls = [type(i.instr_args).__name__ for chain in plan.chains for i in chain.instructions]
    assert calls == ["KernelCall", "DelegateCall", "KernelCall"]
    assert [d.id for d in plan.delegates] == ["XnnpackBackend"]
    assert {op.name for op in plan.operators} == {"dim_order_ops::_to_dim_order_copy"}
    assert [plan.values[i].val.scalar_type for i in (*plan.inputs, *plan.outputs)] == [ScalarType.FLOAT] * 2


@pytest.mark.slow
def test_fp16_pte_stores_half_the_weight_bytes(fp16, inputs, tmp_path):
    """fp16 weights: the file is well under the fp32 file (185 KB vs 119 KB for vit_nano; the rest is the
    program and XNNPACK's graph, which do not shrink)."""
    from vitsdk.converters.executorch import to_pte

    model, info, _ = fp16
    fp32 = to_pte(model, (inputs[:1],), tmp_path / "nano-fp32.pte", "fp32")
    assert info.size_bytes < 0.7 * fp32.size_bytes


@pytest.mark.parametrize("precision,hint", [("fp61", "did you mean 'fp16'"), ("int8-full", "choose from: fp32, fp16")])
def test_unsupported_executorch_precision_is_refused_with_a_suggestion(tmp_path, precision, hint):
    from vitsdk.converters.executorch import to_pte

    with pytest.raises(UserError, match=f"precision '{precision}' is not supported by target 'executorch'.*{hint}"):
        to_pte(load_model(TRAINED), (torch.zeros(1, 1, 28, 28),), tmp_path / "x.pte", precision)
    assert not (tmp_path / "x.pte").exists()
