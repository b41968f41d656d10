"""The engine's work per model (`workload`), the quick mode of its latency, power and energy (`estimate`), and
the composition of a whole model's counters from a simulated slice of it (`slice_of`, `slice_program`,
`composed`: a model too long to simulate whole, DeiT-S in benchmarks/fpga.py).

`estimate` is not a separate model of some accelerator: it compiles the model for the engine vitsdk
generates (`vitsdk.fpga.program`) and applies the sequencer's cycle rules (`program.cycle_model`) to the
instruction stream, so it describes exactly the design the export writes; the Verilator simulation of
that design gives the same cycles (tests and benchmarks/fpga.py compare them). Power and energy come
from `vitsdk.fpga.synth.estimate_power` (estimated from the activity). Every figure is `estimated`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from vitsdk.fpga import quant as Q
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BoardProfile, get_board
from vitsdk.fpga.engine import design_for
from vitsdk.fpga.extract import FloatLinear, FloatViT, Ranges, extract
from vitsdk.fpga.program import Program, compile_program, cycle_model
from vitsdk.fpga.weight_image import index_run, section_bytes
from vitsdk.fpga.quant import selected_patches, tokens_after
from vitsdk.fpga.synth import estimate_power, fitted
from vitsdk.models import VisionTransformer

ESTIMATOR_VERSION = 2


@dataclass
class LayerWork:
    name: str
    tokens: int
    macs: int  # useful multiply-accumulates (nonzero weights)
    slots: int  # MAC slots the engine issues (incl. padding of unbalanced blocks)
    weight_bytes: int  # its record of the weight image: on chip, or read from DDR per inference if streamed


@dataclass
class Workload:
    """What one inference costs the engine, independent of the board."""

    model: str
    block_shape: str
    tokens_per_block: list[int]
    linears: list[LayerWork]
    attention_macs: int
    nonlinear_elements: int
    activation_bytes: int
    dense_macs: int  # the same model with dense weights, for comparison

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.linears)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.linears) + self.attention_macs

    @property
    def slots(self) -> int:
        return sum(layer.slots for layer in self.linears) + self.attention_macs


def block_counts(weight: np.ndarray, block: BlockShape) -> tuple[int, int, int, bool]:
    """(strips, column blocks, kept columns per block, balanced) of the engine layout of `weight`'s zeros,
    without building the layout (the estimator runs on DeiT-size models)."""
    out_f, in_f = weight.shape
    R, Cb = block.rows, block.cols
    strips, nblocks = -(-out_f // R), -(-in_f // Cb)
    padded = np.zeros((strips * R, nblocks * Cb), dtype=bool)
    padded[:out_f, :in_f] = weight != 0
    counts = padded.reshape(strips, R, nblocks, Cb).any(axis=1).sum(axis=-1)
    return strips, nblocks, max(1, int(counts.max())), bool(np.all(counts == counts.flat[0]))


def _linear_work(name: str, fl: FloatLinear, tokens: int, block: BlockShape, bits: int) -> tuple[LayerWork, int]:
    strips, nblocks, kept, _ = block_counts(fl.weight, block)
    slots = tokens * strips * block.rows * nblocks * kept
    # the record's sections (program.compile_program): values, 16-bit column indices, two 64-bit constant words
    # (bias, multiplier, shift) per output channel
    record = (section_bytes(strips * block.rows * nblocks * kept * bits // 8, "wmem")
              + section_bytes(strips * index_run(nblocks, kept), "xmem")
              + section_bytes(2 * fl.weight.shape[0], "kmem"))
    macs = tokens * int(np.count_nonzero(fl.weight))
    return LayerWork(name, tokens, macs, slots, record), tokens * fl.weight.size


def workload(model: VisionTransformer | FloatViT, block_shape: BlockShape | str = BlockShape(), bits: int = 8) -> Workload:
    """The engine's work for `model` (dense, masked or compacted) cut into `block_shape` blocks."""
    block = BlockShape.parse(block_shape)
    fv = model if isinstance(model, FloatViT) else extract(model)
    c = fv.config
    C, D = c.embed_dim, c.head_dim
    n = c.num_patches
    layers = [("patch_embed", fv.patch, n)]  # (name, linear, tokens it runs on)
    tokens, counts = 1 + n, []
    attention, nonlinear, widest = 0, 0, C
    for i, fb in enumerate(fv.blocks):
        counts.append(tokens)
        H = fb.qkv.weight.shape[0] // (3 * D)
        layers += [(f"blocks.{i}.attn.qkv", fb.qkv, tokens), (f"blocks.{i}.attn.proj", fb.proj, tokens)]
        attention += 2 * tokens * tokens * H * D
        nonlinear += tokens * tokens * H + tokens * C
        tokens = tokens_after(tokens, selected_patches(c, i, tokens - 1), c.fuse_token)
        hidden = fb.fc1.weight.shape[0]
        widest = max(widest, hidden, 3 * H * D)
        layers += [(f"blocks.{i}.mlp.fc1", fb.fc1, tokens), (f"blocks.{i}.mlp.fc2", fb.fc2, tokens)]
        nonlinear += tokens * C + tokens * hidden
    counts.append(tokens)
    layers.append(("head", fv.head, 1))
    works = [_linear_work(name, fl, t, block, bits) for name, fl, t in layers]
    linears = [work for work, _ in works]
    dense = sum(d for _, d in works) + attention
    T0 = 1 + n
    activation_bytes = T0 * (4 * C + 2 * widest + 4 * widest)  # residual int32, two int8 buffers, int32 acc
    return Workload(c.name, str(block), counts, linears, attention, nonlinear, activation_bytes, dense)


@dataclass
class Estimate:
    """Estimated latency, power and energy of one inference on one board."""

    board: str
    model: str
    latency_ms: float
    compute_ms: float
    memory_ms: float  # weight streaming not hidden behind compute
    nonlinear_ms: float
    power_w: float
    idle_power_w: float
    energy_mj: float  # above idle
    energy_total_mj: float
    weights_on_chip: bool
    weight_bytes: int
    on_chip_budget_bytes: int
    macs: int
    dense_macs: int
    parameters: dict = field(default_factory=dict)

    @property
    def net_power_w(self) -> float:
        return self.power_w - self.idle_power_w

    def to_dict(self) -> dict:
        data = asdict(self)
        data["net_power_w"] = self.net_power_w
        return data


def estimate(model: VisionTransformer | FloatViT, board: str | BoardProfile = "zcu102",
             block_shape: BlockShape | str = BlockShape(), engine: dict | None = None, fit: bool = False
             ) -> Estimate:
    """Latency, power and energy per inference of `model` on the engine vitsdk generates for `board`, by the
    engine's quick mode (labelled estimated): the model is compiled to the engine's instruction stream (its
    shapes and block pattern; activation scales are placeholders, they change no cycle), `program.cycle_model`
    counts its cycles by the sequencer's rules (equal to the Verilator simulation wherever both ran), and
    `synth.estimate_power` turns that activity into power and energy. The engine is `engine.design_for`'s;
    `fit=True` re-sizes it as an export does when it does not fit the part (`synth.fitted`: Yosys, cached)."""
    profile = board if isinstance(board, BoardProfile) else get_board(board)
    block = BlockShape.parse(block_shape)
    fv = model if isinstance(model, FloatViT) else extract(model)
    keys = ("ln1", "q", "k", "v", "av", "ln2", "fc1", "gelu")
    ranges = Ranges(input=4.0, residual=64.0, blocks=[dict.fromkeys(keys, 8.0) for _ in fv.blocks], norm=8.0)
    program = compile_program(Q.quantize(fv, ranges), block, design_for(profile, block, **(engine or {})))
    if fit:
        program, _ = fitted(program, profile, sized_by_user="tokens" in (engine or {}))
    quick = cycle_model(program)
    power = estimate_power(program, profile, quick["cycles"], quick["mac_cycles"], quick["ddr_bytes"])
    cfg = program.config
    clock_hz = cfg.clock_mhz * 1e6
    work = workload(fv, block)
    seconds = quick["cycles"] / clock_hz
    parameters = {"formula": "cycles = program.cycle_model(instruction stream); energy = synth.estimate_power",
                  "estimator_version": ESTIMATOR_VERSION, "board": profile.name, "part": profile.part,
                  "clock_mhz": cfg.clock_mhz, "macs_per_dsp": profile.macs_per_dsp(8), "bits": 8,
                  "engine_tokens": cfg.tokens, "engine_outputs": cfg.outputs, "engine_lanes": cfg.lanes,
                  "cycles": quick["cycles"], "mac_cycles": quick["mac_cycles"], "stall_cycles": quick["stall_cycles"],
                  "ddr_bytes": quick["ddr_bytes"], "weights_on_chip": not program.streamed,
                  "weight_bytes": program.weight_bytes, "block_shape": str(block), "macs": work.macs,
                  **{k: v for k, v in power["parameters"].items() if k not in ("cycles", "clock_mhz", "ddr_bytes")}}
    return Estimate(profile.name, work.model, seconds * 1e3, quick["mac_cycles"] / clock_hz * 1e3,
                    quick["stall_cycles"] / clock_hz * 1e3,
                    (quick["cycles"] - quick["mac_cycles"] - quick["stall_cycles"]) / clock_hz * 1e3,
                    power["power_w"], profile.static_w, power["energy_mj"], power["energy_total_mj"],
                    not program.streamed, program.weight_bytes, cfg.weight_buffer_bytes, work.macs, work.dense_macs,
                    parameters)


# ---- a whole model's counters composed from a simulated slice ----

def slice_of(fv: FloatViT, ranges: Ranges, blocks: list[int]) -> tuple[FloatViT, Ranges]:
    """The model with only `blocks` (patch embedding, those blocks in order, norm and head); a kept block that
    selects tokens still selects, so each sees the token count it sees in the whole model when the slice keeps
    every selecting block before it."""
    c = fv.config
    config = replace(c, depth=len(blocks), prune_at=tuple(i for i, k in enumerate(blocks) if k in c.prune_at))
    return (replace(fv, config=config, blocks=[fv.blocks[k] for k in blocks]),
            replace(ranges, blocks=[ranges.blocks[k] for k in blocks]))


def slice_program(whole: Program, part: Q.QuantViT) -> Program:
    """`part` (a slice of the model `whole` was compiled from) on the whole model's engine, with the whole
    model's weight placement: when the whole streams its weights from DDR, so does the slice, through the
    double buffers of its largest sections (the slice's weights alone would fit on chip and load once, and its
    cycles and DDR bytes would then describe another schedule than the whole's)."""
    program = compile_program(part, whole.block, whole.config)
    if whole.streamed and not program.streamed:
        program = program.with_config(replace(whole.config, weight_buffer_bytes=2 * program.largest_layer_bytes))
    if program.streamed != whole.streamed:
        raise ValueError(f"the slice {'streams' if program.streamed else 'does not stream'} its weights and the "
                         f"whole model {'does' if whole.streamed else 'does not'}: slice more blocks")
    return program


def composed(quick: dict, part_quick: dict, part_sim: dict) -> dict:
    """The whole model's counters: its quick-mode counts, each scaled by simulated / quick mode on the slice."""
    return {k: round(quick[k] * part_sim[k] / part_quick[k]) if part_quick[k] else quick[k] for k in quick}
