"""What a model argument names: `resolve(spec) -> (model, ModelSource)`, the one answer for every verb.

A spec is a registry name (`deit_tiny_patch16_224`: fresh weights), a checkpoint file (vitsdk's own
safetensors with its config, or a timm/DeiT `.pth` with `model_name`), a training run folder (holding
`model.safetensors`) or a pruned artifact folder (holding `sparsity.json`, rebuilt by
`vitsdk.sparsity.load_pruned`). This module sits above both `vitsdk.models` and `vitsdk.sparsity`, so
`models` never needs to import `sparsity` to open a pruned artifact.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from vitsdk.errors import UserError, unknown
from vitsdk.formats.sparsity import is_pruned_artifact, read_sparsity
from vitsdk.hashing import file_sha256
from vitsdk.models.checkpoint import MODEL_FILE, load_model
from vitsdk.models.registry import create_model, list_models
from vitsdk.sparsity.artifact import load_pruned

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


@dataclass
class ModelSource:
    """Where the model came from, for the manifest."""

    kind: str  # registry | checkpoint | run | pruned | module
    spec: str | None = None
    sha256: str | None = None
    sparsity: dict[str, Any] | None = None  # sparsity.json of a pruned artifact

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "spec": self.spec, "sha256": self.sha256}


def resolve(spec: nn.Module | str | os.PathLike, *, model_name: str | None = None, compaction: str = "auto",
            **overrides: Any) -> tuple[nn.Module, ModelSource]:
    """The model `spec` names, in eval mode, and where it came from.

    Args:
        spec: a model object (returned as is), a registry name, a checkpoint file, a training run folder or a
            pruned artifact folder.
        model_name: the architecture of a foreign checkpoint that carries no vitsdk config.
        compaction: how a pruned artifact is rebuilt ('auto', 'gather', 'remove', or 'mask' for the masked
            full-size model that `vitsdk prune` prunes further and the FPGA engine reads); ignored otherwise.
        overrides: ViTConfig fields to change (keep_rate=0.7, img_size=...).
    """
    if isinstance(spec, nn.Module):
        if overrides:
            raise UserError("keep_rate / img_size / attn_keep overrides apply to a model name or checkpoint, not to a "
                            "model object: build the model with them instead")
        return spec.eval(), ModelSource("module")
    text = str(spec)
    path = Path(text)
    if is_pruned_artifact(path):
        document = read_sparsity(path)
        model = load_pruned(path, compaction=compaction, document=document, **overrides)
        return model.eval(), ModelSource("pruned", text, file_sha256(path / MODEL_FILE), document)
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise UserError(f"folder '{path}' has neither {MODEL_FILE} nor sparsity.json; pass a checkpoint file, "
                            f"a training run folder or a model name")
        model = load_model(path / MODEL_FILE, model_name, **overrides)
        return model.eval(), ModelSource("run", text, file_sha256(path / MODEL_FILE))
    if path.exists() or os.sep in text or text.endswith(CHECKPOINT_SUFFIXES):
        model = load_model(path, model_name, **overrides)
        return model.eval(), ModelSource("checkpoint", text, file_sha256(path))
    if text in list_models():
        return create_model(text, **overrides).eval(), ModelSource("registry", text)
    raise unknown("model or checkpoint", text, list_models())


def resolve_model(spec: str | os.PathLike, model_name: str | None = None, **overrides: Any) -> nn.Module:
    """`resolve(spec)[0]`: the model alone, for callers that do not record where it came from."""
    return resolve(spec, model_name=model_name, **overrides)[0]
