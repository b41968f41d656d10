"""The FPGA path: the same (pruned) weights as a fixed-point block-sparse ViT accelerator.

- `export_fpga(model, out_dir)`: int8 quantisation, the HLS C++ project, C simulation checked bit for bit
  against the numpy integer reference (`quant.forward_int`).
- `estimate(model, board)`: the quick mode (cycle rules of the generated engine) of latency / power / energy.
- `bench_fpga(bundle, board)`: Verilator-simulated latency, Yosys resources, estimated energy as a
  results document (`vitsdk.fpga.rtl`, `vitsdk.fpga.synth`); `run_fpga(bundle, out_dir, protocol,
  FpgaOptions(board=...), progress)` writes it, the bench devices' one interface.
- `hwmon`: INA226 power sensors in the Linux hwmon sysfs (used by the board runner, `fpga/board/`).
"""
from vitsdk.fpga.bench import FpgaOptions, bench_fpga, estimate_result, run_fpga
from vitsdk.fpga.export import FpgaExport, export_fpga, load_for_fpga, to_fpga
from vitsdk.fpga.project import CSIM_OUTPUTS, read_project, simulate_project
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BOARDS, BoardProfile, get_board, list_boards
from vitsdk.fpga.estimate import Estimate, estimate, workload
from vitsdk.fpga.quant import QuantConfig, QuantViT, forward_int, quantize

__all__ = [
    "BOARDS", "BlockShape", "BoardProfile", "CSIM_OUTPUTS", "Estimate", "FpgaExport", "FpgaOptions", "QuantConfig",
    "QuantViT", "bench_fpga", "estimate", "estimate_result", "export_fpga", "forward_int", "get_board",
    "list_boards", "load_for_fpga", "quantize", "read_project", "run_fpga", "simulate_project", "to_fpga",
    "workload",
]
