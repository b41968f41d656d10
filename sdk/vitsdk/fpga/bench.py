"""`vitsdk bench --device fpga`: the FPGA device with the bench devices' one interface,
`run_fpga(bundle, out_dir, protocol, options, progress) -> [(results path, document)]`.

The engine is simulated, not timed: one Verilator run gives one cycle count, so the measurement
protocol (warm-up, timed runs, cool-down) does not apply and is not used.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from vitsdk.fpga.boards import get_board

if TYPE_CHECKING:
    from vitsdk.bench.protocol import Protocol


@dataclass(frozen=True)
class FpgaOptions:
    """Args:
        board: board profile (`vitsdk.fpga.list_boards()`); the bundle's engine is re-sized when it was
            exported for another board.
        synth: count the engine's resources with Yosys (taken from the export when the board is the same).
    """

    board: str = "zcu102"
    synth: bool = True

    def __post_init__(self) -> None:
        get_board(self.board)  # an unknown board is one error listing the known ones, before any simulation


def results_name(model_file: str) -> str:
    """The results file of a bundle's FPGA member: 'fpga/project.json' -> 'project_json-fpga-fpga.json'."""
    return f"{Path(model_file).name.replace('.', '_')}-fpga-fpga.json"


def run_fpga(bundle: str | os.PathLike, out_dir: str | os.PathLike, protocol: Protocol | None = None,
             options: FpgaOptions = FpgaOptions(), progress: Callable[[str], None] | None = None,
             ) -> list[tuple[Path, dict]]:
    """Simulates the bundle's FPGA engine (`bench_fpga`), validates the results document against the
    results schema and writes it atomically into `out_dir`; returns [(path, document)]."""
    from vitsdk.atomic import write_json
    from vitsdk.fpga.api import bench_fpga
    from vitsdk.formats.results import RESULTS

    if progress:
        progress(f"fpga: simulating {bundle} on the {get_board(options.board).title} engine (Verilator)")
    doc = bench_fpga(bundle, board=options.board, synth=options.synth)
    RESULTS.validate(doc, f"fpga results for {bundle}")
    path = Path(out_dir) / results_name(doc["model"]["file"])
    write_json(path, doc)
    return [(path, doc)]
