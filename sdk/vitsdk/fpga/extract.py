"""Reads a `VisionTransformer` (dense, masked or compacted) into plain float arrays per layer.

Linear layers are read as dense (out, in) matrices: `nn.Linear` directly, anything else (the compact
modules block pruning produces) by probing it with the identity matrix, which works for every linear
map whatever its storage. Pruned weights are zeros in these matrices; `blocksparse` finds the blocks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from vitsdk.errors import UserError
from vitsdk.models import ViTConfig, VisionTransformer


@dataclass
class FloatLinear:
    weight: np.ndarray  # (out, in) float64
    bias: np.ndarray  # (out,)


@dataclass
class FloatBlock:
    norm1: tuple[np.ndarray, np.ndarray]
    qkv: FloatLinear
    proj: FloatLinear
    norm2: tuple[np.ndarray, np.ndarray]
    fc1: FloatLinear
    fc2: FloatLinear


@dataclass
class FloatViT:
    config: ViTConfig
    patch: FloatLinear  # conv as a linear map over flattened (c, kh, kw) patches
    cls_token: np.ndarray  # (C,)
    pos_embed: np.ndarray  # (1 + N, C)
    blocks: list[FloatBlock] = field(default_factory=list)
    norm: tuple[np.ndarray, np.ndarray] = None
    head: FloatLinear = None


def linear_of(module: nn.Module, in_features: int) -> FloatLinear:
    """The dense (weight, bias) of any linear map y = W x + b, whatever module implements it."""
    if isinstance(module, nn.Linear):
        w = module.weight.detach().double().numpy()
        b = module.bias.detach().double().numpy() if module.bias is not None else np.zeros(w.shape[0])
        return FloatLinear(w.copy(), b.copy())
    with torch.no_grad():
        probe = torch.cat([torch.zeros(1, in_features), torch.eye(in_features)]).to(
            next(module.parameters()).dtype)
        out = module(probe).double().numpy()
    bias = out[0]
    return FloatLinear((out[1:] - bias).T.copy(), bias.copy())


def in_features_of(module: nn.Module) -> int:
    for name in ("in_features", "in_dim"):
        if hasattr(module, name):
            return int(getattr(module, name))
    raise UserError(f"cannot read the input width of {type(module).__name__}: it needs `in_features`")


def norm_of(module: nn.LayerNorm) -> tuple[np.ndarray, np.ndarray]:
    if abs(module.eps - 1e-6) > 1e-12:
        raise UserError(f"LayerNorm eps {module.eps} is not supported by the FPGA engine (expects 1e-6)")
    return module.weight.detach().double().numpy().copy(), module.bias.detach().double().numpy().copy()


def check_supported(config: ViTConfig) -> None:
    """The engine implements token dropping and EViT's fused token; attention masks are not built yet."""
    if config.attn_keep < 1.0:
        raise UserError(f"the FPGA engine does not implement attention sparsity (attn_keep="
                        f"{config.attn_keep}): export with attn_keep=1")


def extract(model: VisionTransformer) -> FloatViT:
    """Float arrays of every layer the engine computes, in timm layout."""
    if not isinstance(model, VisionTransformer):
        raise UserError(f"expected a vitsdk VisionTransformer, got {type(model).__name__}")
    c = model.config
    check_supported(c)
    conv = model.patch_embed.proj
    weight = conv.weight.detach().double().numpy().reshape(conv.out_channels, -1)
    bias = conv.bias.detach().double().numpy() if conv.bias is not None else np.zeros(conv.out_channels)
    fv = FloatViT(config=c, patch=FloatLinear(weight.copy(), bias.copy()),
                  cls_token=model.cls_token.detach().double().numpy().reshape(-1).copy(),
                  pos_embed=model.pos_embed.detach().double().numpy()[0].copy())
    for block in model.blocks:
        attn, mlp = block.attn, block.mlp
        fv.blocks.append(FloatBlock(
            norm1=norm_of(block.norm1), qkv=linear_of(attn.qkv, in_features_of(attn.qkv)),
            proj=linear_of(attn.proj, in_features_of(attn.proj)), norm2=norm_of(block.norm2),
            fc1=linear_of(mlp.fc1, in_features_of(mlp.fc1)), fc2=linear_of(mlp.fc2, in_features_of(mlp.fc2))))
        if not isinstance(mlp.act, nn.GELU) or getattr(mlp.act, "approximate", "none") != "none":
            raise UserError("the FPGA engine implements exact (erf) GELU only")
    fv.norm = norm_of(model.norm)
    fv.head = linear_of(model.head, in_features_of(model.head))
    return fv


def patchify(images: np.ndarray, patch_size: int) -> np.ndarray:
    """(B, C, H, W) -> (B, N, C*p*p) in the conv's (c, kh, kw) order, patches row-major."""
    B, C, H, W = images.shape
    g, p = H // patch_size, patch_size
    x = images.reshape(B, C, g, p, g, p).transpose(0, 2, 4, 1, 3, 5)
    return x.reshape(B, g * g, C * p * p)


@dataclass
class Ranges:
    """Max |value| of every activation the engine quantises, over the calibration images."""

    input: float = 0.0
    residual: float = 0.0
    blocks: list[dict[str, float]] = field(default_factory=list)
    norm: float = 0.0


def calibrate(model: VisionTransformer, images: torch.Tensor, percentile: float = 100.0,
              batch_size: int = 64) -> Ranges:
    """Activation ranges from forward hooks on the real model (so compact modules are covered too).

    `percentile` < 100 clips rare outliers of the int8 activations (the residual always uses the max,
    it is int16 and wide).
    """
    c = model.config
    inner = model.blocks[0].attn.num_heads * model.blocks[0].attn.head_dim
    samples: dict[str, Magnitudes] = {}

    def keep(name: str, value: torch.Tensor) -> None:
        if name not in samples:  # the residual's max over every block; one tensor per image elsewhere
            samples[name] = Magnitudes(100.0) if name == "residual" else \
                Magnitudes(percentile, value[0].numel() * len(images))
        samples[name].add(value.detach().abs().reshape(-1).numpy())

    hooks = []
    for i, block in enumerate(model.blocks):
        hooks.append(block.norm1.register_forward_pre_hook(lambda m, a, i=i: keep("residual", a[0])))
        hooks.append(block.norm2.register_forward_pre_hook(lambda m, a, i=i: keep("residual", a[0])))
        hooks.append(block.norm1.register_forward_hook(lambda m, a, o, i=i: keep(f"{i}.ln1", o)))
        hooks.append(block.norm2.register_forward_hook(lambda m, a, o, i=i: keep(f"{i}.ln2", o)))

        def qkv_hook(m, a, o, i=i):
            keep(f"{i}.q", o[..., :inner])
            keep(f"{i}.k", o[..., inner:2 * inner])
            keep(f"{i}.v", o[..., 2 * inner:])
        hooks.append(block.attn.qkv.register_forward_hook(qkv_hook))
        hooks.append(block.attn.proj.register_forward_pre_hook(lambda m, a, i=i: keep(f"{i}.av", a[0])))
        hooks.append(block.mlp.fc1.register_forward_hook(lambda m, a, o, i=i: keep(f"{i}.fc1", o)))
        hooks.append(block.mlp.act.register_forward_hook(lambda m, a, o, i=i: keep(f"{i}.gelu", o)))
    hooks.append(model.norm.register_forward_pre_hook(lambda m, a: keep("residual", a[0])))
    hooks.append(model.norm.register_forward_hook(lambda m, a, o: keep("norm", o[:, 0])))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                model(images[start:start + batch_size].float())
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)

    def stat(name: str) -> float:
        return max(samples[name].value(), 1e-8)

    ranges = Ranges(input=float(images.abs().max()), residual=stat("residual"), norm=stat("norm"))
    for i in range(c.depth):
        ranges.blocks.append({key: stat(f"{i}.{key}") for key in ("ln1", "q", "k", "v", "av", "ln2", "fc1", "gelu")})
    return ranges


class Magnitudes:
    """The `pct` percentile of |x| over `total` values that arrive in batches, in the memory of the few values it
    needs: the running max at 100 (no total needed), else the largest ceil((total - 1) (1 - pct / 100)) + 2
    values, which hold both neighbours of the percentile's rank (numpy's linear interpolation between them).
    Keeping every value instead took tens of GB for DeiT-S/B over the 256 calibration images."""

    def __init__(self, pct: float, total: int | None = None) -> None:
        if pct < 100.0 and total is None:
            raise ValueError("a percentile below 100 needs the number of values")
        self.pct, self.total, self.seen = pct, total, 0
        self.keep = 1 if pct >= 100.0 else min(total, math.ceil((total - 1) * (1 - pct / 100)) + 2)
        self.top = np.zeros(0, dtype=np.float64)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values).reshape(-1)
        self.seen += values.size
        # the batch's largest first (in its own dtype, without a float64 copy of it), then those of the union
        self.top = self._largest(np.concatenate([self.top, self._largest(values).astype(np.float64)]))

    def _largest(self, values: np.ndarray) -> np.ndarray:
        """The `keep` largest of `values` (all of them when there are no more), in no order."""
        cut = values.size - self.keep
        return np.partition(values, cut)[cut:] if cut > 0 else values

    def value(self) -> float:
        if self.total is not None and self.seen != self.total:
            raise RuntimeError(f"calibration saw {self.seen} values where {self.total} were expected")
        top = np.sort(self.top)
        if self.pct >= 100.0:
            return float(top[-1])
        rank = self.pct / 100 * (self.total - 1)  # of the sorted values, 0-based, as numpy computes it
        lo = math.floor(rank)
        below = self.total - top.size  # values not kept: all at most top[0]
        a, b, t = top[lo - below], top[min(lo + 1, self.total - 1) - below], rank - lo
        return float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)  # numpy's lerp
