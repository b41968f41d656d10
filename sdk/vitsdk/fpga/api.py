"""Old import path of the FPGA verbs, kept only while tests/test_export.py and tests/test_report_pipeline.py
import `bench_fpga` / `export_fpga` from here instead of `vitsdk.fpga`; delete it when they switch.
The verbs live in `vitsdk.fpga.export`, `vitsdk.fpga.bench`, `vitsdk.fpga.project` and `vitsdk.fpga.rtl`."""
from vitsdk.fpga.bench import bench_fpga, estimate_result, simulated_result, single_figure_latency
from vitsdk.fpga.export import FpgaExport, export_fpga, load_for_fpga, to_fpga
from vitsdk.fpga.project import CSIM_OUTPUTS, bundle_entry, read_project
from vitsdk.fpga.rtl import simulate_project

__all__ = ["CSIM_OUTPUTS", "FpgaExport", "bench_fpga", "bundle_entry", "estimate_result", "export_fpga",
           "load_for_fpga", "read_project", "simulate_project", "simulated_result", "single_figure_latency",
           "to_fpga"]
