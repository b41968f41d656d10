"""The pruned-weights artifact: a folder with `model.safetensors` + `sparsity.json` (schema
`schemas/sparsity.schema.json`, `vitsdk.sparsity/1`).

Pruned layers are stored block by block (only the kept values) as `<layer>.weight_blocks`, with the
kept offsets of every block in sparsity.json, so an FPGA loader reads its PE-array tiles directly and
the file shrinks with the ratio. Every tensor carries a sha256; loading checks shapes and checksums
layer by layer and names the layer that does not match, then rebuilds the masked model and compacts it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vitsdk.atomic import atomic_path, write_text
from vitsdk.errors import UserError, check_choice
from vitsdk.formats.sparsity import SPARSITY, SPARSITY_FILE, read_sparsity
from vitsdk.hashing import bytes_sha256, file_sha256
from vitsdk.models.checkpoint import MODEL_FILE, read_state_dict
from vitsdk.models.config import ViTConfig
from vitsdk.models.vision_transformer import VisionTransformer
from vitsdk.sparsity.compact import COMPACTION_MODES, compact, is_compacted
from vitsdk.sparsity.config import BlockPruneConfig
from vitsdk.sparsity.state import BlockMask, block_mask, masked_layers, prune_history, set_block_mask, set_prune_history

BLOCKS_SUFFIX = ".weight_blocks"


def to_blocks(weight: torch.Tensor, mask: BlockMask) -> torch.Tensor:
    """The kept values of a masked weight, block by block: (S, C, br, k) for columns, (S, C, k, bc) for rows."""
    (br, bc), S, C, k = mask.block, mask.strips, mask.chunks, mask.kept_per_block
    w = weight.detach().reshape(S, br, C, bc).permute(0, 2, 1, 3)  # (S, C, br, bc)
    if mask.direction == "columns":
        return torch.gather(w, 3, mask.kept[:, :, None, :].expand(S, C, br, k)).contiguous()
    return torch.gather(w, 2, mask.kept[:, :, :, None].expand(S, C, k, bc)).contiguous()


def from_blocks(blocks: torch.Tensor, mask: BlockMask) -> torch.Tensor:
    """The full-size masked weight from its blocks (the inverse of `to_blocks`)."""
    (br, bc), S, C, k = mask.block, mask.strips, mask.chunks, mask.kept_per_block
    w = blocks.new_zeros(S, C, br, bc)
    if mask.direction == "columns":
        w.scatter_(3, mask.kept[:, :, None, :].expand(S, C, br, k), blocks)
    else:
        w.scatter_(2, mask.kept[:, :, :, None].expand(S, C, k, bc), blocks)
    return w.permute(0, 2, 1, 3).reshape(mask.shape)


def blocks_shape(mask: BlockMask) -> tuple[int, ...]:
    (br, bc), k = mask.block, mask.kept_per_block
    if mask.direction == "columns":
        return (mask.strips, mask.chunks, br, k)
    return (mask.strips, mask.chunks, k, bc)


def tensor_sha256(tensor: torch.Tensor) -> str:
    return bytes_sha256(tensor.detach().contiguous().cpu().numpy().tobytes())


def save_pruned(model: VisionTransformer, folder: str | os.PathLike, finetune: dict | None = None,
                compaction: str = "auto", advice: dict | None = None) -> Path:
    """Writes the artifact folder for a masked (pruned, not compacted) model.

    Each file is written to a temporary name and renamed; the weights go first and sparsity.json
    (which holds their checksums) last, so a crash in between is caught on load as a checksum error.
    """
    from safetensors.torch import save_file

    from vitsdk import __version__
    from vitsdk.models.accounting import count

    if is_compacted(model):
        raise UserError("save_pruned needs the masked model (before compaction); the artifact is rebuilt "
                        "into any compaction mode when loaded")
    layers = masked_layers(model)
    history = prune_history(model)
    if not layers or not history:
        raise UserError("this model carries no block masks: run prune_(model, config) first")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"output '{folder}' exists and is not a folder")
    tensors: dict[str, torch.Tensor] = {}
    entries = []
    pruned_keys = {f"{name}.weight" for name in layers}
    for key, value in model.state_dict().items():
        if key not in pruned_keys:
            tensors[key] = value.detach().float().contiguous().cpu()
    for name, module in layers.items():
        mask = block_mask(module)
        key = name + BLOCKS_SUFFIX
        tensors[key] = to_blocks(module.weight.float().cpu(), mask)
        entries.append({"name": name, "tensor": key, "shape": list(mask.shape), "block": list(mask.block),
                        "direction": mask.direction, "ratio": round(float(mask.ratio), 6),
                        "kept_per_block": mask.kept_per_block, "kept_fraction": round(mask.kept_fraction, 6),
                        "kept": mask.kept.tolist()})
    c = model.config
    dense_model = VisionTransformer(c)
    document = {
        "schema": SPARSITY.tag,
        "created_by": f"vitsdk {__version__}",
        "model": c.to_dict(),
        "token_sparsity": {"keep_rate": c.keep_rate, "attn_keep": c.attn_keep, "attn_mode": c.attn_mode,
                           "fuse_token": c.fuse_token, "prune_at": list(c.prune_at)},
        "prune": history[-1],
        "history": history,
        "finetune": finetune,
        "weights": {"file": MODEL_FILE, "bytes": 0, "sha256": "0" * 64},
        "layers": entries,
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch."),
                        "sha256": tensor_sha256(v)} for k, v in tensors.items()},
        "totals": {"params_dense": count(dense_model).params, "params_stored": sum(v.numel() for v in tensors.values()),
                   "macs_dense": count(dense_model).macs, "macs_compact": count(compact(model, compaction)).macs,
                   "compaction": compaction},
    }
    if advice is not None:  # `vitsdk prune --advise`: the compaction measured fastest, used by load_pruned('auto')
        document["advice"] = advice
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / MODEL_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"format": SPARSITY.tag})
        document["weights"]["bytes"] = tmp.stat().st_size
        document["weights"]["sha256"] = file_sha256(tmp)
    problems = SPARSITY.errors(document)
    if problems:  # a bug, not a user mistake: never write a file our own readers would refuse
        raise RuntimeError(f"sparsity.json would not match its schema: {problems[0]}")
    write_text(folder / SPARSITY_FILE, _dumps(document))
    return folder


def _dumps(document: dict) -> str:
    """Indented JSON, with each layer's kept offsets on one line (DeiT-S 32x32: ~1.5 MB, not ~6 MB)."""
    layers = document["layers"]
    placeholders = [{**layer, "kept": f"@kept{i}@"} for i, layer in enumerate(layers)]
    text = json.dumps({**document, "layers": placeholders}, indent=2)
    for i, layer in enumerate(layers):
        text = text.replace(f'"@kept{i}@"', json.dumps(layer["kept"], separators=(",", ":")), 1)
    return text + "\n"


def load_pruned(path: str | os.PathLike, compaction: str = "auto", *, document: dict | None = None,
                **overrides: Any) -> nn.Module:
    """The model of a pruned artifact folder, compacted (`compaction` 'auto' | 'gather' | 'remove', or
    'mask' for the masked full-size model that can be fine-tuned or pruned further). 'auto' is the mode
    `vitsdk prune --advise` measured fastest when the artifact records one. `document`: its sparsity.json
    when the caller has read it already (`read_sparsity`). `overrides` change the ViTConfig (e.g.
    keep_rate=0.7)."""
    check_choice("compaction", compaction, COMPACTION_MODES)
    folder = Path(path)
    document = read_sparsity(folder) if document is None else document
    weights_path = folder / MODEL_FILE
    tensors, _ = read_state_dict(weights_path)
    if compaction == "auto" and "advice" in document:
        compaction = document["advice"]["chosen"]
    config = ViTConfig.from_dict(document["model"]).replace(**overrides)
    model = VisionTransformer(config)
    _check_tensors(tensors, document, weights_path)
    layers = {entry["name"]: entry for entry in document["layers"]}
    state = {}
    masks: dict[str, BlockMask] = {}
    modules = dict(model.named_modules())
    for name, entry in layers.items():
        module = modules.get(name)
        shape = tuple(entry["shape"])
        if not isinstance(module, nn.Linear) or (module.out_features, module.in_features) != shape:
            have = None if not isinstance(module, nn.Linear) else (module.out_features, module.in_features)
            raise UserError(f"{folder}: layer {name} is {shape[0]}x{shape[1]} in sparsity.json but "
                            f"{'absent' if have is None else f'{have[0]}x{have[1]}'} in model '{config.name}'")
        mask = _mask_of(entry, folder)
        blocks = tensors.get(entry["tensor"])
        if blocks is None:
            raise UserError(f"{weights_path}: layer {name} has no tensor '{entry['tensor']}'")
        if tuple(blocks.shape) != blocks_shape(mask):
            raise UserError(f"{weights_path}: layer {name} weight blocks have shape {tuple(blocks.shape)}, "
                            f"sparsity.json says {blocks_shape(mask)}")
        state[f"{name}.weight"] = from_blocks(blocks.float(), mask)
        masks[name] = mask
    block_keys = {entry["tensor"] for entry in layers.values()}
    for key, value in tensors.items():
        if key not in block_keys:
            state[key] = value
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        what = "; ".join(f"{label}: {', '.join(items[:4])}" for label, items in
                         (("missing", missing), ("unexpected", unexpected), ("shape", wrong)) if items)
        raise UserError(f"{weights_path} does not fit model '{config.name}' ({what})")
    model.load_state_dict(state)
    for name, mask in masks.items():
        set_block_mask(modules[name], mask)
    set_prune_history(model, document["history"])
    model.eval()
    return model if compaction == "mask" else compact(model, compaction)


def _check_tensors(tensors: dict[str, torch.Tensor], document: dict, weights_path: Path) -> None:
    """Per-tensor shape and sha256 against sparsity.json, naming the layer; then the whole file."""
    recorded = document["tensors"]
    for key in sorted(set(recorded) | set(tensors)):
        layer = key.removesuffix(BLOCKS_SUFFIX).rsplit(".", 1)[0] if not key.endswith(BLOCKS_SUFFIX) else \
            key.removesuffix(BLOCKS_SUFFIX)
        if key not in tensors:
            raise UserError(f"{weights_path}: layer {layer}: tensor '{key}' listed in sparsity.json is missing")
        if key not in recorded:
            raise UserError(f"{weights_path}: layer {layer}: tensor '{key}' is not listed in sparsity.json")
        if list(tensors[key].shape) != recorded[key]["shape"]:
            raise UserError(f"{weights_path}: layer {layer}: '{key}' has shape {list(tensors[key].shape)}, "
                            f"sparsity.json says {recorded[key]['shape']}")
        if tensor_sha256(tensors[key]) != recorded[key]["sha256"]:
            raise UserError(f"{weights_path}: layer {layer}: checksum of '{key}' does not match sparsity.json "
                            f"(weights changed after pruning, or the files come from different runs)")
    if file_sha256(weights_path) != document["weights"]["sha256"]:
        raise UserError(f"{weights_path}: file checksum does not match sparsity.json (the tensors match; the file "
                        f"header or metadata changed)")


def _mask_of(entry: dict, folder: Path) -> BlockMask:
    name = entry["name"]
    (out, inp), (br, bc) = entry["shape"], entry["block"]
    direction = entry["direction"]
    if out % br or inp % bc:
        raise UserError(f"{folder}: layer {name}: block {br}x{bc} does not tile {out}x{inp}")
    S, C = out // br, inp // bc
    pieces = bc if direction == "columns" else br
    k = entry["kept_per_block"]
    try:
        kept = torch.tensor(entry["kept"], dtype=torch.long)
    except (ValueError, TypeError):
        raise UserError(f"{folder}: layer {name}: 'kept' is ragged: every block must list {k} offsets") from None
    if tuple(kept.shape) != (S, C, k):
        raise UserError(f"{folder}: layer {name}: 'kept' has shape {tuple(kept.shape)}, expected ({S}, {C}, {k}) "
                        f"for block {br}x{bc} with {k} kept per block")
    if kept.numel() and (int(kept.max()) >= pieces or not bool((kept[..., 1:] > kept[..., :-1]).all())):
        raise UserError(f"{folder}: layer {name}: kept offsets must be sorted, distinct and below {pieces}")
    return BlockMask(shape=(out, inp), block=(br, bc), direction=direction, ratio=float(entry["ratio"]), kept=kept)


def prune_config_of(document: dict) -> BlockPruneConfig:
    return BlockPruneConfig.from_dict(document["prune"])
