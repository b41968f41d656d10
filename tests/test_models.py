"""The ViT core: plain-ViT parity, token and attention sparsity, export, registry, accounting."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from vitsdk.errors import UserError
from vitsdk.models import KeepRateSchedule, count, create_model, get_config, keep_count, list_models
from vitsdk.models.vision_transformer import TokenKeep, attention_pattern

SMALL = [name for name in list_models() if name.endswith("_28")]


def reference_vit(model, x):
    """An independent plain-ViT forward (timm semantics, fused SDPA) over the same weights."""
    c = model.config
    t = F.conv2d(x, model.patch_embed.proj.weight, model.patch_embed.proj.bias, stride=c.patch_size)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), t], 1) + model.pos_embed
    for blk in model.blocks:
        h = F.layer_norm(t, (c.embed_dim,), blk.norm1.weight, blk.norm1.bias, 1e-6)
        B, T, _ = h.shape
        q, k, v = F.linear(h, blk.attn.qkv.weight, blk.attn.qkv.bias).view(B, T, 3, c.num_heads, -1).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, -1)
        t = t + F.linear(a, blk.attn.proj.weight, blk.attn.proj.bias)
        h = F.layer_norm(t, (c.embed_dim,), blk.norm2.weight, blk.norm2.bias, 1e-6)
        t = t + F.linear(F.gelu(F.linear(h, blk.mlp.fc1.weight, blk.mlp.fc1.bias)), blk.mlp.fc2.weight, blk.mlp.fc2.bias)
    t = F.layer_norm(t, (c.embed_dim,), model.norm.weight, model.norm.bias, 1e-6)
    return F.linear(t[:, 0], model.head.weight, model.head.bias)


@pytest.mark.parametrize("name", SMALL)
def test_keep_rates_of_one_are_the_plain_vit(name):
    model = create_model(name, keep_rate=1.0, attn_keep=1.0).eval()
    x = torch.randn(3, model.config.in_chans, model.config.img_size, model.config.img_size)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_vit(model, x), rtol=1e-4, atol=1e-5)


def test_token_dropping_changes_outputs_and_token_counts():
    model = create_model("vit_micro_patch4_28").eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        dense = model(x)
        model.set_sparsity(keep_rate=0.5)
        sparse = model(x)
    assert not torch.allclose(dense, sparse)
    assert [b.tokens_mlp for b in count(model).blocks][3:10:3] == [1 + 25, 1 + 13, 1 + 7]


def test_chosen_tokens_follow_cls_attention():
    """A constructed attention map: CLS attends most to tokens 4, 1, 6 (in that order)."""
    B, n, C, H = 1, 8, 2, 2
    x = torch.arange(1 + n, dtype=torch.float32).view(1, 1 + n, 1).expand(B, 1 + n, C).clone()
    cls_row = torch.tensor([0.0, 0.1, 0.25, 0.01, 0.02, 0.4, 0.03, 0.15, 0.04])  # token i at position i+1
    attn = torch.full((B, H, 1 + n, 1 + n), 1.0 / (1 + n))
    attn[:, :, 0] = cls_row
    kept, sparse = TokenKeep(fuse_token=False)(x, attn, keep_rate=3 / 8, attn_keep=1.0, attn_mode="mask")
    assert sparse is None
    assert kept[0, :, 0].tolist() == [0.0, 5.0, 2.0, 7.0]  # CLS, then tokens by attention
    fused, _ = TokenKeep(fuse_token=True)(x, attn, keep_rate=3 / 8, attn_keep=1.0, attn_mode="mask")
    drop_pos = torch.tensor([1, 3, 4, 6, 8])
    expected = (cls_row[drop_pos] * drop_pos).sum() / cls_row[drop_pos].sum()
    assert fused.shape[1] == 5
    torch.testing.assert_close(fused[0, -1, 0], expected)


def test_attention_pattern_keeps_top_keys_per_row_and_cls():
    patch_attn = torch.tensor([[[0.1, 0.7, 0.2], [0.5, 0.1, 0.4], [0.3, 0.3, 0.4]]])
    mask = attention_pattern(patch_attn, keys=2, fused=False, attn_mode="mask").mask[0]
    assert mask[0].all() and mask[:, 0].all()
    assert mask[1:, 1:].tolist() == [[False, True, True], [True, False, True], [True, False, True]] or \
        mask[1:, 1:].tolist() == [[False, True, True], [True, False, True], [False, True, True]]
    index = attention_pattern(patch_attn, keys=2, fused=True, attn_mode="gather").key_index[0]
    assert index[:, 0].tolist() == [0, 0, 0] and index[:, -1].tolist() == [4, 4, 4]
    assert sorted(index[0, 1:3].tolist()) == [2, 3]


@pytest.mark.parametrize("fuse", [False, True])
def test_gather_mode_equals_mask_mode(fuse):
    mask_model = create_model("vit_micro_patch4_28", keep_rate=0.7, attn_keep=0.4, fuse_token=fuse).eval()
    gather_model = create_model("vit_micro_patch4_28", keep_rate=0.7, attn_keep=0.4, fuse_token=fuse,
                                attn_mode="gather").eval()
    gather_model.load_state_dict(mask_model.state_dict())
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(gather_model(x), mask_model(x), rtol=1e-4, atol=1e-5)
    assert count(gather_model).attn_macs_saved > 0
    assert count(mask_model).attn_macs_saved == 0


@pytest.mark.parametrize("overrides", [dict(keep_rate=0.7), dict(keep_rate=0.7, fuse_token=True, attn_keep=0.5)])
def test_token_dropping_model_exports_with_static_shapes(overrides):
    model = create_model("vit_nano_patch4_28", **overrides).eval()
    x = torch.randn(2, 1, 28, 28)
    program = torch.export.export(model, (x,))
    ops = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert any("topk" in op for op in ops) and any("gather" in op for op in ops)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))
    # The module paths LiteRT names the .tflite tensors by: blocks.N.norm1..., no Block frame (whose entry
    # would rename every tensor and change the exported bytes).
    frames = {path for node in program.graph.nodes for path, _ in node.meta.get("nn_module_stack", {}).values()}
    assert any(path.endswith("blocks.0.norm1") for path in frames)
    assert not any(path.endswith("blocks.0") for path in frames)


@pytest.mark.parametrize("name,params_m,gmacs", [
    ("deit_tiny_patch16_224", 5.7, 1.3), ("deit_small_patch16_224", 22.0, 4.6), ("deit_base_patch16_224", 86.0, 17.6)])
def test_published_deit_figures(name, params_m, gmacs):
    acc = count(create_model(name))
    assert acc.params / 1e6 == pytest.approx(params_m, rel=0.02)
    assert acc.macs / 1e9 == pytest.approx(gmacs, rel=0.04)


def test_evit_deit_small_keep_07_fused_is_about_3_gmacs():
    acc = count(create_model("deit_small_patch16_224", keep_rate=0.7, fuse_token=True))
    assert acc.macs / 1e9 == pytest.approx(3.0, rel=0.02)
    assert [b.tokens_mlp for b in acc.blocks][3:10:3] == [1 + 138 + 1, 1 + 98 + 1, 1 + 70 + 1]


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("overrides", [{}, dict(keep_rate=0.6, fuse_token=True),
                                       dict(keep_rate=0.7, attn_keep=0.3, attn_mode="gather"),
                                       dict(keep_rate=0.7, attn_keep=0.3, attn_mode="mask")])
def test_accounting_matches_counted_matmuls(name, overrides):
    """The analytic MACs equal what torch's FLOP counter sees in the real forward (flops / 2)."""
    model = create_model(name, **overrides).eval()
    c = model.config
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, c.in_chans, c.img_size, c.img_size))
    assert counter.get_total_flops() // 2 == count(model).macs
    assert count(model).params == sum(p.numel() for p in model.parameters())


def test_keep_count_has_no_float_noise():
    assert keep_count(100, 0.7) == 70
    assert keep_count(196, 0.7) == 138
    assert keep_count(5, 0.01) == 1


def test_schedule_warmup_cosine_constant():
    s = KeepRateSchedule(0.7, warmup_epochs=10, decay_epochs=100)
    assert s(0) == 1.0 and s(9.99) == 1.0
    assert s(60) == pytest.approx(0.85)
    assert s(110) == pytest.approx(0.7) and s(300) == 0.7
    assert 0.7 < s(100) < s(30) < 1.0
    scaled = KeepRateSchedule.scaled(0.5, total_epochs=30)
    assert scaled.warmup_epochs == pytest.approx(1.0) and scaled.decay_epochs == pytest.approx(10.0)


def test_unknown_model_suggests_nearest():
    with pytest.raises(UserError, match="did you mean 'deit_small_patch16_224'"):
        create_model("deit_smal_patch16_224")


@pytest.mark.parametrize("key,value,match", [
    ("keep_rate", 0.0, r"keep_rate must be in \(0, 1\]"), ("keep_rate", 1.5, "keep_rate"),
    ("attn_keep", -0.1, "attn_keep"), ("prune_at", (3, 12), "outside 0..11"),
    ("prune_at", (6, 3), "strictly increasing"), ("attn_mode", "gathr", "did you mean 'gather'"),
    ("embed_dim", 66, "not divisible"), ("img_size", 30, "not a multiple"), ("depthh", 3, "did you mean 'depth'")])
def test_bad_config_is_a_clear_error(key, value, match):
    with pytest.raises(UserError, match=match):
        create_model("vit_micro_patch4_28", **{key: value})


def test_set_sparsity_validates():
    model = create_model("vit_nano_patch4_28")
    with pytest.raises(UserError, match="keep_rate"):
        model.set_sparsity(keep_rate=0)


def test_wrong_input_shape_is_a_clear_error():
    model = create_model("vit_nano_patch4_28")
    with pytest.raises(UserError, match=r"expected \(batch, 1, 28, 28\)"):
        model(torch.randn(1, 3, 28, 28))


def test_record_cls_attn_gives_a_distribution_per_example():
    model = create_model("vit_nano_patch4_28", keep_rate=0.5).eval()
    model.record_cls_attn = True
    with torch.no_grad():
        model(torch.randn(4, 1, 28, 28))
    attn = model.last_cls_attn
    assert attn.shape[0] == 4
    assert torch.all(attn.sum(dim=1) < 1.0) and torch.all(attn >= 0)
    assert math.isclose(get_config("vit_nano_patch4_28").num_patches, 49)


def _features_reaching_into_blocks(model, x):
    """forward_features as written before Block.forward existed (the loop reached into each block's parts)."""
    c = model.config
    x = model.patch_embed(x)
    x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + model.pos_embed
    sparse, last = None, len(model.blocks) - 1
    for i, block in enumerate(model.blocks):
        pruning = block.token_keep is not None
        out, attn = block.attn(block.norm1(x), None if pruning else sparse, need_weights=pruning)
        x = x + block.drop_path1(out)
        if pruning:
            used = i < last and model.blocks[i + 1].token_keep is None
            x, sparse = block.token_keep(x, attn, c.keep_rate, c.attn_keep if used else 1.0, c.attn_mode)
        x = x + block.drop_path2(block.mlp(block.norm2(x)))
    return model.norm(x)


@pytest.mark.parametrize("overrides", [{}, {"keep_rate": 0.7, "attn_keep": 0.3, "fuse_token": True},
                                       {"keep_rate": 0.5, "attn_keep": 0.5, "attn_mode": "gather"}])
@pytest.mark.parametrize("train", [False, True])
def test_block_forward_is_bit_identical_to_the_loop_it_replaced(overrides, train):
    """Block.forward moved attention, token selection and MLP out of forward_features: same bits, drop path
    (seeded) included, and the pattern a pruning block builds still reaches the blocks after it."""
    model = create_model("vit_nano_patch4_28", drop_path_rate=0.2, **overrides).train(train)
    x = torch.randn(3, 1, 28, 28)
    torch.manual_seed(1)
    expected = _features_reaching_into_blocks(model, x)
    torch.manual_seed(1)
    assert torch.equal(model.forward_features(x), expected)
