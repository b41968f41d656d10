"""Fine-tuning after pruning: the group-lasso penalty, the gradual ramp, masks held through training."""
from __future__ import annotations

import pytest
import torch

from vitsdk.errors import UserError
from vitsdk.models import create_model
from vitsdk.sparsity import BlockPruneConfig, masked_layers
from vitsdk.sparsity.finetune import FinetuneSettings, GradualPruner, GroupLasso, finetune_pruned


def test_group_lasso_penalises_pieces_and_pushes_small_ones_harder():
    model = create_model("vit_nano_patch4_28")
    config = BlockPruneConfig(block_shape=(16, 16), layers=("blocks.0.mlp.fc1",), lasso_strength=1.0)
    fc1 = model.blocks[0].mlp.fc1
    with torch.no_grad():
        fc1.weight[:, 0] *= 0.01  # one weak column in every 16-row strip
    penalty = GroupLasso(model, config)
    value = penalty(model)
    assert value.ndim == 0 and value.item() > 0
    value.backward()
    grad = fc1.weight.grad
    weak = grad[:, 0].abs().mean() / fc1.weight[:, 0].abs().mean()
    strong = grad[:, 1].abs().mean() / fc1.weight[:, 1].abs().mean()
    assert weak > 10 * strong  # reweighting: relative push on small pieces is much larger


def test_gradual_ramp_reaches_the_target_monotonically():
    model = create_model("vit_nano_patch4_28")
    config = BlockPruneConfig(block_shape=(16, 16), ratio=0.75, schedule="gradual", prune_steps=4, gradual_fraction=0.5)
    pruner = GradualPruner(config, total_steps=40)
    kept = []
    for _ in range(40):
        pruner(model)
        fc1 = model.blocks[1].mlp.fc1
        kept.append(fc1.block_mask.kept_per_block if hasattr(fc1, "block_mask") else 16)
    assert kept == sorted(kept, reverse=True) and kept[-1] == 4 and kept[19] == 4 and kept[4] > 4
    assert pruner.fraction(4) == 1.0


def test_finetune_group_lasso_gradual_keeps_masks(tmp_path):
    """Real Fashion-MNIST, 256 images: 1 epoch of group lasso, then 1 epoch of gradual pruning."""
    torch.manual_seed(0)
    model = create_model("vit_nano_patch4_28")
    config = BlockPruneConfig(block_shape=(8, 8), ratio=0.5, criterion="group_lasso", schedule="gradual")
    summary = finetune_pruned(model, config, FinetuneSettings(epochs=2, train_examples=256, eval_examples=128,
                                                              batch_size=64), out_dir=tmp_path, progress=False)
    assert summary["top1_after"] is not None and (tmp_path / "lasso" / "train_state.pt").exists()
    layers = masked_layers(model)
    assert len(layers) == 16
    for module in layers.values():
        assert module.block_mask.kept_fraction == 0.5
        assert (module.weight[~module.block_mask.dense()] == 0).all()
    with pytest.raises(UserError, match="finetune-epochs >= 2"):
        finetune_pruned(create_model("vit_nano_patch4_28"), config, FinetuneSettings(epochs=1, train_examples=256))
