"""Block pruning: balanced masks, compaction equal to the masked model, the artifact, and bad input."""
from __future__ import annotations

import json

import pytest
import torch

from vitsdk.errors import UserError
from vitsdk.models import count, create_model
from vitsdk.sparsity import (BlockPruneConfig, ColumnBlockLinear, RowBlockLinear, apply_masks_, compact, load_pruned,
                             prune_, read_sparsity, save_pruned, sparsity_report)
from vitsdk.sparsity.artifact import from_blocks, to_blocks
from vitsdk.sparsity.state import block_mask, compaction_of, masked_layers, prune_history

NANO = "vit_nano_patch4_28"


def nano(**overrides):
    """A nano ViT with weights large enough that every layer matters in the comparison."""
    model = create_model(NANO, **overrides).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


@pytest.mark.parametrize("direction", ["columns", "rows"])
@pytest.mark.parametrize("block", [(16, 16), (8, 16), (0, 8), (8, 0)])
def test_mask_is_balanced_per_block(block, direction):
    model = nano()
    masks = prune_(model, BlockPruneConfig(block_shape=block, ratio=0.5, direction=direction))
    assert set(masks) == {f"blocks.{i}.{leaf}" for i in range(4) for leaf in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")}
    for name, mask in masks.items():
        out, inp = mask.shape
        br, bc = mask.block
        dense = mask.dense().reshape(out // br, br, inp // bc, bc)
        pieces = dense.any(dim=1) if direction == "columns" else dense.any(dim=3)  # which pieces survive
        whole = dense.all(dim=1) if direction == "columns" else dense.all(dim=3)
        assert torch.equal(pieces, whole), f"{name}: a piece is partly kept"
        per_block = pieces.sum(dim=2 if direction == "columns" else 1)
        assert (per_block == per_block.flatten()[0]).all(), f"{name}: blocks keep different counts"
        assert per_block.flatten()[0] == (bc if direction == "columns" else br) // 2
        weight = dict(model.named_modules())[name].weight
        assert (weight[~mask.dense()] == 0).all()


def test_l2_keeps_the_largest_pieces():
    model = nano()
    fc1 = model.blocks[0].mlp.fc1  # 64 x 32
    with torch.no_grad():
        fc1.weight.fill_(0.01)
        fc1.weight[:, [3, 20]] = 5.0  # two strong columns
    prune_(model, BlockPruneConfig(block_shape=(0, 16), ratio=15 / 16, layers=("blocks.0.mlp.fc1",)))
    assert block_mask(fc1).kept.flatten().tolist() == [3, 4]  # offsets within the two 16-column chunks


def test_layer_filter_and_per_layer_ratios():
    model = nano()
    config = BlockPruneConfig(block_shape=(16, 16), ratio=0.5, layers=("mlp", "blocks.0.attn.qkv"),
                              layer_ratios={"fc2": 0.25, "blocks.3.*": 0.75})
    masks = prune_(model, config)
    assert "blocks.1.attn.qkv" not in masks and "blocks.0.attn.qkv" in masks
    assert masks["blocks.1.mlp.fc2"].kept_fraction == 0.75
    assert masks["blocks.3.mlp.fc1"].kept_fraction == 0.25
    assert masks["blocks.1.mlp.fc1"].kept_fraction == 0.5
    report = sparsity_report(model)
    assert {row.name for row in report.layers if row.block is None} >= {"blocks.1.attn.qkv", "blocks.2.attn.proj"}


@pytest.mark.parametrize("keep_rate,attn_keep", [(1.0, 1.0), (0.7, 0.5)])
@pytest.mark.parametrize("block,direction", [((16, 16), "columns"), ((8, 8), "rows"), ((0, 8), "columns"),
                                             ((8, 0), "rows"), ((32, 4), "columns")])
def test_compaction_equals_masked_model(block, direction, keep_rate, attn_keep):
    model = nano(keep_rate=keep_rate, attn_keep=attn_keep, attn_mode="gather")
    prune_(model, BlockPruneConfig(block_shape=block, ratio=0.5, direction=direction))
    x = torch.randn(3, 1, 28, 28)
    reference = model(x)
    unpruned_gap = (nano(keep_rate=keep_rate, attn_keep=attn_keep, attn_mode="gather")(x) - reference).abs().max()
    assert unpruned_gap > 1e-2  # the comparison below can tell a pruned model from another one
    macs = count(model).macs
    for mode in ("mask", "remove", "gather", "auto"):
        compacted = compact(model, mode)
        torch.testing.assert_close(compacted(x), reference, rtol=1e-4, atol=1e-4)
        assert count(compacted).macs <= macs
    gathered = compact(model, "gather")
    assert any(isinstance(m, (ColumnBlockLinear, RowBlockLinear)) for m in gathered.modules()) or direction == "rows"
    assert count(gathered).macs < 0.75 * macs


def test_auto_keeps_only_single_gather_layers():
    """'auto' compacts a layer only where it becomes one gather + one dense matmul (full-height blocks);
    many small strips stay a dense matmul with zeros (slower than dense on XNNPACK/LiteRT, see the benchmark)."""
    tall, small = nano(), nano()
    prune_(tall, BlockPruneConfig(block_shape=(0, 8), ratio=0.5))
    prune_(small, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    auto_tall, auto_small = compact(tall, "auto"), compact(small, "auto")
    assert all(isinstance(b.attn.qkv, ColumnBlockLinear) and b.attn.qkv.groups == 1 for b in auto_tall.blocks)
    assert not any(isinstance(m, (ColumnBlockLinear, RowBlockLinear)) for m in auto_small.modules())
    assert count(auto_tall).macs == count(compact(tall, "gather")).macs


def test_whole_heads_and_hidden_units_are_removed_with_bias_folding():
    """Columns of proj for head 0 pruned (head unused); V rows of head 1 of another block pruned (constant head,
    folded into proj's bias); fc1 rows pruned (constant GELU(bias), folded into fc2's bias)."""
    model = nano()
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.bias.normal_(0, 0.5)
            block.mlp.fc1.bias.normal_(0, 0.5)
        model.blocks[0].attn.proj.weight[:, :16] = 0  # head 0 of block 0 (head_dim 16) feeds nothing
        model.blocks[3].attn.qkv.weight[64 + 16:96] = 1e-4  # V of head 1 of block 3 is (almost) its bias
        model.blocks[3].mlp.fc1.weight[:8] = 1e-4
    prune_(model, BlockPruneConfig(block_shape=(0, 32), ratio=0.5, layers=("blocks.0.attn.proj",)))
    prune_(model, BlockPruneConfig(block_shape=(32, 0), ratio=0.5, direction="rows",
                                   layers=("blocks.3.attn.qkv", "blocks.3.mlp.fc1")))
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(compact(model, "gather")(x), model(x), rtol=1e-4, atol=1e-4)
    compacted = compact(model, "remove")
    torch.testing.assert_close(compacted(x), model(x), rtol=1e-4, atol=1e-4)
    assert compacted.blocks[0].attn.num_heads == 1 and compacted.blocks[3].attn.num_heads == 1
    assert compacted.blocks[0].attn.qkv.out_features == 48 and compacted.blocks[0].attn.proj.in_features == 16
    assert compacted.blocks[3].mlp.fc1.out_features < 64 and compacted.blocks[3].mlp.fc2.in_features < 64


def test_uneven_strips_after_removal_are_padded():
    """fc2 stops reading hidden units 0..15, 32..39 and 48..55, so fc1 loses those rows: its 16-row strips
    keep 0, 16, 8 and 8 rows, and the compact layer pads them to 16."""
    model = nano()
    with torch.no_grad():
        small = list(range(16)) + list(range(32, 40)) + list(range(48, 56))
        model.blocks[2].mlp.fc2.weight[:, small] *= 1e-3
    prune_(model, BlockPruneConfig(block_shape=(0, 32), ratio=0.5, layers=("blocks.2.mlp.fc2",)))
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5, layers=("blocks.2.mlp.fc1",)))
    compacted = compact(model, "gather")
    fc1 = compacted.blocks[2].mlp.fc1
    assert isinstance(fc1, ColumnBlockLinear) and fc1.out_features == 32 and fc1.out_index is not None
    assert fc1.weight.shape == (3, 16, 16)  # 3 strips left, 16 rows (padded), 16 kept columns (8 per chunk)
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(compacted(x), model(x), rtol=1e-4, atol=1e-4)


def test_heads_stay_in_token_pruning_blocks():
    """Blocks 1 and 2 choose tokens by head-averaged attention: removing a head there would change the choice."""
    model = nano(keep_rate=0.5)
    with torch.no_grad():
        model.blocks[1].attn.proj.weight[:, :16] = 0
    prune_(model, BlockPruneConfig(block_shape=(0, 32), ratio=0.5, layers=("blocks.1.attn.proj",)))
    compacted = compact(model, "gather")
    assert compacted.blocks[1].attn.num_heads == 2
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(compacted(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("direction", ["columns", "rows"])
def test_blocks_round_trip(direction):
    model = nano()
    masks = prune_(model, BlockPruneConfig(block_shape=(8, 16), ratio=0.5, direction=direction))
    fc2 = model.blocks[2].mlp.fc2
    mask = masks["blocks.2.mlp.fc2"]
    blocks = to_blocks(fc2.weight, mask)
    assert blocks.numel() == fc2.weight.numel() // 2
    assert torch.equal(from_blocks(blocks, mask), fc2.weight)


def test_artifact_round_trip(tmp_path):
    model = nano(keep_rate=0.7)
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    save_pruned(model, tmp_path / "pruned")
    document = read_sparsity(tmp_path / "pruned")
    assert document["schema"] == "vitsdk.sparsity/1" and document["token_sparsity"]["keep_rate"] == 0.7
    assert document["totals"]["params_stored"] < 0.6 * document["totals"]["params_dense"]
    layer = document["layers"][0]
    assert len(layer["kept"]) == layer["shape"][0] // layer["block"][0] and len(layer["kept"][0][0]) == 8
    x = torch.randn(2, 1, 28, 28)
    for mode in ("mask", "remove", "gather", "auto"):
        loaded = load_pruned(tmp_path / "pruned", compaction=mode)
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-4, atol=1e-4)
    masked = load_pruned(tmp_path / "pruned", compaction="mask")
    for name, module in masked.named_modules():
        if block_mask(module) is not None:
            assert torch.equal(block_mask(module).kept, block_mask(dict(model.named_modules())[name]).kept)
    faster = load_pruned(tmp_path / "pruned", keep_rate=0.5)  # keep-rate override at load time
    assert faster.config.keep_rate == 0.5
    from vitsdk.resolve import resolve_model

    resolved = resolve_model(str(tmp_path / "pruned"))  # 'auto': 16-row strips stay dense matmuls
    assert compaction_of(resolved) == "auto"
    torch.testing.assert_close(resolved(x), model(x), rtol=1e-4, atol=1e-4)


def test_pruning_twice_composes_or_refuses(tmp_path):
    model = nano()
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    save_pruned(model, tmp_path / "a")
    again = load_pruned(tmp_path / "a", compaction="mask")
    before = {n: block_mask(m).piece_mask() for n, m in masked_layers(again).items()}
    prune_(again, BlockPruneConfig(block_shape=(16, 16), ratio=0.75))
    for name, module in again.named_modules():
        if block_mask(module) is not None:
            after = block_mask(module).piece_mask()
            assert after.sum() * 2 == before[name].sum() and not (after & ~before[name]).any()
    assert len(prune_history(again)) == 2
    with pytest.raises(UserError, match="would un-prune"):
        prune_(again, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    with pytest.raises(UserError, match="cannot compose"):
        prune_(again, BlockPruneConfig(block_shape=(8, 8), ratio=0.9))
    with pytest.raises(UserError, match="already compacted"):
        prune_(compact(again, "gather"), BlockPruneConfig(block_shape=(16, 16), ratio=0.9))


@pytest.mark.parametrize("kwargs,needle", [
    ({"ratio": 1.0}, "ratio must be in [0, 1)"),
    ({"ratio": -0.1}, "ratio must be in [0, 1)"),
    ({"block_shape": "32by32"}, "is not ROWSxCOLS"),
    ({"block_shape": "fullxfull"}, "at most one may be 'full'"),
    ({"direction": "colums"}, "did you mean 'columns'"),
    ({"layers": ("mpl",)}, "did you mean 'mlp'"),
    ({"layer_ratios": {"fc1": 1.5}}, "layer ratio for 'fc1'"),
    ({"criterion": "l1"}, "not one of l2, group_lasso"),
])
def test_bad_config_is_a_clear_error(kwargs, needle):
    with pytest.raises(UserError) as info:
        BlockPruneConfig(**kwargs)
    assert needle in str(info.value)


def test_block_that_does_not_tile_names_the_layer():
    with pytest.raises(UserError, match=r"does not tile layer blocks\.0\.attn\.qkv \(96 x 32\)"):
        prune_(nano(), BlockPruneConfig(block_shape=(16, 12)))
    model = nano()
    before = model.blocks[0].attn.qkv.weight.clone()
    with pytest.raises(UserError, match=r"blocks\.0\.attn\.proj \(32 x 32\)"):
        prune_(model, BlockPruneConfig(block_shape=(24, 16)))  # fits qkv (96 rows), not proj: nothing changes
    assert torch.equal(model.blocks[0].attn.qkv.weight, before) and block_mask(model.blocks[0].attn.qkv) is None
    with pytest.raises(UserError, match="select no linear layer"):
        prune_(nano(), BlockPruneConfig(layers=("blocks.9.*",)))


@pytest.fixture
def artifact(tmp_path):
    model = nano()
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    return save_pruned(model, tmp_path / "art")


def _rewrite(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_tampered_weights_name_the_layer(artifact):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(artifact / "model.safetensors"))
    tensors["blocks.2.mlp.fc1.weight_blocks"][0, 0, 0, 0] += 1.0
    save_file(tensors, str(artifact / "model.safetensors"))
    with pytest.raises(UserError, match=r"layer blocks\.2\.mlp\.fc1: checksum"):
        load_pruned(artifact)


def test_mismatched_sparsity_json_names_the_layer(artifact):
    def drop_block(doc):
        doc["layers"][5]["kept"][0][0] = doc["layers"][5]["kept"][0][0][:-1]
    _rewrite(artifact / "sparsity.json", drop_block)
    with pytest.raises(UserError, match=r"layer blocks\.1\.attn\.proj: 'kept'"):
        load_pruned(artifact)


def test_sparsity_json_of_another_model_or_version(artifact):
    _rewrite(artifact / "sparsity.json", lambda d: d["model"].update(embed_dim=64, num_heads=2))
    with pytest.raises(UserError, match=r"layer blocks\.0\.attn\.qkv is 96x32 in sparsity.json but 192x64"):
        load_pruned(artifact)
    _rewrite(artifact / "sparsity.json", lambda d: d.update(schema="vitsdk.sparsity/2"))
    with pytest.raises(UserError, match="newer vitsdk"):
        load_pruned(artifact)
    _rewrite(artifact / "sparsity.json", lambda d: d.update(schema="vitsdk.sparsity/1", layers="x"))
    with pytest.raises(UserError, match="/layers: 'x' is not of type 'array'"):
        load_pruned(artifact)
    (artifact / "sparsity.json").write_text('{"schema": "vitsdk.spar')
    with pytest.raises(UserError, match="not valid JSON"):
        load_pruned(artifact)


def test_save_refuses_unpruned_and_compacted_models(tmp_path):
    with pytest.raises(UserError, match="no block masks"):
        save_pruned(nano(), tmp_path / "x")
    model = nano()
    prune_(model, BlockPruneConfig())
    with pytest.raises(UserError, match="masked model"):
        save_pruned(compact(model), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_pruning_state_is_declared_printed_and_absent_from_the_state_dict():
    """The pruning lives in `pruning` children (vitsdk.sparsity.state): print(model) shows it, state dicts keep
    the dense model's keys (timm names, the artifact's bytes), and compaction keeps where each layer came from."""
    model = nano()
    keys = list(model.state_dict())
    attributes = {name: set(vars(module)) for name, module in model.named_modules()}
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5, layers=("fc1",)))
    apply_masks_(model)
    assert {name: set(vars(module)) for name, module in model.named_modules() if name in attributes} == attributes
    text = str(model)
    assert "(pruning): LayerPruning(block=16x16 columns, ratio=0.5, kept=8/16 per block)" in text
    assert "(pruning): ModelPruning(compaction=mask, prune passes=1)" in text
    assert list(model.state_dict()) == keys
    assert sorted(masked_layers(model)) == [f"blocks.{i}.mlp.fc1" for i in range(len(model.blocks))]
    compacted = compact(model, "gather")
    assert compaction_of(compacted) == "gather" and compaction_of(model) == "mask"
    assert "compacted from 64x32, block=16x16 columns" in str(compacted.blocks[0].mlp.fc1)
    assert not masked_layers(compacted) and block_mask(model.blocks[0].mlp.fc1) is not None


def test_every_choice_error_names_the_options_and_the_nearest(tmp_path):
    """errors.check_choice: one wording for config fields, compact() and load_pruned() alike."""
    model = nano()
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    save_pruned(model, tmp_path / "pruned")
    with pytest.raises(UserError, match=r"^direction 'colums' is not one of columns, rows \(did you mean 'columns'\?\)$"):
        BlockPruneConfig(direction="colums")
    with pytest.raises(UserError, match=r"^compaction mode 'gathr' is not one of auto, mask, remove, gather "
                                        r"\(did you mean 'gather'\?\)$"):
        compact(model, "gathr")
    with pytest.raises(UserError, match=r"^compaction 'remov' is not one of .* \(did you mean 'remove'\?\)$"):
        load_pruned(tmp_path / "pruned", compaction="remov")
