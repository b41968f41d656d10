"""Analytical latency / power / energy of the block-sparse accelerator on a board profile (no board needed).

Model (every parameter is returned with the estimate, labelled `estimated`):
- MAC array: `dsp * dsp_fraction` DSPs, each doing `macs_per_dsp` int8 MACs per cycle; it achieves
  `pe_efficiency` of that peak (pipeline fill, control, tile edges). Linear layers cost the MAC slots
  the engine issues: tokens x padded rows x kept columns per block (pruned columns cost nothing,
  padding of unbalanced blocks does). QK^T and AV are dense; AV's 13-bit probabilities take a whole DSP
  per MAC (no int8 packing).
- Nonlinear units (softmax, LayerNorm, GELU) process `nonlinear_lanes` elements per cycle.
- Weights: if they (values + kept indices + per-channel constants) fit in `on_chip_fraction` of
  BRAM+URAM next to the activation buffers, they are loaded once and cost no traffic per inference;
  otherwise every layer streams its weights from DDR at `ddr_efficiency` of the peak bandwidth,
  overlapped with compute (a layer takes the longer of the two).
- Power = static (board idle) + busy DSPs x dsp_mw x (0.3 + 0.7 x utilisation) + DDR W per GB/s;
  energy_mj is the part above idle (as measured runs report it), `energy_total_mj` includes idle.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from vitsdk.errors import UserError
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BoardProfile, get_board
from vitsdk.fpga.extract import FloatLinear, FloatViT, extract
from vitsdk.models import VisionTransformer, keep_count

ESTIMATOR_VERSION = 1


@dataclass(frozen=True)
class EstimateConfig:
    """Assumptions of the estimate (all reported with it).

    Args:
        bits: weight/activation precision of the MAC array (8 or 16).
        dsp_fraction: share of the board's DSPs given to the MAC array.
        pe_efficiency: achieved fraction of the array's peak MAC rate.
        ddr_efficiency: achieved fraction of peak DDR bandwidth.
        on_chip_fraction: share of BRAM+URAM usable for weights and activations.
        nonlinear_lanes: softmax / LayerNorm / GELU elements per cycle.
        clock_mhz: fabric clock; None uses the board profile's.
    """

    bits: int = 8
    dsp_fraction: float = 0.8
    pe_efficiency: float = 0.5
    ddr_efficiency: float = 0.6
    on_chip_fraction: float = 0.8
    nonlinear_lanes: int = 16
    clock_mhz: float | None = None

    def __post_init__(self) -> None:
        if self.bits not in (8, 16):
            raise UserError(f"estimate bits must be 8 or 16, got {self.bits}")
        for key in ("dsp_fraction", "pe_efficiency", "ddr_efficiency", "on_chip_fraction"):
            value = getattr(self, key)
            if not 0.0 < value <= 1.0:
                raise UserError(f"{key} must be in (0, 1], got {value}")
        if self.nonlinear_lanes < 1:
            raise UserError(f"nonlinear_lanes must be >= 1, got {self.nonlinear_lanes}")
        if self.clock_mhz is not None and not 10.0 <= self.clock_mhz <= 1000.0:
            raise UserError(f"clock_mhz must be in 10..1000, got {self.clock_mhz}")


@dataclass
class LayerWork:
    name: str
    tokens: int
    macs: int  # useful multiply-accumulates (nonzero weights)
    slots: int  # MAC slots the engine issues (incl. padding of unbalanced blocks)
    weight_bytes: int  # stored per inference if streamed


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
    value_bytes = strips * block.rows * nblocks * kept * bits // 8
    index_bytes = strips * nblocks * kept * 2
    const_bytes = fl.weight.shape[0] * 9  # int32 bias + int32 multiplier + int8 shift
    macs = tokens * int(np.count_nonzero(fl.weight))
    return LayerWork(name, tokens, macs, slots, value_bytes + index_bytes + const_bytes), tokens * fl.weight.size


def workload(model: VisionTransformer | FloatViT, block_shape: BlockShape | str = BlockShape(), bits: int = 8) -> Workload:
    """The engine's work for `model` (dense, masked or compacted) cut into `block_shape` blocks."""
    block = BlockShape.parse(block_shape)
    fv = model if isinstance(model, FloatViT) else extract(model)
    c = fv.config
    C, D = c.embed_dim, c.head_dim
    n = c.num_patches
    linears, dense = [], 0
    work, d = _linear_work("patch_embed", fv.patch, n, block, bits)
    linears.append(work)
    dense += d
    tokens, counts = 1 + n, []
    attention, nonlinear, widest = 0, 0, C
    for i, fb in enumerate(fv.blocks):
        counts.append(tokens)
        H = fb.qkv.weight.shape[0] // (3 * D)
        for name, fl in (("attn.qkv", fb.qkv), ("attn.proj", fb.proj)):
            work, d = _linear_work(f"blocks.{i}.{name}", fl, tokens, block, bits)
            linears.append(work)
            dense += d
        attention += 2 * tokens * tokens * H * D
        nonlinear += tokens * tokens * H + tokens * C
        if i in c.prune_at and c.keep_rate < 1.0:
            tokens = 1 + keep_count(tokens - 1, c.keep_rate)
        hidden = fb.fc1.weight.shape[0]
        widest = max(widest, hidden, 3 * H * D)
        for name, fl in (("mlp.fc1", fb.fc1), ("mlp.fc2", fb.fc2)):
            work, d = _linear_work(f"blocks.{i}.{name}", fl, tokens, block, bits)
            linears.append(work)
            dense += d
        nonlinear += tokens * C + tokens * hidden
    counts.append(tokens)
    work, d = _linear_work("head", fv.head, 1, block, bits)
    linears.append(work)
    dense += d + attention
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


def estimate(model: VisionTransformer | FloatViT | Workload, board: str | BoardProfile = "zcu102",
             block_shape: BlockShape | str = BlockShape(), config: EstimateConfig | None = None) -> Estimate:
    """Latency, power and energy per inference of `model` on `board` (labelled estimated)."""
    config = config or EstimateConfig()
    profile = board if isinstance(board, BoardProfile) else get_board(board)
    work = model if isinstance(model, Workload) else workload(model, block_shape, config.bits)
    clock_hz = (config.clock_mhz or profile.clock_mhz) * 1e6
    dsps = int(profile.dsp * config.dsp_fraction)
    peak_macs_per_cycle = dsps * profile.macs_per_dsp(config.bits)
    mac_rate = peak_macs_per_cycle * config.pe_efficiency * clock_hz
    budget = int(profile.on_chip_bytes * config.on_chip_fraction) - work.activation_bytes
    on_chip = work.weight_bytes <= budget
    ddr_rate = profile.ddr_gbps * 1e9 * config.ddr_efficiency
    compute_s = memory_s = 0.0
    for layer in work.linears:
        c_s = layer.slots / mac_rate
        m_s = 0.0 if on_chip else layer.weight_bytes / ddr_rate
        compute_s += c_s
        memory_s += max(0.0, m_s - c_s)
    # QK^T is int8 x int8 (packed like the linears); AV multiplies 13-bit probabilities: one MAC per DSP.
    compute_s += work.attention_macs / 2 / mac_rate + work.attention_macs / 2 / (dsps * config.pe_efficiency * clock_hz)
    nonlinear_s = work.nonlinear_elements / (config.nonlinear_lanes * clock_hz)
    latency_s = compute_s + memory_s + nonlinear_s
    utilisation = work.slots / (peak_macs_per_cycle * clock_hz * latency_s)
    clock_ratio = clock_hz / (profile.clock_mhz * 1e6)
    pl_w = dsps * profile.dsp_mw / 1000.0 * clock_ratio * (0.3 + 0.7 * utilisation)
    ddr_gbps_used = 0.0 if on_chip else work.weight_bytes / latency_s / 1e9
    ddr_w = profile.ddr_w_per_gbps * ddr_gbps_used
    power_w = profile.static_w + pl_w + ddr_w
    parameters = {
        "formula": "latency = sum(max(slots/mac_rate, streamed_bytes/ddr_rate)) + qk/mac_rate + av/(mac_rate/packing) + "
                   "nonlinear/(lanes*clock); power = static + dsps*dsp_mw*(0.3+0.7*util) + ddr_w_per_gbps*GB/s",
        "estimator_version": ESTIMATOR_VERSION, "board": profile.name, "part": profile.part,
        "clock_mhz": clock_hz / 1e6, "dsp_count": dsps, "dsp_fraction": config.dsp_fraction,
        "macs_per_dsp": profile.macs_per_dsp(config.bits), "bits": config.bits,
        "pe_efficiency": config.pe_efficiency, "utilisation": round(utilisation, 4),
        "ddr_gbps_peak": profile.ddr_gbps, "ddr_efficiency": config.ddr_efficiency,
        "ddr_gbps_used": round(ddr_gbps_used, 3), "on_chip_bytes": profile.on_chip_bytes,
        "on_chip_fraction": config.on_chip_fraction, "activation_bytes": work.activation_bytes,
        "weight_bytes": work.weight_bytes, "weights_on_chip": on_chip,
        "nonlinear_lanes": config.nonlinear_lanes, "static_power_w": profile.static_w,
        "dsp_mw": profile.dsp_mw, "ddr_w_per_gbps": profile.ddr_w_per_gbps, "block_shape": work.block_shape,
        "macs": work.macs, "mac_slots": work.slots, "energy_total_mj": round(power_w * latency_s * 1e3, 4),
    }
    return Estimate(profile.name, work.model, latency_s * 1e3, compute_s * 1e3, memory_s * 1e3, nonlinear_s * 1e3,
                    power_w, profile.static_w, (power_w - profile.static_w) * latency_s * 1e3,
                    power_w * latency_s * 1e3, on_chip, work.weight_bytes, max(budget, 0), work.macs,
                    work.dense_macs, parameters)
