"""`ViTConfig`: everything needed to rebuild a model, validated on creation and serialisable to JSON."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from vitsdk.errors import UserError, check_choice, suggest
from vitsdk.saved_config import checked_config_dict

ATTN_MODES = ("mask", "gather")
CONFIG_VERSION = 1


def keep_count(n: int, rate: float) -> int:
    """Tokens (or keys) kept out of `n` at keep fraction `rate`: ceil(n * rate), at least 1.

    The small epsilon stops float noise (0.7 * 100 = 70.00000000000001) from keeping one too many.
    """
    return max(1, min(n, math.ceil(n * rate - 1e-9)))


@dataclass(frozen=True)
class ViTConfig:
    """A ViT/DeiT architecture plus its token- and attention-sparsity settings.

    Args:
        name: registry name this config came from (informational).
        img_size: input height and width in pixels.
        patch_size: patch height and width; must divide `img_size`.
        in_chans: input channels (3 for RGB, 1 for greyscale).
        num_classes: classifier outputs.
        embed_dim: token width.
        depth: number of transformer blocks.
        num_heads: attention heads; must divide `embed_dim`.
        mlp_ratio: MLP hidden width / `embed_dim`.
        qkv_bias: bias in the qkv projection.
        drop_path_rate: stochastic depth, linearly increasing over the blocks (training only).
        keep_rate: fraction of patch tokens kept at each pruning block, in (0, 1]; compounds per stage.
        prune_at: 0-indexed blocks where tokens are selected (after attention, before the MLP).
        fuse_token: fuse the dropped tokens into one extra token weighted by CLS attention (EViT).
        attn_keep: fraction of keys kept per query row among kept patch tokens, in (0, 1].
        attn_mode: 'mask' (dense masked softmax: exportable, saves no MACs) or 'gather' (computes only
            the kept keys per row: saves QK^T/AV MACs, costs a gather).
        mean: per-channel normalisation mean of the preprocessing.
        std: per-channel normalisation std of the preprocessing.
    """

    name: str = "custom"
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.0
    keep_rate: float = 1.0
    prune_at: tuple[int, ...] = (3, 6, 9)
    fuse_token: bool = False
    attn_keep: float = 1.0
    attn_mode: str = "mask"
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    version: int = field(default=CONFIG_VERSION)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prune_at", tuple(int(i) for i in self.prune_at))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        check_fraction("keep_rate", self.keep_rate)
        check_fraction("attn_keep", self.attn_keep)
        for key in ("img_size", "patch_size", "in_chans", "num_classes", "embed_dim", "depth", "num_heads"):
            if int(getattr(self, key)) < 1:
                raise UserError(f"{key} must be a positive integer, got {getattr(self, key)}")
        if self.img_size % self.patch_size:
            raise UserError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.embed_dim % self.num_heads:
            raise UserError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        bad = [i for i in self.prune_at if not 0 <= i < self.depth]
        if bad:
            raise UserError(f"prune_at {list(self.prune_at)} has blocks {bad} outside 0..{self.depth - 1} "
                            f"(the model has depth {self.depth})")
        if list(self.prune_at) != sorted(set(self.prune_at)):
            raise UserError(f"prune_at {list(self.prune_at)} must be strictly increasing block indices")
        check_choice("attn_mode", self.attn_mode, ATTN_MODES)
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise UserError(f"mean/std need {self.in_chans} values (one per input channel)")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise UserError(f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}")

    @property
    def grid_size(self) -> int:
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)

    def replace(self, **overrides: Any) -> "ViTConfig":
        """A copy with `overrides` applied; unknown keys are a clear error."""
        names = [f.name for f in dataclasses.fields(self)]
        for key in overrides:
            if key not in names:
                raise UserError(f"unknown model option '{key}'{suggest(key, names)}; valid: {', '.join(names)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ViTConfig":
        return cls(**checked_config_dict(cls, data, "model config", CONFIG_VERSION))


def check_fraction(name: str, value: float) -> None:
    """Keep fractions live in (0, 1]: 1 keeps everything, 0 would keep nothing."""
    if not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
        raise UserError(f"{name} must be in (0, 1], got {value}")
