"""`export_fpga` / `to_fpga`: a model becomes an FPGA project folder (the HLS C++ project and the RTL engine's
program), checked bit for bit against the numpy integer reference in Verilator and the C simulation."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vitsdk.errors import UserError
from vitsdk.fpga import quant as Q
from vitsdk.fpga import rtl as R
from vitsdk.fpga.engine import design_for
from vitsdk.fpga.program import compile_program
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BoardProfile, get_board
from vitsdk.fpga.quick_mode import workload
from vitsdk.fpga.extract import calibrate, extract
from vitsdk.fpga.csim import CsimResult, run_csim
from vitsdk.fpga.hls import write_project
from vitsdk.fpga.project import CSIM_OUTPUTS
from vitsdk.fpga.rtl import simulate_project
from vitsdk.fpga.synth import check_fit, engine_resources
from vitsdk.hashing import file_sha256
from vitsdk.models import VisionTransformer, count
from vitsdk.resolve import resolve
from vitsdk.sparsity.state import prune_history

DEFAULT_BLOCK = BlockShape(16, 16)


@dataclass
class FpgaExport:
    """What `export_fpga` wrote and checked."""

    path: Path
    project: dict
    model: Q.QuantViT
    csim: CsimResult | None
    rtl: R.RtlResult | None = None


def load_for_fpga(spec: str | os.PathLike) -> tuple[VisionTransformer, BlockShape | None]:
    """A model from a registry name, checkpoint, run folder or pruned artifact (`vitsdk.resolve`); a pruned
    artifact is loaded with its masks as zeros (the engine reads block sparsity from the zeros) and brings its
    block shape."""
    model, source = resolve(spec, compaction="mask")
    return model, (_block_of(source.sparsity) if source.sparsity is not None else None)


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
        model: a VisionTransformer (dense, masked or compacted) or a spec `vitsdk.resolve.resolve`
            understands (registry name, checkpoint, run folder, pruned artifact folder).
        out_dir: the project folder (written atomically).
        block_shape: ROWSxCOLS of the engine's blocks; default: the pruned artifact's, else 16x16.
        quant: quantisation settings.
        calibration: float NCHW images, normalised like the model's input, to set activation ranges.
        reference: float NCHW images whose integer outputs go into the project as test vectors
            (default: the first 8 calibration images).
        board: board profile: the engine is sized for it (`engine.design_for`), its part and clock go into
            build_prj.tcl.
        check: run the RTL simulation (Verilator) and the HLS C simulation (g++) on the reference inputs;
            both must match the integer reference bit for bit.
        engine: overrides of the engine sizes (`engine.EngineConfig` fields, e.g. {"tokens": 8}).
        synth: count the engine's resources with Yosys and refuse a design that does not fit the board.
    """
    artifact_block = None
    if not isinstance(model, VisionTransformer):
        model, artifact_block = load_for_fpga(model)
    elif prune_history(model):  # a masked model straight from prune_
        artifact_block = _block_of({"prune": prune_history(model)[-1]})
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
    program = compile_program(qv, block, design_for(profile, block, **engine))
    resources = None
    if synth:
        resources = engine_resources(program, profile)
        check_fit(resources, profile, f"the {model.config.name} engine {program.config.describe()}")

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
