"""The FPGA path as three verbs: `export_fpga` (model -> HLS project), `bench_fpga` (project -> results),
`estimate` (model -> latency/power/energy on a board profile)."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vitsdk.errors import UserError
from vitsdk.fpga import quant as Q
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BoardProfile, get_board
from vitsdk.fpga.estimate import ESTIMATOR_VERSION, Estimate, workload
from vitsdk.fpga.extract import calibrate, extract
from vitsdk.fpga.hls import PROJECT_FORMAT, CsimResult, read_io, run_csim, write_project
from vitsdk.fpga import rtl as R
from vitsdk.hashing import file_sha256
from vitsdk.models import VisionTransformer, count
from vitsdk.resources import inside

RESULTS_SCHEMA = "vitsdk.results/1"
DEFAULT_BLOCK = BlockShape(16, 16)


CSIM_OUTPUTS = "csim_outputs.npy"  # float logits of the C simulation on the reference inputs


@dataclass
class FpgaExport:
    """What `export_fpga` wrote and checked."""

    path: Path
    project: dict
    model: Q.QuantViT
    csim: CsimResult | None
    rtl: R.RtlResult | None = None


def load_for_fpga(spec: str | os.PathLike) -> tuple[VisionTransformer, BlockShape | None]:
    """A model from a registry name, checkpoint or pruned artifact; a pruned artifact is loaded with its
    masks as zeros (the engine reads block sparsity from the zeros) and brings its block shape."""
    path = Path(spec)
    if path.is_dir() and (path / "sparsity.json").is_file():
        from vitsdk.sparsity import load_pruned, read_sparsity
        document = read_sparsity(path)
        model = load_pruned(path, compaction="mask")
        shape = _block_of(document)
        return model, shape
    from vitsdk.models import resolve_model
    return resolve_model(str(spec)), None


def _block_of(document: dict) -> BlockShape:
    """The engine block for a pruned artifact: its pruning block (the resolved one when the config used 0 for
    a whole dimension). A pruning block the engine cannot map one-to-one onto PEs is an error that says how
    to choose another engine block."""
    prune = document.get("prune") or {}
    shape = list(prune.get("block_shape") or [0, 0])
    if 0 in shape and document.get("layers"):
        shape = list(document["layers"][0]["block"])
    try:
        return BlockShape(int(shape[0]), int(shape[1]))
    except UserError as exc:
        raise UserError(f"pruning block {shape[0]}x{shape[1]} of this artifact: {exc}; pass an engine block "
                        f"shape explicitly (e.g. --block 32x32) to export it anyway") from None


def default_calibration(model: VisionTransformer, count_: int = 256) -> tuple[torch.Tensor, str]:
    """Fashion-MNIST training images for greyscale models, else Gaussian noise (and the project says so)."""
    c = model.config
    if c.in_chans == 1:
        try:
            from vitsdk.data import load_dataset
            data = load_dataset("fashion-mnist", "train").subset(count_, seed=0)
            return data.to_tensor(c.img_size, c.in_chans, c.mean, c.std), f"fashion-mnist train ({count_} images)"
        except UserError:
            pass
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(count_, c.in_chans, c.img_size, c.img_size, generator=generator),
            f"synthetic gaussian ({count_} images): pass real calibration images for accuracy")


def export_fpga(model: VisionTransformer | str | os.PathLike, out_dir: str | os.PathLike, *,
                block_shape: BlockShape | str | None = None, quant: Q.QuantConfig | None = None,
                calibration: torch.Tensor | None = None, reference: torch.Tensor | None = None,
                board: str = "zcu102", check: bool = True, engine: dict | None = None,
                synth: bool = True) -> FpgaExport:
    """Quantises `model`, writes its HLS C++ project to `out_dir` and (with `check`) proves the C simulation
    matches the numpy integer reference bit for bit on the reference inputs.

    Args:
        model: a VisionTransformer (dense, masked or compacted) or a spec `vitsdk.models.resolve_model`
            understands (registry name, checkpoint, pruned artifact folder).
        out_dir: the project folder (written atomically).
        block_shape: ROWSxCOLS of the engine's blocks; default: the pruned artifact's, else 16x16.
        quant: quantisation settings.
        calibration: float NCHW images, normalised like the model's input, to set activation ranges.
        reference: float NCHW images whose integer outputs go into the project as test vectors
            (default: the first 8 calibration images).
        board: board profile: the engine is sized for it (`rtl.design_for`), its part and clock go into
            build_prj.tcl.
        check: run the RTL simulation (Verilator) and the HLS C simulation (g++) on the reference inputs;
            both must match the integer reference bit for bit.
        engine: overrides of the engine sizes (`rtl.EngineConfig` fields, e.g. {"tokens": 8}).
        synth: count the engine's resources with Yosys and refuse a design that does not fit the board.
    """
    artifact_block = None
    if not isinstance(model, VisionTransformer):
        model, artifact_block = load_for_fpga(model)
    elif getattr(model, "prune_history", None):  # a masked model straight from prune_
        artifact_block = _block_of({"prune": model.prune_history[-1]})
    block = BlockShape.parse(block_shape) if block_shape is not None else (artifact_block or DEFAULT_BLOCK)
    profile = get_board(board)
    quant = quant or Q.QuantConfig()
    was_training = model.training
    model.eval()
    try:
        return _export(model, Path(out_dir), block, profile, quant, calibration, reference, check, engine or {},
                       synth)
    finally:
        model.train(was_training)


def _export(model: VisionTransformer, out_dir: Path, block: BlockShape, profile: BoardProfile, quant: Q.QuantConfig,
            calibration: torch.Tensor | None, reference: torch.Tensor | None, check: bool, engine: dict,
            synth: bool) -> FpgaExport:
    source = "given"
    if calibration is None:
        calibration, source = default_calibration(model)
    calibration = torch.as_tensor(calibration).float()
    model.check_input(calibration)
    reference = calibration[:8] if reference is None else torch.as_tensor(reference).float()
    model.check_input(reference)
    fv = extract(model)
    ranges = calibrate(model, calibration, percentile=quant.percentile)
    qv = Q.quantize(fv, ranges, quant)
    report = Q.overflow_report(qv, calibration.numpy())
    Q.check_overflow(report, quant.max_saturation)
    patches = Q.quantize_input(qv, reference.numpy())
    expected = Q.forward_int(qv, patches)
    with torch.no_grad():
        fp32 = model(reference).double().numpy()
    work = workload(fv, block, bits=8)
    metadata = {"calibration": source, "overflow": report, "board": profile.name, "macs": count(model).macs,
                "workload": asdict(work),
                "reference_fp32_logits": fp32.tolist(),
                "reference_int_vs_fp32_max_abs": float(np.abs(Q.logits_float(qv, expected) - fp32).max())}
    program = R.compile_program(qv, block, R.design_for(profile, block, **engine))
    resources = None
    if synth:
        from vitsdk.fpga.synth import check_fit, engine_resources
        resources = engine_resources(program, profile)
        check_fit(resources, profile, f"the {model.config.name} engine {design_name(program.config)}")

    def stage(folder: Path) -> dict:
        R.write_rtl(program, folder)
        return {"engine": {"board": profile.name, **program.config.to_dict(), "streamed": program.streamed,
                           "resources": resources},
                "rtl_sha256": file_sha256(folder / "rtl" / "rtl.json")}

    project = write_project(qv, out_dir, block, patches.reshape(len(patches), -1), expected, metadata,
                            part=profile.part, clock_ns=round(1000.0 / profile.clock_mhz, 3), stage=stage)
    csim = sim = None
    if check:
        csim = run_csim(out_dir)
        sim, _ = simulate_project(out_dir, project, patches)
        for name, got in (("the RTL simulation", sim.logits), ("the C simulation", csim.logits)):
            if not np.array_equal(got, expected):
                bad = int(np.count_nonzero(got != expected))
                raise RuntimeError(f"{name} differs from the integer reference in {bad} logits ({out_dir})")
    return FpgaExport(out_dir, project, qv, csim, sim)


def design_name(config: R.EngineConfig) -> str:
    return f"(TM={config.tokens} x TN={config.outputs} MACs, {config.lanes} vector lanes)"


def simulate_project(folder: Path, project: dict, patches: np.ndarray | None = None,
                     config: R.EngineConfig | None = None) -> tuple[R.RtlResult, R.Program]:
    """Runs the project's RTL in Verilator (built from its sha256-verified sources in the cache) on `patches`
    (default: its reference inputs), on its own engine or on `config`."""
    record = R.read_rtl(folder)
    files = R.verified_files(folder, record, project.get("rtl_sha256"))
    program = R.load_program(record, files, config)
    if patches is None:
        patches = read_io(folder / "tb" / "inputs.bin", "int8").reshape(-1, *program.input_shape)
    return R.simulate(files, program.parameters(), patches), program


def to_fpga(model: VisionTransformer, example_inputs: tuple, path: str | os.PathLike, precision: str = "int8", *,
            calibration: torch.Tensor | None = None, reference: torch.Tensor | None = None,
            block_shape: BlockShape | str | None = None, board: str = "zcu102") -> dict:
    """The converters' interface (like `to_pte`): writes the FPGA project folder at `path`, proves the C
    simulation bit-exact, and returns the manifest facts {format, runtime, precision, delegate, ...}."""
    if precision != "int8":
        raise UserError(f"the fpga target computes int8 only, got precision '{precision}'")
    if reference is None and example_inputs:
        reference = example_inputs[0]
    ex = export_fpga(model, path, block_shape=block_shape, calibration=calibration, reference=reference,
                     board=board, check=True)
    project = ex.project
    # The C simulation's logits in float, so the exporter can compare them with PyTorch like any runtime.
    np.save(Path(path) / CSIM_OUTPUTS, Q.logits_float(ex.model, ex.csim.logits).astype(np.float32))
    return {"format": "fpga", "runtime": "fpga", "precision": "int8", "delegate": "hls",
            "block_shape": project["block_shape"], "size_bytes": project["weights_bytes"],
            "weights_sha256": project["weights_sha256"], "tokens_per_block": project["tokens_per_block"],
            "csim": {"images": ex.csim.images, "bit_exact": True, "images_per_s": round(ex.csim.images_per_second, 2),
                     "compile_s": round(ex.csim.compile_seconds, 2)},
            "int_vs_fp32_max_abs": project["reference_int_vs_fp32_max_abs"],
            "fpga": {"board": project["engine"]["board"], "rtl_sha256": project["rtl_sha256"],
                     "engine": {k: v for k, v in project["engine"].items() if isinstance(v, (int, float, str, bool))},
                     "simulated_cycles": ex.rtl.cycles[0],
                     "resources": (project["engine"]["resources"] or {}).get("total")},
            "exporter": {"vitsdk.fpga": str(project["format"]), "quant": str(project["quant"]["version"])}}


def _fpga_entries(path: Path) -> tuple[bytes, list[dict]]:
    """The raw manifest.json of a bundle at `path` and its fpga `files[]` entries (none if it has no
    readable manifest)."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return b"", []
    raw = manifest.read_bytes()
    try:
        files = json.loads(raw).get("files", [])
    except (json.JSONDecodeError, AttributeError):
        return raw, []
    return raw, [f for f in files if isinstance(f, dict) and f.get("runtime") == "fpga" and isinstance(f.get("path"), str)]


def bundle_entry(path: str | os.PathLike, folder: Path) -> tuple[str, dict] | None:
    """(manifest sha256, its files[] entry) when `path` is a bundle whose manifest lists the project `folder`,
    so results name the bundle the way the host and phone runners do (the report matches them by these)."""
    raw, entries = _fpga_entries(Path(path))
    for entry in entries:
        if isinstance(entry.get("sha256"), str) and (Path(path) / entry["path"]).resolve() == folder.resolve():
            return hashlib.sha256(raw).hexdigest(), entry
    return None


def read_project(path: str | os.PathLike) -> tuple[Path, dict]:
    """The FPGA project in `path`: a project folder, or a bundle whose manifest names one (else fpga/)."""
    path = Path(path)
    _, entries = _fpga_entries(path)
    # a manifest path is confined to the bundle in code, as every other bundle reader does
    candidates = [path] + [inside(path, f["path"], f"{path / 'manifest.json'} files[]") for f in entries]
    candidates.append(path / "fpga")
    for folder in candidates:
        if (folder / "project.json").is_file():
            project = json.loads((folder / "project.json").read_text())
            if project.get("format") != PROJECT_FORMAT:
                raise UserError(f"{folder / 'project.json'} is not a vitsdk FPGA project "
                                f"(format {project.get('format')!r})")
            return folder, project
    raise UserError(f"{path} has no FPGA project (project.json): export it first with "
                    f"`vitsdk export MODEL --target fpga` (it needs the pruned artifact or a checkpoint)")


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def single_figure_latency(ms: float, status: str, method: str) -> dict:
    """The results schema's latency block for one simulated or estimated figure: no timed runs, the figure as
    the median, no spread (null statistics, stability unknown) rather than a fake distribution of one."""
    none = dict.fromkeys(("min_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "std_ms", "trimmed_mean_ms", "cv"))
    return {"status": status, "method": method, "load_ms": None, "first_ms": None, "warmup_runs": 0,
            "warmup_s": 0.0, "runs": 0, "duration_s": 0.0, "median_ms": ms, **none,
            "stability": {"stable": None, "drift": None}}


def estimate_result(est: Estimate, profile: BoardProfile, project: dict | None = None,
                    numerics: dict | None = None, model_file: str = "fpga/project.json",
                    sha256: str | None = None, manifest_sha256: str | None = None) -> dict:
    """An estimate as a `vitsdk.results/1` document: latency and energy labelled estimated, with parameters.

    An estimate is one figure, not a distribution: `latency.status` says estimated, the figure is the median
    and every other statistic is null (see `single_figure_latency`).
    """
    model = (project or {}).get("model", {})
    latency = single_figure_latency(est.latency_ms, "estimated",
                                    f"quick mode of the generated engine (vitsdk.fpga.estimate v{ESTIMATOR_VERSION}) at "
                                    f"{est.parameters['clock_mhz']:g} MHz")
    params = {k: v for k, v in est.parameters.items() if isinstance(v, (str, int, float, bool)) or v is None}
    return {
        "schema": RESULTS_SCHEMA, "run_id": f"fpga-estimate-{profile.name}-{est.model}",
        "created_utc": _utc_now(), "status": "complete", "error": None,
        "tool": {"name": "vitsdk", "version": _version()},
        "device": {"platform": "fpga", "name": profile.title, "manufacturer": "AMD Xilinx", "model": profile.title,
                   "soc": profile.part, "os": profile.os, "os_version": "n/a (estimated, no board attached)",
                   "clock_mhz": est.parameters["clock_mhz"]},
        "runtime": {"name": "fpga", "version": None, "delegate": "hls", "threads": None,
                    "extra": {"latency_method": "estimated", "compute_ms": est.compute_ms,
                              "memory_ms": est.memory_ms, "nonlinear_ms": est.nonlinear_ms,
                              "weights_on_chip": est.weights_on_chip, "block_shape": params.get("block_shape")}},
        "model": {"name": model.get("name", est.model), "file": model_file, "format": "hls",
                  "sha256": sha256 or (project or {}).get("weights_sha256", "0" * 64),
                  "size_bytes": (project or {}).get("weights_bytes"), "precision": "int8",
                  "macs": est.macs, "input_shape": [1, model["in_chans"], model["img_size"], model["img_size"]]
                  if model else None, "manifest_sha256": manifest_sha256},
        "protocol": {"warmup_runs": 0, "warmup_seconds": 0.0, "min_runs": 1, "min_seconds": 0.0, "max_runs": None,
                     "max_seconds": None, "cooldown_seconds": 0.0, "power_sample_period_ms": 1.0},
        "latency": latency,
        "energy": {"status": "estimated", "method": "analytical_model",
                   "reason": "no board attached: analytical model of the block-sparse engine on the board profile",
                   "source": f"vitsdk.fpga.estimate v{params.get('estimator_version')}", "energy_mj": est.energy_mj,
                   "uncertainty_mj": None, "power_w": est.power_w, "idle_power_w": est.idle_power_w,
                   "net_power_w": est.net_power_w, "model_parameters": params},
        "thermal": {"before": {"state": None, "temperature_c": None}, "after": {"state": None, "temperature_c": None}},
        "numerics": numerics or {"status": "skipped", "reason": "estimate only", "max_abs_diff": None,
                                 "tolerance": None, "top1_agree": None},
    }


def _version() -> str:
    import vitsdk
    return vitsdk.__version__


def bench_fpga(bundle: str | os.PathLike, board: str = "zcu102", synth: bool = True) -> dict:
    """`vitsdk bench BUNDLE --device fpga`: latency SIMULATED by Verilator on the bundle's RTL (cycles / the
    stated clock), resources from Yosys, power and energy ESTIMATED from them and the simulated activity;
    numerics: the simulated logits against the integer reference (bit-exact: tolerance 0). The engine is
    the one exported for `board`, or re-sized for it (`rtl.design_for`) when the bundle was made for another
    board. A project from before the RTL (no rtl/) is refused: export it again."""
    folder, project = read_project(bundle)
    profile = get_board(board)
    found = bundle_entry(bundle, folder)
    names = {"model_file": found[1]["path"], "sha256": found[1]["sha256"], "manifest_sha256": found[0]} if found \
        else {"sha256": project.get("weights_sha256")}
    if not (folder / "rtl").is_dir():
        raise UserError(f"{folder} was exported before the RTL engine (no rtl/): export it again with "
                        f"`vitsdk export MODEL --target fpga` to simulate it")
    exported = project["engine"]
    block = BlockShape.parse(project["block_shape"])
    same = exported["board"] == profile.name
    design = R.EngineConfig(**{k: exported[k] for k in R.EngineConfig.__dataclass_fields__}) if same \
        else R.design_for(profile, block)
    sim, program = simulate_project(folder, project, config=design)
    expected = read_io(folder / "tb" / "expected.bin", "int32")
    if len(set(sim.cycles)) != 1:
        raise RuntimeError(f"the engine's cycle count changed between images: {sim.cycles}")
    quick = R.cycle_model(program)
    resources = None
    if synth:
        from vitsdk.fpga.synth import engine_resources
        resources = exported.get("resources") if same and exported.get("resources") else \
            engine_resources(program, profile)
    from vitsdk.fpga.synth import estimate_power
    power = estimate_power(program, profile, sim.cycles[0], sim.mac_cycles[0], sim.ddr_bytes[0])
    return simulated_result(project, profile, program, sim, quick, resources, power, expected, same, **names)


def _numerics(logits: np.ndarray, expected: np.ndarray, how: str) -> dict:
    diff = np.abs(logits.astype(np.int64) - expected)
    return {"status": "pass" if diff.max() == 0 else "fail", "reason": how, "max_abs_diff": float(diff.max()),
            "tolerance": 0.0, "top1_agree": float(np.mean(logits.argmax(1) == expected.argmax(1)))}


def simulated_result(project: dict, profile: BoardProfile, program: R.Program, sim: R.RtlResult, quick: dict,
                     resources: dict | None, power: dict, expected: np.ndarray, same_board: bool,
                     model_file: str = "fpga/project.json", sha256: str | None = None,
                     manifest_sha256: str | None = None) -> dict:
    """The `vitsdk.results/1` document of a simulated run: latency simulated, energy estimated."""
    cfg = program.config
    cycles = sim.cycles[0]
    ms = cycles / (cfg.clock_mhz * 1e3)
    useful = sum(layer["macs"] for layer in program.layers)
    model = project.get("model", {})
    total = (resources or {}).get("total") or {}
    extra = {"latency_method": "simulated", "cycles": cycles, "quick_mode_cycles": quick["cycles"],
             "quick_mode_error": round(quick["cycles"] / cycles - 1, 6), "mac_cycles": sim.mac_cycles[0],
             "stall_cycles": sim.stall_cycles[0], "ddr_bytes": sim.ddr_bytes[0],
             "macs_per_cycle": round(useful / cycles, 2), "peak_macs_per_cycle": cfg.tokens * cfg.outputs,
             "engine": design_name(cfg), "engine_for_board": "exported" if same_board else "re-sized for this board",
             "weights": "streamed from DDR (double-buffered)" if program.streamed else "on chip",
             "block_shape": str(program.block), "fits": (resources or {}).get("fits"),
             **{f"yosys_{k}": v for k, v in total.items()}}
    params = {k: v for k, v in power["parameters"].items()}
    params.update({f"resource_{k}": v for k, v in total.items()})
    params.update({"engine_tokens": cfg.tokens, "engine_outputs": cfg.outputs, "engine_lanes": cfg.lanes,
                   "formula": "energy = macs*pj_mac_int8 + lane_ops*pj_lane_op + sram_bytes*pj_sram_byte + "
                              "ddr_bytes*ddr_w_per_gbps; power = static + energy/latency"})
    return {
        "schema": RESULTS_SCHEMA, "run_id": f"fpga-rtl-{profile.name}-{model.get('name', 'model')}",
        "created_utc": _utc_now(), "status": "complete", "error": None,
        "tool": {"name": "vitsdk", "version": _version()},
        "device": {"platform": "fpga", "name": profile.title, "manufacturer": "AMD Xilinx", "model": profile.title,
                   "soc": profile.part, "os": profile.os,
                   "os_version": "n/a (Verilator simulation of the generated RTL, no board attached)",
                   "clock_mhz": cfg.clock_mhz},
        "runtime": {"name": "fpga", "version": None, "delegate": "rtl", "threads": None, "extra": extra},
        "model": {"name": model.get("name"), "file": model_file, "format": "rtl",
                  "sha256": sha256 or project.get("weights_sha256", "0" * 64),
                  "size_bytes": project.get("weights_bytes"), "precision": "int8", "macs": project.get("macs"),
                  "input_shape": [1, model["in_chans"], model["img_size"], model["img_size"]] if model else None,
                  "manifest_sha256": manifest_sha256},
        "protocol": {"warmup_runs": 0, "warmup_seconds": 0.0, "min_runs": 1, "min_seconds": 0.0, "max_runs": None,
                     "max_seconds": None, "cooldown_seconds": 0.0, "power_sample_period_ms": 1.0},
        "latency": single_figure_latency(ms, "simulated", f"Verilator cycle-accurate simulation of the generated "
                                         f"RTL: {cycles} cycles at {cfg.clock_mhz:g} MHz (clock assumed, timing "
                                         f"not closed); DDR a bandwidth/latency model"),
        "energy": {"status": "estimated", "method": "analytical_model",
                   "reason": "no board attached: per-operation energies x simulated activity + board idle power",
                   "source": "vitsdk.fpga.synth (Horowitz ISSCC 2014 x Kuon & Rose 2007)",
                   "energy_mj": power["energy_mj"], "uncertainty_mj": None, "power_w": power["power_w"],
                   "idle_power_w": power["idle_power_w"], "net_power_w": power["net_power_w"],
                   "model_parameters": params},
        "thermal": {"before": {"state": None, "temperature_c": None}, "after": {"state": None, "temperature_c": None}},
        "numerics": _numerics(sim.logits, expected, "Verilator simulation of the generated RTL vs the numpy "
                                                    "integer reference"),
    }
