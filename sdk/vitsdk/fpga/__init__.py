"""The FPGA path: the same (pruned) weights as a fixed-point block-sparse ViT accelerator.

- `export_fpga(model, out_dir)` (`export.py`): int8 quantisation and the engine's RTL and program (`rtl.py`),
  its Verilator simulation checked bit for bit against the numpy integer reference (`quant.forward_int`).
- `estimate(model, board)` (`quick_mode.py`): the quick mode (cycle rules of the generated engine) of latency /
  power / energy.
- `bench_fpga(bundle, board)` (`bench.py`): Verilator-simulated latency, Yosys resources (`synth.py`),
  estimated energy as a results document; `run_fpga(bundle, out_dir, protocol, FpgaOptions(board=...),
  progress)` writes it, the bench devices' one interface.
- `axi`: the engine IP's (fpga/rtl/vit_axi.v) AXI4-Lite register map and its driver `AxiEngine`, and `hwmon`:
  INA226 power sensors in the Linux hwmon sysfs (both used by the board runner, `fpga/board/`, without torch).

Imports are lazy, like `vitsdk`'s: `vitsdk.fpga.hwmon` (the board runner's sensors) imports without torch. No
submodule shares a name with a function here (a lazily imported submodule would replace it).
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FpgaOptions": "bench", "bench_fpga": "bench", "estimate_result": "bench", "run_fpga": "bench",
    "FpgaExport": "export", "export_fpga": "export", "load_for_fpga": "export", "to_fpga": "export",
    "SIM_OUTPUTS": "project", "read_project": "project", "simulate_project": "rtl",
    "BlockShape": "blocksparse",
    "BOARDS": "boards", "BoardProfile": "boards", "get_board": "boards", "list_boards": "boards",
    "Estimate": "quick_mode", "estimate": "quick_mode", "workload": "quick_mode",
    "QuantConfig": "quant", "QuantViT": "quant", "forward_int": "quant", "quantize": "quant",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"vitsdk.fpga.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'vitsdk.fpga' has no attribute '{name}'")
