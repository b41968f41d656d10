"""Balanced block masks and `prune_`: score column (row) pieces inside each block, keep the best.

A weight W (out x in) is split into blocks of br x bc (S row strips x C column chunks). In 'columns'
direction each block keeps the same number k of its bc column pieces (a piece is one column of W
restricted to the block's br rows); in 'rows' direction the same number of its br row pieces. Every
block keeps the same count, which is what an FPGA PE array needs and what makes the compacted
matrices rectangular. The mask lives in the layer's declared pruning state (`vitsdk.sparsity.state`, shown
by `print(model)`, absent from the state dict) and the pruned weights are zeroed in place.
"""
from __future__ import annotations

import torch
from torch import nn

from vitsdk.errors import UserError
from vitsdk.sparsity.config import FULL, BlockPruneConfig, format_block_shape
from vitsdk.sparsity.state import (BlockMask, block_mask, dense_mask, is_compacted, masked_layers, record_prune,
                                   set_block_mask)

__all__ = ["BlockMask", "apply_masks_", "layer_mask", "masked_layers", "piece_scores", "prunable_layers", "prune_",
           "resolve_block"]


def resolve_block(name: str, shape: tuple[int, int], block_shape: tuple[int, int]) -> tuple[int, int]:
    """(br, bc) for a layer; a block that does not tile the layer is refused with the sizes that do."""
    out, inp = shape
    br = out if block_shape[0] == FULL else block_shape[0]
    bc = inp if block_shape[1] == FULL else block_shape[1]
    if out % br or inp % bc:
        raise UserError(
            f"block {format_block_shape(block_shape)} does not tile layer {name} ({out} x {inp}): rows must divide "
            f"{out} and columns {inp} (common divisors: {', '.join(map(str, _divisors(out, inp)))}; "
            f"'full' spans a whole dimension); refusing rather than padding")
    return br, bc


def _divisors(a: int, b: int) -> list[int]:
    return [d for d in (4, 8, 16, 32, 64, 128) if a % d == 0 and b % d == 0]


def keep_per_block(pieces: int, ratio: float) -> int:
    """Pieces kept of `pieces` at prune `ratio` (rounded to nearest, at least one)."""
    return max(1, pieces - int(pieces * ratio + 0.5 + 1e-9))


def piece_scores(weight: torch.Tensor, block: tuple[int, int], direction: str) -> torch.Tensor:
    """(S, C, pieces) L2 norm of every column (row) piece of every block."""
    out, inp = weight.shape
    br, bc = block
    w = weight.detach().float().reshape(out // br, br, inp // bc, bc)
    if direction == "columns":
        return w.norm(dim=1)  # (S, C, bc)
    return w.norm(dim=3).permute(0, 2, 1)  # (S, C, br)


def prunable_layers(model: nn.Module, config: BlockPruneConfig) -> list[tuple[str, nn.Linear]]:
    """The (name, module) pairs `config` selects; a compacted model is refused."""
    if is_compacted(model):
        raise UserError("this model is already compacted; prune the masked model instead "
                        "(load_pruned(path, compaction='mask') or `vitsdk prune ARTIFACT_FOLDER`)")
    chosen = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear) and config.selects(name)]
    if not chosen:
        raise UserError(f"layers {list(config.layers)} select no linear layer of this model "
                        f"(prunable: blocks.N.attn.qkv/proj, blocks.N.mlp.fc1/fc2)")
    return chosen


def layer_mask(name: str, module: nn.Linear, config: BlockPruneConfig, ratio: float, strict: bool = True) -> BlockMask:
    """The balanced mask for one layer at `ratio`, composed with any mask it already carries.

    A ratio below the layer's current one is refused when `strict`, else it keeps the current mask
    (a gradual ramp that starts below an earlier pass simply waits until it passes it).
    """
    shape = (module.out_features, module.in_features)
    block = resolve_block(name, shape, config.block_shape)
    scores = piece_scores(module.weight, block, config.direction)
    pieces = scores.shape[2]
    keep = keep_per_block(pieces, ratio)
    old = block_mask(module)
    if old is not None:
        if old.block != block or old.direction != config.direction:
            raise UserError(
                f"layer {name} is already pruned with block {old.block[0]}x{old.block[1]} {old.direction}; pruning it "
                f"again with {block[0]}x{block[1]} {config.direction} cannot compose: use the same block shape and "
                f"direction, or start from the unpruned checkpoint")
        if keep > old.kept_per_block and not strict:
            keep = old.kept_per_block
        if keep > old.kept_per_block:
            raise UserError(
                f"layer {name} is already pruned to {old.kept_per_block}/{pieces} pieces per block (ratio "
                f"{1 - old.kept_fraction:.3g}); ratio {ratio:.3g} would un-prune it: pruning twice composes, so give "
                f"a ratio >= {1 - old.kept_fraction:.3g}")
        scores = scores.masked_fill(~old.piece_mask().to(scores.device), -1.0)  # already-pruned pieces stay pruned
    kept = scores.topk(keep, dim=2).indices.sort(dim=2).values.cpu()
    return BlockMask(shape=shape, block=block, direction=config.direction, ratio=ratio, kept=kept)


@torch.no_grad()
def prune_(model: nn.Module, config: BlockPruneConfig, fraction: float = 1.0) -> dict[str, BlockMask]:
    """Prunes `model` in place: balanced L2 block masks on the selected layers, weights zeroed.

    `fraction` scales every layer's ratio (the gradual schedule ramps it from 0 to 1). A layer that
    already carries a mask is pruned further within it (composition); a different block shape or
    direction, or a smaller ratio, is refused.
    """
    layers = prunable_layers(model, config)
    # Every mask first, so a layer the config cannot prune leaves the whole model untouched.
    masks = {name: layer_mask(name, module, config, config.ratio_for(name) * fraction, strict=fraction >= 1.0)
             for name, module in layers}
    for name, module in layers:
        set_block_mask(module, masks[name])
        module.weight.mul_(masks[name].dense().to(module.weight.device, module.weight.dtype))
    if fraction >= 1.0:
        record_prune(model, config.to_dict())
    return masks


@torch.no_grad()
def apply_masks_(model: nn.Module) -> None:
    """Re-zeroes pruned weights (call after every optimizer step while fine-tuning)."""
    for module in model.modules():
        mask = block_mask(module)
        if mask is not None:
            module.weight.mul_(dense_mask(module, mask))
