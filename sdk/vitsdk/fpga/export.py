"""`export_fpga` / `to_fpga`: a model becomes an FPGA project folder (the RTL engine's sources and program),
checked bit for bit against the numpy integer reference in Verilator.

Project layout (what `export_fpga` puts in a bundle's `fpga/` folder):
    rtl/                     the engine's Verilog (vit_engine.v, the IP top vit_axi.v, testbenches), its program
                             and buffer images (*.hex; the linears' weights as wmem/xmem/kmem.hex on chip, or as
                             ddr.hex, the weight image streamed from DDR), rtl.json (parameters, sha256 of every file)
    tb/inputs.bin            int8 patches of the reference images
    tb/expected.bin          int32 logits of the numpy integer reference for them
    weights.bin/.json        the quantised arrays as one binary blob plus its layout (for loaders; its sha256
                             names the model in manifests and results)
    sim_outputs.npy          float logits of the Verilator run on the reference inputs (the converter's check)
    project.json             model, quantisation, block shape, layers, scales, engine, overflow report
    board/                   the PYNQ runner (copied from fpga/board/; it needs vitsdk without torch)

The HLS C++ project of earlier versions is retired (why, with the cycle counts: fpga/README.md).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vitsdk.atomic import atomic_path
from vitsdk.errors import DoesNotFit, UserError
from vitsdk.fpga import quant as Q
from vitsdk.fpga import rtl as R
from vitsdk.fpga.engine import EngineConfig, design_for
from vitsdk.fpga.program import compile_program
from vitsdk.fpga.blocksparse import BlockShape, encode
from vitsdk.fpga.boards import BoardProfile, get_board
from vitsdk.fpga.quick_mode import workload
from vitsdk.fpga.extract import FloatViT, calibrate, extract
from vitsdk.fpga.project import EXPECTED, INPUTS, PROJECT_FORMAT, SIM_OUTPUTS, testbench_files, write_io
from vitsdk.fpga.rtl import simulate_project
from vitsdk.fpga.synth import check_fit, fitted
from vitsdk.hashing import bytes_sha256, file_sha256
from vitsdk.resources import fpga_path
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
    rtl: R.RtlResult | None = None  # the Verilator run on the reference inputs (None without `check`)


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
    """Quantises `model`, writes its FPGA project (the RTL engine and its program) to `out_dir` and (with `check`)
    proves the Verilator simulation matches the numpy integer reference bit for bit on the reference inputs.

    Args:
        model: a VisionTransformer (dense, masked or compacted) or a spec `vitsdk.resolve.resolve`
            understands (registry name, checkpoint, run folder, pruned artifact folder).
        out_dir: the project folder (written atomically).
        block_shape: ROWSxCOLS of the engine's blocks; default: the pruned artifact's, else 16x16.
        quant: quantisation settings.
        calibration: float NCHW images, normalised like the model's input, to set activation ranges.
        reference: float NCHW images whose integer outputs go into the project as test vectors
            (default: the first 8 calibration images).
        board: board profile: the engine is sized for it (`engine.design_for`); its part and clock go into
            project.json.
        check: run the RTL simulation (Verilator) on the reference inputs; it must match the integer reference
            bit for bit.
        engine: overrides of the engine sizes (`engine.EngineConfig` fields, e.g. {"tokens": 8}). An engine that
            does not fit the board by Yosys' count is re-sized to fewer token lanes (`synth.fitted`; recorded with
            why in the project's engine resources, `resized`) unless `tokens` is given here.
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
    design = design_for(profile, block, **engine)
    _check_weights_fit(model, fv, calibration, block, design, quant)
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
    program = compile_program(qv, block, design)
    resources = None
    if synth:
        program, resources = fitted(program, profile, sized_by_user="tokens" in engine)
        check_fit(resources, profile, f"the {model.config.name} engine {program.config.describe()}")

    def stage(folder: Path) -> dict:
        R.write_rtl(program, folder)
        return {"engine": {"board": profile.name, **program.config.to_dict(), "streamed": program.streamed,
                           "resources": resources},
                "rtl_sha256": file_sha256(folder / "rtl" / "rtl.json")}

    project = write_project(qv, out_dir, block, patches.reshape(len(patches), -1), expected,
                            {**metadata, "part": profile.part}, stage)
    sim = None
    if check:
        sim, _ = simulate_project(out_dir, project, patches)
        if not np.array_equal(sim.logits, expected):
            bad = int(np.count_nonzero(sim.logits != expected))
            raise RuntimeError(f"the RTL simulation differs from the integer reference in {bad} logits ({out_dir})")
    return FpgaExport(out_dir, project, qv, sim)


def _check_weights_fit(model: VisionTransformer, fv: FloatViT, calibration: torch.Tensor, block: BlockShape,
                       design: EngineConfig, quant: Q.QuantConfig) -> None:
    """Refuses, before the minutes of calibration and overflow checks, a model whose weights cannot stream through
    `design` (or whose blocks do not tile it): that depends on the int8 weights' block-sparse sections alone, which
    do not depend on activation ranges, so a quantisation calibrated on two images compiles to the same sections.
    Any other error of that rough quantisation is left to the real one."""
    try:
        compile_program(Q.quantize(fv, calibrate(model, calibration[:2], percentile=100.0), quant), block, design)
    except DoesNotFit:
        raise
    except UserError:
        pass


def _weights(qv: Q.QuantViT, block: BlockShape) -> tuple[bytes, list[dict], list[dict]]:
    """The quantised arrays as one little-endian blob (8-byte aligned) with its layout, and a summary per linear
    (its block-sparse encoding and the tokens it runs on)."""
    arrays: list[tuple[str, str, np.ndarray]] = []
    layers: list[dict] = []

    def add(name: str, dtype: str, values: np.ndarray) -> None:
        values = np.asarray(values).reshape(-1)
        info = np.iinfo(dtype)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise UserError(f"fixed-point overflow: {name} does not fit {dtype}")
        arrays.append((name, dtype, values.astype(dtype)))

    def linear(ql: Q.QLinear, tokens: int, requant: bool = True) -> None:
        bs = encode(ql.weight, block)
        n = ql.name.replace(".", "_")
        add(f"{n}_index", "uint16", bs.index)
        add(f"{n}_values", "int8", bs.values)
        add(f"{n}_bias", "int32", ql.bias)
        if requant:
            add(f"{n}_m", "int32", ql.m)
            add(f"{n}_shift", "int8", ql.shift)
        layers.append({"name": ql.name, "out": bs.out_features, "in": bs.in_features, "kept_per_block": bs.kept,
                       "col_blocks": bs.col_blocks, "strips": bs.strips, "balanced": bs.balanced,
                       "work_fraction": round(bs.work_fraction, 6), "stored_weights": bs.stored_weights,
                       "nonzero_weights": bs.nonzero, "tokens": tokens})

    def norm(qn: Q.QNorm) -> None:
        add(f"{qn.name.replace('.', '_')}_gain", "int64", qn.gain)
        add(f"{qn.name.replace('.', '_')}_offset", "int64", qn.offset)

    c = qv.config
    add("exp_lut", "int32", qv.exp_lut)
    add("embed", "int32", qv.embed)
    linear(qv.patch, c.num_patches)
    tokens = 1 + c.num_patches
    for b in qv.blocks:
        norm(b.ln1)
        norm(b.ln2)
        linear(b.qkv, tokens)
        linear(b.proj, tokens)
        if b.keep is not None:
            tokens = b.tokens_after(tokens)
        linear(b.fc1, tokens)
        linear(b.fc2, tokens)
        add(f"blocks_{b.index}_gelu", "int8", b.gelu)
    norm(qv.norm)
    linear(qv.head, 1, requant=False)
    layout, chunks, offset = [], [], 0
    for name, dtype, values in arrays:
        data = values.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
        pad = (-offset) % 8
        chunks.append(b"\0" * pad)
        offset += pad
        layout.append({"name": name, "dtype": dtype, "count": int(values.size), "offset": offset, "bytes": len(data)})
        chunks.append(data)
        offset += len(data)
    return b"".join(chunks), layout, layers


def write_project(qv: Q.QuantViT, out_dir: str | os.PathLike, block: BlockShape, patches: np.ndarray,
                  expected: np.ndarray, metadata: dict, stage) -> dict:
    """Writes the project folder atomically (a temp folder renamed into place); returns project.json.
    `stage(folder) -> dict` writes the RTL design into the staged folder and adds to project.json."""
    blob, layout, layers = _weights(qv, block)
    project = {"format": PROJECT_FORMAT, "block_shape": str(block), "tokens_per_block": qv.tokens,
               "layers": layers, "input_scale": qv.input_scale, "residual_scale": qv.residual_scale,
               "logit_scale": [float(s) for s in qv.head.acc_scale], "quant": qv.quant.to_dict(),
               "model": qv.config.to_dict(), "weights_sha256": bytes_sha256(blob), "weights_bytes": len(blob),
               "reference": {"inputs": INPUTS, "expected": EXPECTED, "count": int(len(patches))},
               **metadata}
    with atomic_path(out_dir, is_dir=True) as tmp:
        (tmp / "tb").mkdir()
        # The board runs the shipped runner with vitsdk installed without torch (run_board.py says how).
        (tmp / "board").mkdir()
        shutil.copy(fpga_path("board", "run_board.py"), tmp / "board" / "run_board.py")
        (tmp / "weights.bin").write_bytes(blob)
        (tmp / "weights.json").write_text(json.dumps({"format": "vitsdk.fpga_weights/1", "arrays": layout},
                                                     indent=1) + "\n")
        write_io(tmp / INPUTS, patches, "int8")
        write_io(tmp / EXPECTED, expected, "int32")
        project["reference"]["sha256"] = testbench_files(tmp)
        project.update(stage(tmp))
        (tmp / "project.json").write_text(json.dumps(project, indent=1) + "\n")
        tmp.chmod(0o755)
    return project


def to_fpga(model: VisionTransformer, example_inputs: tuple, path: str | os.PathLike, precision: str = "int8", *,
            calibration: torch.Tensor | None = None, reference: torch.Tensor | None = None,
            block_shape: BlockShape | str | None = None, board: str = "zcu102") -> dict:
    """The converters' interface (like `to_pte`): writes the FPGA project folder at `path`, proves the Verilator
    simulation of the engine bit-exact, and returns the manifest facts {format, runtime, precision, delegate, ...}."""
    if precision != "int8":
        raise UserError(f"the fpga target computes int8 only, got precision '{precision}'")
    if reference is None and example_inputs:
        reference = example_inputs[0]
    ex = export_fpga(model, path, block_shape=block_shape, calibration=calibration, reference=reference,
                     board=board, check=True)
    project = ex.project
    # The RTL simulation's logits in float, so the exporter can compare them with PyTorch like any runtime.
    np.save(Path(path) / SIM_OUTPUTS, Q.logits_float(ex.model, ex.rtl.logits).astype(np.float32))
    return {"format": "fpga", "runtime": "fpga", "precision": "int8", "delegate": "rtl",
            "block_shape": project["block_shape"], "size_bytes": project["weights_bytes"],
            "weights_sha256": project["weights_sha256"], "tokens_per_block": project["tokens_per_block"],
            "rtl_simulation": {"images": len(ex.rtl.cycles), "bit_exact": True, "cycles": ex.rtl.cycles[0],
                               "build_s": round(ex.rtl.build_seconds, 2), "run_s": round(ex.rtl.run_seconds, 2)},
            "int_vs_fp32_max_abs": project["reference_int_vs_fp32_max_abs"],
            "fpga": {"board": project["engine"]["board"], "rtl_sha256": project["rtl_sha256"],
                     "engine": {k: v for k, v in project["engine"].items() if isinstance(v, (int, float, str, bool))},
                     "simulated_cycles": ex.rtl.cycles[0],
                     "resources": (project["engine"]["resources"] or {}).get("total")},
            "exporter": {"vitsdk.fpga": str(project["format"]), "quant": str(project["quant"]["version"])}}
