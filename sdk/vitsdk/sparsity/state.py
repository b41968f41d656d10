"""Where a model keeps its pruning: one declared place, visible in `print(model)`, absent from the state dict.

Every pruned (or compacted) linear layer carries a `LayerPruning` child named `pruning` (its block mask, or
what a compacted layer came from); the model carries a `ModelPruning` child (the `prune_` passes and the
compaction mode). Both are parameter-free `nn.Module`s, so they follow `deepcopy`, `.to()` and `print`
while state dicts keep timm's key names and the artifact's `model.safetensors` stays byte-identical.
Read and write them through the functions here, never by attribute name.

This module is the bottom of `vitsdk.sparsity` (masks and compaction both build on it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

STATE = "pruning"  # the child's name, on a pruned layer and on the model
MASK = "mask"  # the compaction mode of a model that is not compacted


@dataclass
class BlockMask:
    """The kept pieces of one pruned linear layer.

    `kept` is int64 (S, C, k): for block (strip s, chunk c) the sorted offsets of the kept columns
    (0..bc-1, 'columns') or rows (0..br-1, 'rows') inside the block.
    """

    shape: tuple[int, int]  # (out, in) of the layer
    block: tuple[int, int]  # (br, bc), resolved (no 'full')
    direction: str
    ratio: float  # the ratio asked for this layer
    kept: torch.Tensor

    @property
    def strips(self) -> int:
        return self.shape[0] // self.block[0]

    @property
    def chunks(self) -> int:
        return self.shape[1] // self.block[1]

    @property
    def pieces(self) -> int:
        """Pieces per block: columns of a block in 'columns' direction, rows in 'rows'."""
        return self.block[1] if self.direction == "columns" else self.block[0]

    @property
    def kept_per_block(self) -> int:
        return int(self.kept.shape[2])

    @property
    def kept_fraction(self) -> float:
        return self.kept_per_block / self.pieces

    def piece_mask(self) -> torch.Tensor:
        """(S, C, pieces) bool: which pieces of each block are kept."""
        keep = torch.zeros(self.strips, self.chunks, self.pieces, dtype=torch.bool)
        return keep.scatter_(2, self.kept, True)

    def dense(self) -> torch.Tensor:
        """The (out, in) bool mask."""
        out, inp = self.shape
        br, bc = self.block
        keep = self.piece_mask()
        if self.direction == "columns":  # (S, C, bc) -> every row of strip s shares its columns
            return keep.reshape(self.strips, 1, inp).expand(self.strips, br, inp).reshape(out, inp)
        rows = keep.permute(0, 2, 1)  # (S, br, C)
        return rows[..., None].expand(self.strips, br, self.chunks, bc).reshape(out, inp)

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "block": list(self.block), "direction": self.direction,
                "ratio": self.ratio, "kept_per_block": self.kept_per_block, "kept": self.kept.tolist()}

    def describe(self) -> str:
        return (f"block={self.block[0]}x{self.block[1]} {self.direction}, ratio={self.ratio:g}, "
                f"kept={self.kept_per_block}/{self.pieces} per block")


@dataclass
class LayerInfo:
    """What a compacted layer came from (for reports and for refusing to prune it again)."""

    name: str
    source_shape: tuple[int, int]
    block: tuple[int, int] | None
    direction: str | None
    ratio: float
    kept_fraction: float  # of the source weight's entries

    def describe(self) -> str:
        block = "dense" if self.block is None else f"block={self.block[0]}x{self.block[1]} {self.direction}"
        return (f"compacted from {self.source_shape[0]}x{self.source_shape[1]}, {block}, "
                f"kept={self.kept_fraction:.3g} of the weights")


class LayerPruning(nn.Module):
    """The pruning state of one linear layer: its block mask (masked model) or its source (compacted model)."""

    def __init__(self, mask: BlockMask | None = None, info: LayerInfo | None = None) -> None:
        super().__init__()
        self.mask = mask
        self.info = info
        self.dense_cache: tuple[BlockMask, torch.Tensor] | None = None  # (mask it was built from, (out, in) mask)

    def extra_repr(self) -> str:
        return "; ".join(part.describe() for part in (self.mask, self.info) if part is not None)


class ModelPruning(nn.Module):
    """The pruning state of a model: the `prune_` passes (BlockPruneConfig dicts) and its compaction mode."""

    def __init__(self, history: list[dict] | None = None, compaction: str = MASK) -> None:
        super().__init__()
        self.history = list(history or [])
        self.compaction = compaction

    def extra_repr(self) -> str:
        return f"compaction={self.compaction}, prune passes={len(self.history)}"


State = TypeVar("State", LayerPruning, ModelPruning)


def _state(module: nn.Module, kind: type[State], create: bool = False) -> State | None:
    """The module's `pruning` child if it is a `kind` (created empty when `create`), else None."""
    state = getattr(module, STATE, None)
    if state is None and create:
        state = kind()
        module.add_module(STATE, state)
    return state if isinstance(state, kind) else None


def block_mask(module: nn.Module) -> BlockMask | None:
    """The block mask of a pruned (masked) linear layer, None for any other module."""
    state = _state(module, LayerPruning)
    return None if state is None else state.mask


def set_block_mask(module: nn.Module, mask: BlockMask) -> None:
    _state(module, LayerPruning, create=True).mask = mask


def layer_info(module: nn.Module) -> LayerInfo | None:
    """What a compacted layer came from, None for a layer that was not compacted."""
    state = _state(module, LayerPruning)
    return None if state is None else state.info


def set_layer_info(module: nn.Module, info: LayerInfo) -> None:
    _state(module, LayerPruning, create=True).info = info


def dense_mask(module: nn.Module, mask: BlockMask) -> torch.Tensor:
    """`mask.dense()` on the layer's weight device and dtype, built once per mask (applied every step)."""
    state = _state(module, LayerPruning, create=True)
    weight = module.weight
    cached = state.dense_cache
    if cached is None or cached[0] is not mask or cached[1].shape != weight.shape \
            or cached[1].device != weight.device or cached[1].dtype != weight.dtype:
        state.dense_cache = (mask, mask.dense().to(weight.device, weight.dtype))
    return state.dense_cache[1]


def masked_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers of `model` that carry a block mask, by name."""
    return {name: m for name, m in model.named_modules() if block_mask(m) is not None}


def prune_history(model: nn.Module) -> list[dict]:
    """The `prune_` passes applied to `model`, oldest first (a copy)."""
    state = _state(model, ModelPruning)
    return [] if state is None else list(state.history)


def record_prune(model: nn.Module, config: dict) -> None:
    set_prune_history(model, [*prune_history(model), config])


def set_prune_history(model: nn.Module, history: list[dict]) -> None:
    _state(model, ModelPruning, create=True).history = list(history)


def compaction_of(model: nn.Module) -> str:
    """The compaction mode `model` was built in ('mask' for a model that is not compacted)."""
    state = _state(model, ModelPruning)
    return MASK if state is None else state.compaction


def set_compaction(model: nn.Module, mode: str) -> None:
    _state(model, ModelPruning, create=True).compaction = mode


def is_compacted(model: nn.Module) -> bool:
    """Whether `model` came out of `compact` in a mode other than 'mask' (every layer it rebuilt carries a
    `LayerInfo`)."""
    return compaction_of(model) != MASK or any(layer_info(m) is not None for m in model.modules())
