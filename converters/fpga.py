"""The fpga target's converter: `vitsdk.fpga.to_fpga` writes the project folder; its Verilator simulation is the check."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vitsdk.converters.registry import ConvertContext, ConvertedFile, register_converter
from vitsdk.converters.targets import Target
from vitsdk.converters.verify import compare

if TYPE_CHECKING:
    from torch import nn

    from vitsdk.converters.verify import ReferenceSet


def verify(target: Target, precision: str, path: Path, reference: ReferenceSet) -> dict[str, Any]:
    """The Verilator simulation's outputs (bit-exact with the integer reference), judged like a runtime's."""
    from vitsdk.fpga import SIM_OUTPUTS

    return compare(target, precision, path, np.load(path / SIM_OUTPUTS), "Verilator simulation of the RTL engine",
                   reference)


@register_converter("fpga", verify=verify)
def convert(model: nn.Module, example_inputs: tuple, path: Path, precision: str,
            context: ConvertContext) -> ConvertedFile:
    from vitsdk.fpga import to_fpga

    start = time.perf_counter()
    info = to_fpga(model, example_inputs, path, precision, calibration=context.calibration,
                   reference=context.reference, board=context.options.board)
    return ConvertedFile(info["precision"], info["exporter"], info["delegate"], info["size_bytes"],
                         round(time.perf_counter() - start, 3),
                         delegation=info.get("delegation"), weight_storage=info.get("weight_storage"),
                         details={"fpga": info["fpga"]})
