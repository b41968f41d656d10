"""vitsdk: train Vision Transformers with Tri-Level sparsity, block-prune them once, and export and
benchmark the same weights on phones, host and FPGA.

Imports are lazy: `import vitsdk` (and so every CLI call) does not pay for torch until a model is used,
and heavy backends (exporters, runtimes) are imported only by the code that needs them.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "UserError": "vitsdk.errors",
    "ViTConfig": "vitsdk.models",
    "VisionTransformer": "vitsdk.models",
    "create_model": "vitsdk.models",
    "list_models": "vitsdk.models",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vitsdk' has no attribute '{name}'")
