"""FPGA board profiles for the analytical estimator: the single table of known boards.

Resource counts are the parts' data-sheet figures (AMD DS891 Zynq UltraScale+ / DS190 Zynq-7000
overviews, board user guides). The power figures are ASSUMPTIONS of the estimate, not measurements:
`static_w` is the board's idle power with the processing system running Linux (typical published
idle readings), `dsp_mw` the dynamic power of one busy DSP slice with its share of fabric, BRAM and
routing in a MAC array at `clock_mhz` (Xilinx Power Estimator order of magnitude for 8-bit MAC
arrays), `ddr_w_per_gbps` the DDR interface + memory power per GB/s of traffic (~20 pJ/bit for
DDR4 at the board). Every estimate carries them in its `model_parameters`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from vitsdk.errors import unknown

BRAM36_BYTES = 4608  # one block RAM (RAMB36): 36 Kb
URAM_BYTES = 36864  # one UltraRAM block: 288 Kb


@dataclass(frozen=True)
class BoardProfile:
    """One FPGA board as the estimator sees it.

    Args:
        name: registry key (lower case).
        title: human name.
        part: FPGA part number.
        dsp: DSP slices.
        clock_mhz: fabric clock the accelerator is assumed to close timing at.
        bram_bytes: block RAM capacity.
        uram_bytes: UltraRAM capacity (0 when the part has none).
        ddr_gbps: peak PL-accessible DDR bandwidth in GB/s.
        macs_per_dsp_int8: int8 MACs one DSP does per cycle (2 on DSP48E2 with input packing).
        macs_per_dsp_int16: 16-bit MACs per DSP per cycle.
        static_w: board idle power (PS running, PL configured, idle), assumed.
        dsp_mw: dynamic mW per busy DSP (with its fabric/BRAM share) at clock_mhz, assumed.
        ddr_w_per_gbps: DDR dynamic power per GB/s of traffic, assumed.
        os: what the board runs (for the results file).
        lut, ff: the part's LUTs and flip-flops (data sheet), for the Yosys fit check.
        family: Yosys `synth_xilinx -family` of the part.
    """

    name: str
    title: str
    part: str
    dsp: int
    clock_mhz: float
    bram_bytes: int
    uram_bytes: int
    ddr_gbps: float
    macs_per_dsp_int8: int
    macs_per_dsp_int16: int
    static_w: float
    dsp_mw: float
    ddr_w_per_gbps: float
    os: str = "pynq"
    lut: int = 0
    ff: int = 0
    family: str = "xcup"

    @property
    def bram36(self) -> int:
        return self.bram_bytes // BRAM36_BYTES

    @property
    def uram(self) -> int:
        """UltraRAM blocks of the part."""
        return self.uram_bytes // URAM_BYTES

    @property
    def on_chip_bytes(self) -> int:
        return self.bram_bytes + self.uram_bytes

    def macs_per_dsp(self, bits: int) -> int:
        return self.macs_per_dsp_int8 if bits <= 8 else self.macs_per_dsp_int16

    def to_dict(self) -> dict:
        return asdict(self)


_KB = 1024
BOARDS: dict[str, BoardProfile] = {b.name: b for b in [
    # XCZU9EG: 2520 DSP48E2, 912 BRAM36 (32.1 Mb), no URAM; PL DDR4 64-bit 2400 MT/s.
    BoardProfile("zcu102", "ZCU102", "xczu9eg-ffvb1156-2-e", 2520, 300.0, 912 * BRAM36_BYTES, 0, 19.2, 2, 1,
                 static_w=4.5, dsp_mw=2.4, ddr_w_per_gbps=0.16, lut=274080, ff=548160),
    # XCZU7EV: 1728 DSP48E2, 312 BRAM36 (11 Mb), 96 URAM (27 Mb); PS DDR4 64-bit 2400 MT/s.
    BoardProfile("zcu104", "ZCU104", "xczu7ev-ffvc1156-2-e", 1728, 300.0, 312 * BRAM36_BYTES, 96 * URAM_BYTES, 19.2, 2, 1,
                 static_w=4.0, dsp_mw=2.4, ddr_w_per_gbps=0.16, lut=230400, ff=460800),
    # K26 SOM (XCK26): 1248 DSP48E2, 144 BRAM36 (5.1 Mb), 64 URAM (18 Mb); DDR4 64-bit 2400 MT/s.
    BoardProfile("kv260", "Kria KV260", "xck26-sfvc784-2lv-c", 1248, 300.0, 144 * BRAM36_BYTES, 64 * URAM_BYTES, 19.2, 2, 1,
                 static_w=3.0, dsp_mw=2.2, ddr_w_per_gbps=0.16, lut=117120, ff=234240),
    # XCZU3EG: 360 DSP48E2, 216 BRAM36 (7.6 Mb); LPDDR4 32-bit 2133 MT/s.
    BoardProfile("ultra96v2", "Ultra96-V2", "xczu3eg-sbva484-1-e", 360, 250.0, 216 * BRAM36_BYTES, 0, 8.5, 2, 1,
                 static_w=2.5, dsp_mw=2.0, ddr_w_per_gbps=0.16, lut=70560, ff=141120),
    # XC7Z020: 220 DSP48E1 (no int8 packing), 140 BRAM36 (4.9 Mb); DDR3 16-bit 1066 MT/s.
    BoardProfile("pynq-z2", "PYNQ-Z2", "xc7z020clg400-1", 220, 125.0, 140 * BRAM36_BYTES, 0, 2.1, 1, 1,
                 static_w=1.6, dsp_mw=1.5, ddr_w_per_gbps=0.2, lut=53200, ff=106400, family="xc7"),
]}


def list_boards() -> list[str]:
    return sorted(BOARDS)


def get_board(name: str) -> BoardProfile:
    """The profile of `name` (case-insensitive); an unknown board lists the known ones."""
    key = str(name).lower()
    if key not in BOARDS:
        raise unknown("board", name, BOARDS)
    return BOARDS[key]
