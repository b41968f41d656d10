"""The FPGA path: the same (pruned) weights as a fixed-point block-sparse ViT accelerator.

- `export_fpga(model, out_dir)`: int8 quantisation, the HLS C++ project, C simulation checked bit for bit
  against the numpy integer reference (`quant.forward_int`).
- `estimate(model, board)`: the quick mode (cycle rules of the generated engine) of latency / power / energy.
- `bench_fpga(bundle, board)`: Verilator-simulated latency, Yosys resources, estimated energy as a
  `vitsdk.results/1` document (`vitsdk.fpga.rtl`, `vitsdk.fpga.synth`).
- `hwmon`: INA226 power sensors in the Linux hwmon sysfs (used by the board runner, `fpga/board/`).
"""
from vitsdk.fpga.api import (FpgaExport, bench_fpga, estimate_result, export_fpga, load_for_fpga, read_project,
                             to_fpga)
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BOARDS, BoardProfile, get_board, list_boards
from vitsdk.fpga.estimate import Estimate, estimate, workload
from vitsdk.fpga.quant import QuantConfig, QuantViT, forward_int, quantize

__all__ = [
    "BOARDS", "BlockShape", "BoardProfile", "Estimate", "FpgaExport", "QuantConfig", "QuantViT",
    "bench_fpga", "estimate", "estimate_result", "export_fpga", "forward_int", "get_board", "list_boards",
    "load_for_fpga", "quantize", "read_project", "to_fpga", "workload",
]
