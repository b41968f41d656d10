"""Reading and writing model weights.

Foreign checkpoints (timm/DeiT `.pth` or `.safetensors`) are loaded with `load_pretrained`, which
unwraps `model`/`state_dict` containers, resamples `pos_embed` to the model's grid, adapts the patch
embedding to another channel count and reports missing / unexpected / mismatched keys by name.
vitsdk's own checkpoints are safetensors files carrying the `ViTConfig` in their metadata, so
`load_model` rebuilds the model without being told the architecture. `.pth` files are read with
`torch.load(weights_only=True)`: no pickled code runs.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from vitsdk.atomic import atomic_path
from vitsdk.errors import UserError
from vitsdk.models.config import ViTConfig
from vitsdk.models.vision_transformer import VisionTransformer

CHECKPOINT_FORMAT = "vitsdk.checkpoint/1"
MODEL_FILE = "model.safetensors"  # the weights file inside a run folder or a pruned artifact
_CONTAINER_KEYS = ("model", "state_dict", "model_ema", "module")


@dataclass
class LoadReport:
    """What `load_pretrained` did with each key of the file."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: file (shape) vs model (shape)"
    adapted: list[str] = field(default_factory=list)  # "pos_embed: resampled 14x14 -> 7x7", ...

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata from a `.safetensors` or `.pth`/`.pt`/`.bin` file, loaded safely."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' does not exist or is not a file")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
                tensors = {key: f.get_tensor(key) for key in f.keys()}
            return tensors, metadata
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except UserError:
        raise
    except Exception as exc:  # corrupted, truncated, or a pickle that needs code to run
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot read checkpoint '{path}': {first[:200]}") from None
    return unwrap(obj, path), {}


def unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """Finds the state dict inside the usual containers ({'model': ...}, {'state_dict': ...})."""
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _CONTAINER_KEYS if k in obj and isinstance(obj[k], dict)), None)
        if inner is None:
            raise UserError(f"'{path}' holds no tensors under {list(_CONTAINER_KEYS)}; top-level keys: "
                            f"{sorted(map(str, obj))[:10]}")
        obj = inner
    if not isinstance(obj, dict):
        raise UserError(f"'{path}' is not a state dict (found {type(obj).__name__})")
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def resample_pos_embed(pos_embed: torch.Tensor, grid: int, num_prefix: int = 1) -> torch.Tensor:
    """Bicubic resampling of the patch part of a (1, prefix + g*g, C) position embedding to grid x grid."""
    prefix, patches = pos_embed[:, :num_prefix], pos_embed[:, num_prefix:]
    old = int(math.isqrt(patches.shape[1]))
    if old * old != patches.shape[1]:
        raise UserError(f"pos_embed has {patches.shape[1]} patch positions, which is not a square grid")
    image = patches.reshape(1, old, old, -1).permute(0, 3, 1, 2).float()
    image = F.interpolate(image, size=(grid, grid), mode="bicubic", align_corners=False)
    patches = image.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(pos_embed.dtype)
    return torch.cat([prefix, patches], dim=1)


def adapt_state_dict(state: dict[str, torch.Tensor], model: VisionTransformer, report: LoadReport) -> dict[str, torch.Tensor]:
    """Resamples pos_embed and adapts the patch embedding's input channels where the shapes say so."""
    state = dict(state)
    c = model.config
    pos = state.get("pos_embed")
    if pos is not None and pos.ndim == 3 and pos.shape[1] != model.pos_embed.shape[1] \
            and pos.shape[2] == model.pos_embed.shape[2]:
        old_grid = math.isqrt(pos.shape[1] - 1)
        state["pos_embed"] = resample_pos_embed(pos, c.grid_size)
        report.adapted.append(f"pos_embed: resampled {old_grid}x{old_grid} -> {c.grid_size}x{c.grid_size}")
    weight = state.get("patch_embed.proj.weight")
    target = model.patch_embed.proj.weight
    if weight is not None and weight.ndim == 4 and weight.shape[1] != target.shape[1] \
            and weight.shape[0] == target.shape[0] and target.shape[1] == 1:
        state["patch_embed.proj.weight"] = weight.sum(dim=1, keepdim=True)
        report.adapted.append(f"patch_embed.proj.weight: summed {weight.shape[1]} input channels into 1")
    return state


def load_pretrained(model: VisionTransformer, path: str | os.PathLike, strict: bool = True) -> LoadReport:
    """Loads a timm/DeiT/vitsdk checkpoint into `model`, adapting what can be adapted.

    With `strict`, any missing or shape-mismatched key is a `UserError` that names them.
    """
    state, _ = read_state_dict(path)
    report = LoadReport()
    state = adapt_state_dict(state, model, report)
    own = model.state_dict()
    usable = {}
    for key, tensor in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(tensor.shape) != tuple(own[key].shape):
            report.mismatched.append(f"{key}: file {tuple(tensor.shape)} vs model {tuple(own[key].shape)}")
        else:
            usable[key] = tensor
    report.missing = [key for key in own if key not in state]
    report.loaded = sorted(usable)
    if strict and not report.ok:
        raise UserError(f"checkpoint '{path}' does not fit model '{model.config.name}': "
                        + describe_mismatch(report))
    model.load_state_dict(usable, strict=False)
    return report


def describe_mismatch(report: LoadReport, limit: int = 6) -> str:
    parts = []
    for label, keys in (("missing", report.missing), ("mismatched", report.mismatched),
                        ("unexpected", report.unexpected)):
        if keys:
            more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
            parts.append(f"{label} {len(keys)}: {', '.join(keys[:limit])}{more}")
    return "; ".join(parts)


def save_checkpoint(model: VisionTransformer, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Writes weights + config as one safetensors file, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {"format": CHECKPOINT_FORMAT, "vitsdk_config": json.dumps(model.config.to_dict())}
    meta.update(metadata or {})
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_model(path: str | os.PathLike, model_name: str | None = None, **overrides) -> VisionTransformer:
    """A model rebuilt from a vitsdk checkpoint (config in its metadata), or `model_name` + foreign weights."""
    from vitsdk.models.registry import create_model

    state, metadata = read_state_dict(path)
    if "vitsdk_config" in metadata:
        config = ViTConfig.from_dict(json.loads(metadata["vitsdk_config"])).replace(**overrides)
        model = VisionTransformer(config)
    elif model_name is not None:
        model = create_model(model_name, **overrides)
    else:
        raise UserError(f"'{path}' carries no vitsdk model config; name the architecture with --model "
                        f"(see `vitsdk info --list`)")
    load_pretrained(model, path, strict=True)
    return model
