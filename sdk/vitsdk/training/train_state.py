"""The trainer's per-epoch checkpoint: everything a resumed run needs to continue exactly.

Written with `torch.save` to a temporary sibling and renamed (a full disk leaves the previous
checkpoint intact), read back with `torch.load(weights_only=True)` (no pickled code runs). Only
tensors, numbers, strings, lists and dicts go in.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import torch

from vitsdk.atomic import atomic_path
from vitsdk.errors import UserError

TRAIN_STATE_FILE = "train_state.pt"
TRAIN_STATE_FORMAT = "vitsdk.train_state/1"


def save_train_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Writes `state` atomically; on failure (e.g. no space left) the previous file is untouched."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            torch.save({"format": TRAIN_STATE_FORMAT, **state}, tmp)
    except OSError as exc:
        reason = "no space left on the device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        kept = "the previous checkpoint is intact" if path.exists() else "no checkpoint was written"
        raise UserError(f"cannot write checkpoint '{path}': {reason}; {kept}") from None
    return path


def load_train_state(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, corrupted, or not ours
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot read training checkpoint '{path}': {first[:200]}") from None
    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT:
        raise UserError(f"'{path}' is not a vitsdk training checkpoint ({TRAIN_STATE_FORMAT})")
    return state


def describe_difference(saved: dict[str, Any], current: dict[str, Any], limit: int = 6) -> str:
    """'model.embed_dim: 64 (checkpoint) vs 32 (now); ...' for every leaf that differs; '' if none."""
    a, b = _flatten(saved), _flatten(current)
    keys = sorted(set(a) | set(b))
    diffs = [f"{k}: {a.get(k, '<absent>')} (checkpoint) vs {b.get(k, '<absent>')} (now)"
             for k in keys if a.get(k, "<absent>") != b.get(k, "<absent>")]
    more = f" (+{len(diffs) - limit} more)" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(data, tuple):
        data = list(data)
    return {prefix.rstrip("."): data}
