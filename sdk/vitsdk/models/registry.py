"""The model registry: one named `ViTConfig` per architecture, the single source of model names."""
from __future__ import annotations

from collections.abc import Callable

from vitsdk.errors import unknown
from vitsdk.models.config import ViTConfig
from vitsdk.models.vision_transformer import VisionTransformer

_REGISTRY: dict[str, Callable[[], ViTConfig]] = {}

FASHION_MNIST_NORM = {"mean": (0.2860,), "std": (0.3530,)}


def register_model(fn: Callable[[], ViTConfig]) -> Callable[[], ViTConfig]:
    """Registers a config constructor under its function name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_config(name: str, **overrides) -> ViTConfig:
    """The registered config `name` with `overrides` applied (unknown names get a suggestion)."""
    if name not in _REGISTRY:
        raise unknown("model", name, _REGISTRY)
    return _REGISTRY[name]().replace(**overrides)


def create_model(name: str, **overrides) -> VisionTransformer:
    """A freshly initialised model, e.g. `create_model("deit_small_patch16_224", keep_rate=0.7)`."""
    return VisionTransformer(get_config(name, **overrides))


# DeiT (Touvron et al. 2021), ImageNet 224px.
@register_model
def deit_tiny_patch16_224() -> ViTConfig:
    return ViTConfig(name="deit_tiny_patch16_224", embed_dim=192, depth=12, num_heads=3)


@register_model
def deit_small_patch16_224() -> ViTConfig:
    return ViTConfig(name="deit_small_patch16_224", embed_dim=384, depth=12, num_heads=6)


@register_model
def deit_base_patch16_224() -> ViTConfig:
    return ViTConfig(name="deit_base_patch16_224", embed_dim=768, depth=12, num_heads=12)


# Small ViTs for 28x28 greyscale data (Fashion-MNIST): 4x4 patches give a 7x7 grid of 49 tokens.
@register_model
def vit_nano_patch4_28() -> ViTConfig:
    """Four blocks, width 32: for tests and quick demos (prunes at blocks 1 and 2)."""
    return ViTConfig(name="vit_nano_patch4_28", img_size=28, patch_size=4, in_chans=1, num_classes=10,
                     embed_dim=32, depth=4, num_heads=2, mlp_ratio=2.0, prune_at=(1, 2), **FASHION_MNIST_NORM)


@register_model
def vit_mini_patch4_28() -> ViTConfig:
    """Six blocks at width 64 (MLP ratio 2), pruning at blocks 1 and 3: the smallest layout where every Tri-Level
    level changes the prediction (vit_nano's only attention pattern reaches its last block, whose patch rows the
    CLS head never reads) and trains to its plateau on 2 CPU cores within the hour (`benchmarks/training.py`)."""
    return ViTConfig(name="vit_mini_patch4_28", img_size=28, patch_size=4, in_chans=1, num_classes=10,
                     embed_dim=64, depth=6, num_heads=4, mlp_ratio=2.0, prune_at=(1, 3), **FASHION_MNIST_NORM)


@register_model
def vit_micro_patch4_28() -> ViTConfig:
    """DeiT layout (12 blocks, pruning at 3/6/9) at width 64: the Fashion-MNIST workhorse."""
    return ViTConfig(name="vit_micro_patch4_28", img_size=28, patch_size=4, in_chans=1, num_classes=10,
                     embed_dim=64, depth=12, num_heads=4, mlp_ratio=4.0, **FASHION_MNIST_NORM)


@register_model
def vit_tiny_patch4_28() -> ViTConfig:
    """DeiT-Ti width (192, 3 heads) on 28x28 greyscale input."""
    return ViTConfig(name="vit_tiny_patch4_28", img_size=28, patch_size=4, in_chans=1, num_classes=10,
                     embed_dim=192, depth=12, num_heads=3, **FASHION_MNIST_NORM)
