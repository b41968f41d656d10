"""`vitsdk bench --device fpga`: the FPGA device with the bench devices' one interface,
`run_fpga(bundle, out_dir, protocol, options, progress) -> [(results path, document)]`, and the results
documents of the engine: `bench_fpga` (Verilator-simulated latency, estimated energy) and `estimate_result`
(the quick mode, everything estimated).

The engine is simulated, not timed: one Verilator run gives one cycle count, so the measurement
protocol (warm-up, timed runs, cool-down) does not apply and is not used; a single figure is written as
the median with every spread statistic null (`single_figure_latency`), never as a distribution.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from vitsdk.atomic import write_json
from vitsdk.errors import UserError
from vitsdk.formats.results import RESULTS, model_entry, results_document, results_name
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BoardProfile, get_board
from vitsdk.fpga.engine import design_for
from vitsdk.fpga.program import Program, cycle_model
from vitsdk.fpga.project import bundle_entry, read_project, reference_io
from vitsdk.fpga.quick_mode import ESTIMATOR_VERSION, Estimate
from vitsdk.fpga.rtl import RtlResult, load_project, simulate_program
from vitsdk.fpga.synth import engine_resources, estimate_power, fitted

if TYPE_CHECKING:
    from vitsdk.bench.protocol import Protocol

PROJECT_FILE = "fpga/project.json"  # the model file a results document names when no bundle manifest lists it


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


def run_fpga(bundle: str | os.PathLike, out_dir: str | os.PathLike, protocol: Protocol | None = None,
             options: FpgaOptions = FpgaOptions(), progress: Callable[[str], None] | None = None,
             ) -> list[tuple[Path, dict]]:
    """Simulates the bundle's FPGA engine (`bench_fpga`), validates the results document against the
    results schema and writes it atomically into `out_dir`; returns [(path, document)]."""
    if progress:
        progress(f"fpga: simulating {bundle} on the {get_board(options.board).title} engine (Verilator)")
    doc = bench_fpga(bundle, board=options.board, synth=options.synth)
    RESULTS.validate(doc, f"fpga results for {bundle}")
    path = Path(out_dir) / results_name(doc["model"]["file"], "fpga", "fpga")
    write_json(path, doc)
    return [(path, doc)]


def bench_fpga(bundle: str | os.PathLike, board: str = "zcu102", synth: bool = True) -> dict:
    """`vitsdk bench BUNDLE --device fpga`: latency SIMULATED by Verilator on the bundle's RTL (cycles / the
    stated clock), resources from Yosys, power and energy ESTIMATED from them and the simulated activity;
    numerics: the simulated logits against the integer reference (bit-exact: tolerance 0). The engine is
    the one exported for `board`, or re-sized for it (`engine.design_for`, then `synth.fitted` like an export)
    when the bundle was made for another board. A project from before the RTL (no rtl/) is refused: export it again."""
    folder, project = read_project(bundle)
    profile = get_board(board)
    found = bundle_entry(bundle, folder)
    names = {"model_file": found[1]["path"], "sha256": found[1]["sha256"], "manifest_sha256": found[0]} if found \
        else {"sha256": project.get("weights_sha256")}
    if not (folder / "rtl").is_dir():
        raise UserError(f"{folder} was exported before the RTL engine (no rtl/): export it again with "
                        f"`vitsdk export MODEL --target fpga` to simulate it")
    exported = project["engine"]
    same = exported["board"] == profile.name
    # the exported engine is the one rtl.json records; for another board, design_for's engine, re-sized like an
    # export when it does not fit (synth.fitted)
    program, files = load_project(folder, project, None if same else
                                  design_for(profile, BlockShape.parse(project["block_shape"])))
    resources = None
    if synth and not same:
        program, resources = fitted(program, profile)
    inputs, expected = reference_io(folder, project)
    sim = simulate_program(program, files, inputs)
    if len(set(sim.cycles)) != 1:
        raise RuntimeError(f"the engine's cycle count changed between images: {sim.cycles}")
    quick = cycle_model(program)
    if synth and resources is None:
        resources = exported.get("resources") or engine_resources(program, profile)
    power = estimate_power(program, profile, sim.cycles[0], sim.mac_cycles[0], sim.ddr_bytes[0])
    return simulated_result(project, profile, program, sim, quick, resources, power, expected, same, **names)


def single_figure_latency(ms: float, status: str, method: str) -> dict:
    """The results schema's latency block for one simulated or estimated figure: no timed runs, the figure as
    the median, no spread (null statistics, stability unknown) rather than a fake distribution of one."""
    none = dict.fromkeys(("min_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "std_ms", "trimmed_mean_ms", "cv"))
    return {"status": status, "method": method, "load_ms": None, "first_ms": None, "warmup_runs": 0,
            "warmup_s": 0.0, "runs": 0, "duration_s": 0.0, "median_ms": ms, **none,
            "stability": {"stable": None, "drift": None}}


def _single_figure_protocol() -> dict:
    """Nothing is timed: no warm-up, one "run" (the simulation or the estimate), no power sampling."""
    return {"warmup_runs": 0, "warmup_seconds": 0.0, "min_runs": 1, "min_seconds": 0.0, "max_runs": None,
            "max_seconds": None, "cooldown_seconds": 0.0, "power_sample_period_ms": 1.0}


def _no_thermal() -> dict:
    return {"before": {"state": None, "temperature_c": None}, "after": {"state": None, "temperature_c": None}}


def _device(profile: BoardProfile, os_version: str, clock_mhz: float) -> dict:
    return {"platform": "fpga", "name": profile.title, "manufacturer": "AMD Xilinx", "model": profile.title,
            "soc": profile.part, "os": profile.os, "os_version": os_version, "clock_mhz": clock_mhz}


def _model(project: dict | None, name: str | None, file: str, format: str, sha256: str | None, macs: int | None,
           manifest_sha256: str | None) -> dict:
    """The `model` block of the project's engine (the project's weights when no bundle member names it)."""
    project = project or {}
    model = project.get("model", {})
    return model_entry(name=name, file=file, format=format, sha256=sha256 or project.get("weights_sha256", "0" * 64),
                       size_bytes=project.get("weights_bytes"), precision="int8", macs=macs,
                       input_shape=[1, model["in_chans"], model["img_size"], model["img_size"]] if model else None,
                       manifest_sha256=manifest_sha256)


def _estimated_energy(reason: str, source: str, figures: dict, parameters: dict) -> dict:
    """The `energy` block of an estimate; `figures` holds energy_mj, power_w, idle_power_w and net_power_w."""
    return {"status": "estimated", "method": "analytical_model", "reason": reason, "source": source,
            "energy_mj": figures["energy_mj"], "uncertainty_mj": None, "power_w": figures["power_w"],
            "idle_power_w": figures["idle_power_w"], "net_power_w": figures["net_power_w"],
            "model_parameters": parameters}


def estimate_result(est: Estimate, profile: BoardProfile, project: dict | None = None,
                    numerics: dict | None = None, model_file: str = PROJECT_FILE,
                    sha256: str | None = None, manifest_sha256: str | None = None) -> dict:
    """An estimate as a results document: latency and energy labelled estimated, with parameters.

    An estimate is one figure, not a distribution: `latency.status` says estimated, the figure is the median
    and every other statistic is null (see `single_figure_latency`).
    """
    params = {k: v for k, v in est.parameters.items() if isinstance(v, (str, int, float, bool)) or v is None}
    return results_document(
        run_id=f"fpga-estimate-{profile.name}-{est.model}",
        device=_device(profile, "n/a (estimated, no board attached)", est.parameters["clock_mhz"]),
        runtime={"name": "fpga", "version": None, "delegate": "rtl", "threads": None,
                 "extra": {"latency_method": "estimated", "compute_ms": est.compute_ms, "memory_ms": est.memory_ms,
                           "nonlinear_ms": est.nonlinear_ms, "weights_on_chip": est.weights_on_chip,
                           "block_shape": params.get("block_shape")}},
        model=_model(project, (project or {}).get("model", {}).get("name", est.model), model_file, "rtl", sha256,
                     est.macs, manifest_sha256),
        protocol=_single_figure_protocol(),
        latency=single_figure_latency(est.latency_ms, "estimated",
                                      f"quick mode of the generated engine (vitsdk.fpga.estimate "
                                      f"v{ESTIMATOR_VERSION}) at {est.parameters['clock_mhz']:g} MHz"),
        energy=_estimated_energy("no board attached: analytical model of the block-sparse engine on the board "
                                 "profile", f"vitsdk.fpga.estimate v{params.get('estimator_version')}", est.to_dict(),
                                 params),
        thermal=_no_thermal(),
        numerics=numerics or {"status": "skipped", "reason": "estimate only", "max_abs_diff": None,
                              "tolerance": None, "top1_agree": None})


def _numerics(logits: np.ndarray, expected: np.ndarray, how: str) -> dict:
    diff = np.abs(logits.astype(np.int64) - expected)
    return {"status": "pass" if diff.max() == 0 else "fail", "reason": how, "max_abs_diff": float(diff.max()),
            "tolerance": 0.0, "top1_agree": float(np.mean(logits.argmax(1) == expected.argmax(1)))}


def simulated_result(project: dict, profile: BoardProfile, program: Program, sim: RtlResult, quick: dict,
                     resources: dict | None, power: dict, expected: np.ndarray, same_board: bool,
                     model_file: str = PROJECT_FILE, sha256: str | None = None,
                     manifest_sha256: str | None = None) -> dict:
    """The results document of a simulated run: latency simulated, energy estimated."""
    cfg = program.config
    cycles = sim.cycles[0]
    ms = cycles / (cfg.clock_mhz * 1e3)
    useful = sum(layer["macs"] for layer in program.layers)
    total = (resources or {}).get("total") or {}
    extra = {"latency_method": "simulated", "cycles": cycles, "quick_mode_cycles": quick["cycles"],
             "quick_mode_error": round(quick["cycles"] / cycles - 1, 6), "mac_cycles": sim.mac_cycles[0],
             "stall_cycles": sim.stall_cycles[0], "ddr_bytes": sim.ddr_bytes[0],
             "macs_per_cycle": round(useful / cycles, 2), "peak_macs_per_cycle": cfg.peak_macs_per_cycle,
             "engine": cfg.describe(), "engine_for_board": "exported" if same_board else "re-sized for this board",
             "weights": "streamed from DDR (double-buffered)" if program.streamed else "on chip",
             "block_shape": str(program.block), "fits": (resources or {}).get("fits"),
             **{f"yosys_{k}": v for k, v in total.items()}}
    params = dict(power["parameters"])
    params.update({f"resource_{k}": v for k, v in total.items()})
    params.update({"engine_tokens": cfg.tokens, "engine_outputs": cfg.outputs, "engine_lanes": cfg.lanes,
                   "formula": "energy = macs*pj_mac_int8 + lane_ops*pj_lane_op + sram_bytes*pj_sram_byte + "
                              "ddr_bytes*ddr_w_per_gbps; power = static + energy/latency"})
    name = project.get("model", {}).get("name")
    return results_document(
        run_id=f"fpga-rtl-{profile.name}-{project.get('model', {}).get('name', 'model')}",
        device=_device(profile, "n/a (Verilator simulation of the generated RTL, no board attached)", cfg.clock_mhz),
        runtime={"name": "fpga", "version": None, "delegate": "rtl", "threads": None, "extra": extra},
        model=_model(project, name, model_file, "rtl", sha256, project.get("macs"), manifest_sha256),
        protocol=_single_figure_protocol(),
        latency=single_figure_latency(ms, "simulated", f"Verilator cycle-accurate simulation of the generated "
                                      f"RTL: {cycles} cycles at {cfg.clock_mhz:g} MHz (clock assumed, timing "
                                      f"not closed); DDR a bandwidth/latency model in the testbench"),
        energy=_estimated_energy("no board attached: per-operation energies x simulated activity + board idle "
                                 "power", "vitsdk.fpga.synth (Horowitz ISSCC 2014 x Kuon & Rose 2007)", power, params),
        thermal=_no_thermal(),
        numerics=_numerics(sim.logits, expected, "Verilator simulation of the generated RTL vs the numpy integer "
                                                 "reference"))
