"""vitsdk.converters: export a model to ExecuTorch (.pte), LiteRT (.tflite), Core ML (.mlpackage) and FPGA
bundles, verified against PyTorch in the real runtimes.

Low-level, one file at a time:
    from vitsdk.converters.executorch import to_pte          # .pte via XNNPACK (fp32 | int8)
    from vitsdk.converters.litert import to_tflite           # .tflite (fp32 | fp16 | int8-dynamic | int8)
    from vitsdk.converters.coreml import to_mlpackage        # .mlpackage (fp16 | fp32 compute)
    from vitsdk.bench.runtimes import load                  # load(runtime, path).predict(x): run it here

A whole bundle (manifest.json + files + reference inputs/outputs):
    from vitsdk.converters import export
    bundle = export(model, target="android", output="bundle/")

Backends are imported only when used (they are heavy and optional): each backend module registers its
converter and its check (`registry.register_converter`), and `targets.TARGETS` names the module per target.
"""
from __future__ import annotations

from typing import Any

_LAZY = {
    "export": "vitsdk.converters.bundle",
    "Bundle": "vitsdk.formats.manifest",
    "ExportOptions": "vitsdk.converters.options",
    "TARGETS": "vitsdk.converters.targets",
    "Target": "vitsdk.converters.targets",
    "list_targets": "vitsdk.converters.targets",
    "get_target": "vitsdk.converters.targets",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'vitsdk.converters' has no attribute '{name}'")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = sorted(_LAZY)
