"""The engine's sizes (`EngineConfig`, recorded in project.json and the bundle manifest) and how vitsdk
chooses them per board (`design_for`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from vitsdk.errors import UserError
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BoardProfile

DDR_BEAT_BYTES = (1, 2, 4, 8, 16, 32, 64)  # weight-stream port widths; the program aligns each layer to the widest
K_FUSE, K_LAYERNORM = 54, 42  # the largest reciprocal's and LayerNorm's 2^k (fpga/rtl/vit_ops.vh)
ROOT_PER_CYCLE = 4  # the shared unit's square-root iterations per cycle (SR in fpga/rtl/vit_shared_units.v)


def _groups(steps: int, per_cycle: int) -> int:
    return -(-steps // per_cycle)


def ln_unit_cycles(recip_latency: int) -> int:
    """Cycles the shared unit (fpga/rtl/vit_shared_units.v) takes for a LayerNorm row's mean, std and 1/std, from
    its go: two 64-step floor divisions (mean, variance) and a finishing cycle after each, the 32-iteration square
    root (ROOT_PER_CYCLE per cycle), then the reciprocal (K_LAYERNORM + 1 steps) starting in the root's last cycle;
    the divider does S steps per cycle, S such that the largest reciprocal (K_FUSE + 1 steps) takes
    `recip_latency` cycles."""
    s = _groups(K_FUSE + 1, recip_latency)
    return 2 * (_groups(64, s) + 1) + _groups(32, ROOT_PER_CYCLE) + _groups(K_LAYERNORM + 1, s) - 1


@dataclass(frozen=True)
class EngineConfig:
    """Sizes of the generated engine (recorded in project.json and the bundle manifest).

    Args:
        tokens: TM, tokens per MAC-array tile (rows of the array).
        outputs: TN, output channels per tile (columns); a multiple of the block rows (one strip per R).
        lanes: L, elements per cycle of the LayerNorm / softmax / token-selection unit.
        ln_latency: cycles the sequencer gives the shared unit for a LayerNorm row's statistics (iterative divider +
            isqrt); at least ln_unit_cycles(recip_latency).
        recip_latency: cycles of the shared unit's reciprocal (once per softmax row and per fused token); its divider
            does ceil(55 / recip_latency) steps per cycle.
        clock_mhz: the clock the latency is stated at (an assumption: timing is not closed here).
        ddr_bytes_per_cycle: weight-stream bandwidth in bytes per clock (board peak x efficiency / clock), at most
            one beat (ddr_beat_bytes) per cycle: the port carries no more, so a larger figure would be recorded but
            never simulated (the testbenches' DDR models and program.fetch_cycles deliver one beat per cycle).
        ddr_latency: cycles from a weight request to its first byte.
        ddr_beat_bytes: DDR_W, bytes per beat of the engine's weight-stream port (16: one 128-bit AXI4 port, the
            width of a Zynq UltraScale+ S_AXI_HP port); one of DDR_BEAT_BYTES.
        weight_buffer_bytes: on-chip bytes for the linears' weights (int8 values, column indices, per-channel
            constants: wmem, xmem, kmem); a model whose weights fit is loaded once, otherwise every linear streams
            from DDR (values, indices and constants alike) through double buffers, each half as large as the
            largest such section.
    """

    tokens: int = 4
    outputs: int = 8
    lanes: int = 4
    ln_latency: int = 40
    recip_latency: int = 4
    clock_mhz: float = 300.0
    ddr_bytes_per_cycle: float = 16.0  # one 16-byte beat per cycle: design_for's figure for the ZCU102/104 and KV260
    ddr_latency: int = 100
    ddr_beat_bytes: int = 16
    weight_buffer_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        for key in ("tokens", "outputs", "lanes"):
            value = getattr(self, key)
            if value < 1 or value > 256:
                raise UserError(f"engine {key} must be in 1..256, got {value}")
        if self.outputs % 2:
            raise UserError(f"engine outputs (TN) must be even (two int8 MACs per DSP), got {self.outputs}")
        if not 1 <= self.recip_latency <= K_FUSE + 1:
            raise UserError(f"engine recip_latency must be in 1..{K_FUSE + 1}, got {self.recip_latency}")
        if self.ln_latency < ln_unit_cycles(self.recip_latency):
            raise UserError(f"engine ln_latency {self.ln_latency} is shorter than the shared unit takes for a LayerNorm "
                            f"row ({ln_unit_cycles(self.recip_latency)} cycles with recip_latency "
                            f"{self.recip_latency}): raise ln_latency")
        if self.ddr_beat_bytes not in DDR_BEAT_BYTES:
            raise UserError(f"engine ddr_beat_bytes must be one of {', '.join(map(str, DDR_BEAT_BYTES))} (a power of "
                            f"two up to the weight image's {DDR_BEAT_BYTES[-1]}-byte alignment), got "
                            f"{self.ddr_beat_bytes}")
        if self.ddr_bytes_per_cycle <= 0:
            raise UserError(f"ddr_bytes_per_cycle must be > 0, got {self.ddr_bytes_per_cycle}")
        if self.ddr_bytes_per_cycle > self.ddr_beat_bytes:
            raise UserError(f"engine ddr_bytes_per_cycle {self.ddr_bytes_per_cycle:g} is more than its weight port "
                            f"carries (ddr_beat_bytes {self.ddr_beat_bytes}: one {self.ddr_beat_bytes}-byte beat per "
                            f"cycle): set ddr_bytes_per_cycle to at most {self.ddr_beat_bytes}, or ddr_beat_bytes to "
                            f"a wider port")

    @property
    def peak_macs_per_cycle(self) -> int:
        """MACs the array issues per cycle when busy (TM x TN)."""
        return self.tokens * self.outputs

    def describe(self) -> str:
        return f"(TM={self.tokens} x TN={self.outputs} MACs, {self.lanes} vector lanes)"

    def to_dict(self) -> dict:
        return asdict(self)


def design_for(profile: BoardProfile, block: BlockShape, **overrides) -> EngineConfig:
    """The engine vitsdk sizes for `profile` (checked against the part by Yosys' count at export): the MAC array
    (TM x TN int8 MACs, two per DSP48E2), the vector lanes (each ~63 DSPs and ~4k LUTs by Yosys, so few), a
    weight buffer of ~70% of BRAM+URAM; the DDR stream at 60% of the board's peak, capped at one beat (DDR_W bytes)
    per cycle: one HP port carries at most one beat per cycle at the PL clock. Every size can be overridden."""
    # TN/R strips each read their own kept column, so the matrices the linears read are copied once per extra
    # strip (buffer_plan.buffer_plan: activation_strips): wide TN costs BRAM, tall TM costs LUTs and skewed banks.
    # An engine that does not fit the part by Yosys' count is re-sized to fewer token lanes (synth.fitted).
    if profile.dsp >= 2000:
        tokens, outputs, lanes = 32, 32, 8
    elif profile.dsp >= 1500:
        tokens, outputs, lanes = 32, 16, 8
    elif profile.dsp >= 1000:
        tokens, outputs, lanes = 16, 16, 4
    else:
        tokens, outputs, lanes = 8, 16, 2
    outputs = max(outputs - outputs % block.rows, block.rows)
    ddr = profile.ddr_gbps * 1e9 * 0.6 / (profile.clock_mhz * 1e6)
    beat = overrides.get("ddr_beat_bytes", EngineConfig.ddr_beat_bytes)
    base = EngineConfig(tokens=tokens, outputs=outputs, lanes=lanes, clock_mhz=profile.clock_mhz,
                        ddr_bytes_per_cycle=min(round(ddr, 3), beat), ddr_beat_bytes=beat,
                        weight_buffer_bytes=int(profile.on_chip_bytes * 0.7))
    return replace(base, **overrides)
