"""The engine IP (fpga/rtl/vit_axi.v) in Verilator, driven by the board's own driver (`vitsdk.fpga.axi.AxiEngine`)
through `vitsdk.fpga.axi_sim.SimulatedAxi`: AXI4-Lite register loading, and the AXI4 master that streams a model's
weights from a model of the board's DDR (tb_vit_axi.v's tb_ddr). Bit-exact against the integer reference, with
tb_vit's cycles; the DDR model checks every burst the master issues. Uses the tiny vit_nano_patch4_28 on a tiny
engine (4 x 8 MACs, 4 lanes) so each Verilator build takes seconds."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vitsdk.fpga as F
from vitsdk.errors import UserError
from vitsdk.fpga import quant as Q
from test_fpga import TINY, exported, fmnist, nano  # noqa: F401  (the FPGA tests' model, data, export: one home)

# a weight buffer smaller than vit_nano's weights: every linear streams from DDR, 4 bytes per cycle
STREAMED = {**TINY, "weight_buffer_bytes": 20000, "ddr_bytes_per_cycle": 4.0}


@pytest.fixture(scope="module", params=[16, 8], ids=["ddr_w16", "ddr_w8"])
def streamed(request, tmp_path_factory, fmnist):
    """vit_nano keep 0.7 whose weights stream from DDR through a DDR_W-byte port (16: one 128-bit S_AXI_HP port;
    8: 256 beats are 2 KB, so its 3 KB layers need more than one burst inside a 4 KB page)."""
    out = tmp_path_factory.mktemp("streamed") / "project"
    ex = F.export_fpga(nano(keep_rate=0.7), out, block_shape="8x16", reference=fmnist[0][:2], synth=False,
                       engine={**STREAMED, "ddr_beat_bytes": request.param})
    assert ex.project["engine"]["ddr_beat_bytes"] == request.param
    return ex


def project_files(ex) -> tuple[dict[str, Path], dict[str, int]]:
    from vitsdk.fpga.project import read_rtl, verified_files
    record = read_rtl(ex.path)
    return verified_files(ex.path, record, ex.project["rtl_sha256"]), record["parameters"]


# ---- AXI4-Lite: the registers ----

def test_axi_ip_driven_through_axi_lite_only_is_bit_exact_with_tb_vits_cycles(exported, fmnist):
    """vit_axi (the IP the board runs) in Verilator, driven only through AXI4-Lite transactions by the board's own
    driver (vitsdk.fpga.axi.AxiEngine): it loads the project's hex images through the registers, runs two
    images and reads logits bit-exact to forward_int, with tb_vit's ($readmemh) inference cycle count. Per
    inference the driver copies the patches into the input record in DDR and writes one register, START: the
    engine reads the record (patches, CLS + position embedding) through its AXI4 master, so no buffer is written
    through the registers between inferences (the previous IP took the input four int8 per write and the embedding
    two per write: 2 + 196 + 2 + 1600 + 1 writes here). An IP built for other parameters is refused by its
    parameter registers before anything is loaded."""
    from functools import partial

    from vitsdk.fpga.axi import AP_IDLE, CTRL, PARAMETERS, AxiEngine, input_record
    from vitsdk.fpga.axi_sim import SimulatedAxi
    _, ex = exported
    files, parameters = project_files(ex)
    patches = Q.quantize_input(ex.model, fmnist[0][20:22].numpy())
    with SimulatedAxi(files, parameters) as mmio:
        engine = AxiEngine(mmio, files, parameters, memory=mmio)
        engine.load()
        width, record_words = parameters["DDR_W"], parameters["REC_WORDS"]
        record = partial(input_record, embed=engine.embed, input_bytes=parameters["REC_IN"],
                         record_bytes=record_words * width)
        assert ddr_words(mmio, record_words) == words_of(record([]), width)  # load placed the embedding
        for image in patches:
            writes = mmio.writes
            logits = engine.run(image)
            assert mmio.writes - writes == 1  # START
            assert ddr_words(mmio, record_words) == words_of(record(image), width)
            assert np.array_equal(logits, Q.forward_int(ex.model, image[None])[0])
            assert engine.counters["cycles"] == ex.rtl.cycles[0] and engine.counters["mac_cycles"] == ex.rtl.mac_cycles[0]
        assert mmio.read(CTRL) & AP_IDLE
        other = AxiEngine(mmio, files, {**parameters, "TN": parameters["TN"] * 2}, mmio)
        before = mmio.transactions
        with pytest.raises(UserError, match=r"built for another design: TN 8 \(project: 16\)"):
            other.load()
        assert mmio.transactions - before == 3 + len(PARAMETERS)  # ID, VERSION, NPARAM, parameters: nothing written


def ddr_words(mmio, count: int) -> list[int]:
    """The DDR model's first `count` words (little-endian: byte 0 in bits 7:0)."""
    mmio.proc.stdin.write("".join(f"4 {i:x} 0\n" for i in range(count)))
    mmio.proc.stdin.flush()
    return [int(mmio._line("W "), 16) for _ in range(count)]


def words_of(data: np.ndarray, width: int) -> list[int]:
    """int8 values as the DDR model's words, the last zero-padded."""
    data = np.asarray(data, dtype=np.int64).reshape(-1).astype(np.int8).view(np.uint8)
    data = np.concatenate([data, np.zeros(-len(data) % width, dtype=np.uint8)])
    return [int.from_bytes(data[i:i + width].tobytes(), "little") for i in range(0, len(data), width)]


def test_a_project_without_the_axi_sources_cannot_build_the_ip_simulator(exported, tmp_path, monkeypatch):
    """rtl/ of an export from before vit_axi (no vit_axi.v / tb_vit_axi.v in rtl.json): the IP simulator is refused
    with "export it again" before anything is built."""
    from vitsdk.fpga.project import read_rtl, verified_files
    from vitsdk.fpga.rtl import build_simulator, load_program
    _, ex = exported
    files = verified_files(ex.path, read_rtl(ex.path))
    old = {k: v for k, v in files.items() if k not in ("vit_axi.v", "tb_vit_axi.v")}
    monkeypatch.setenv("VITSDK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match=r"rtl/ has no tb_vit_axi\.v, vit_axi\.v \(exported by an older vitsdk\)"):
        build_simulator(old, load_program(read_rtl(ex.path), files).parameters(), top="tb_vit_axi")
    assert not (tmp_path / "cache").exists()


def test_a_project_from_before_the_weight_stream_port_is_refused(exported):
    """rtl.json of an export from before DDR_W (register map version 1): the driver says to export again before it
    touches the IP."""
    from vitsdk.fpga.axi import AxiEngine
    _, ex = exported
    files, parameters = project_files(ex)
    old = {k: v for k, v in parameters.items() if k != "DDR_W"}
    with pytest.raises(UserError, match=r"rtl/rtl\.json has no DDR_W \(exported by an older vitsdk\): export it again"):
        AxiEngine(None, files, old, None)


# ---- AXI4: the weight stream ----

def layer_spans(ex) -> list[tuple[int, int]]:
    """(byte offset, bytes) of each request into the DDR image: the input record, then each linear's record of the
    weight image, which follows it."""
    from vitsdk.fpga.project import read_rtl
    rtl = read_rtl(ex.path)
    record = rtl["parameters"]["REC_WORDS"] * rtl["parameters"]["DDR_W"]
    return [(0, record)] + [(record + layer["image_offset"], layer["image_bytes"]) for layer in rtl["program"]["layers"]]


class At:
    """A `vitsdk.fpga.axi.Memory` that reports the DDR image at `address` (whatever is there): when given `memory` (the
    DDR model), it puts the image's input record where the model holds the image (the weights are there already) and
    stores what the driver stores at the address it gave."""

    def __init__(self, address: int, memory=None) -> None:
        self.address, self.memory = address, memory

    def place(self, image: np.ndarray) -> int:
        if self.memory is not None:
            self.memory.store(self.memory.ddr_base, image[:self.memory.record_bytes])
        return self.address

    def store(self, address: int, data: np.ndarray) -> None:
        if self.memory is not None:
            self.memory.store(address, data)


@pytest.mark.parametrize("offset", [0, 0x7F0], ids=["page_aligned", "mid_page"])
def test_streamed_weights_come_through_the_ips_master_bit_exact_with_tb_vits_cycles(streamed, fmnist, offset):
    """A streamed model on the IP: the driver places rtl/ddr.hex (checked byte for byte against the DDR model's
    memory) and writes its 64-bit address to DDR_BASE; the engine's weight requests become AXI4 bursts answered by
    the DDR model. Logits bit-exact with forward_int; cycles, stalls and DDR bytes equal tb_vit's (whose DDR
    model answers the engine's port directly): the master presents each request's first burst in the request's
    cycle and keeps the later ones in flight, so the IP adds no cycle. Every burst: INCR of full beats, at most
    256 beats, inside one 4 KB page, in the image; the image is read once per inference. At a base 0x7F0 past a
    page boundary the bursts split elsewhere and the cycles stay the same."""
    from vitsdk.fpga.axi import DDR_BASE, AxiEngine
    from vitsdk.fpga.axi_sim import DDR_BASE as SIM_BASE
    from vitsdk.fpga.axi_sim import SimulatedAxi
    ex = streamed
    files, parameters = project_files(ex)
    width = parameters["DDR_W"]
    assert parameters["STREAM"] == 1 and "ddr.hex" in files and "wmem.hex" not in files
    patches = Q.quantize_input(ex.model, fmnist[0][30:32].numpy())
    base = SIM_BASE + offset
    with SimulatedAxi(files, parameters, ddr_base=base) as mmio:
        engine = AxiEngine(mmio, files, parameters, memory=mmio)
        engine.load()
        assert mmio.read(DDR_BASE) | mmio.read(DDR_BASE + 4) << 32 == base
        for image in patches:
            assert np.array_equal(engine.run(image), Q.forward_int(ex.model, image[None])[0])
            assert engine.counters == {"cycles": ex.rtl.cycles[0], "mac_cycles": ex.rtl.mac_cycles[0],
                                       "stall_cycles": ex.rtl.stall_cycles[0], "ddr_bytes": ex.rtl.ddr_bytes[0]}
        bursts = mmio.ddr_counters()
    spans = layer_spans(ex)
    assert ex.rtl.stall_cycles[0] > 0 and ex.rtl.ddr_bytes[0] == sum(n for _, n in spans)
    assert bursts["beats"] * width == len(patches) * ex.rtl.ddr_bytes[0]
    assert bursts["cross_4k"] == bursts["bad_burst"] == bursts["outside"] == 0
    assert bursts["longest"] <= 256 and bursts["inflight"] > 1
    # the rules had something to refuse: a request spans a 4 KB boundary, and (2 KB of 8-byte beats) one is
    # longer than 256 beats, so the master split it into a 256-beat burst and more
    assert any((base + o) // 4096 != (base + o + n - 1) // 4096 for o, n in spans)
    if width == 8:
        assert max(n for _, n in spans) > 256 * width and bursts["longest"] == 256
    assert bursts["bursts"] > len(patches) * len(spans)


@pytest.mark.parametrize("streamed", [16], indirect=True, ids=["ddr_w16"])
def test_the_weights_come_from_the_address_in_ddr_base(streamed, fmnist):
    """DDR_BASE one beat off: the logits are wrong (the engine computes with what the master read, it holds no
    weights of its own). An address with no memory behind it: the reads answer DECERR and the driver says so.
    The right address again: exact. A streamed project with no memory to put its image in, or an address that is
    not a multiple of the beat, is refused before DDR_BASE is written."""
    from vitsdk.fpga.axi import AxiEngine
    from vitsdk.fpga.axi_sim import DDR_BASE as SIM_BASE
    from vitsdk.fpga.axi_sim import SimulatedAxi
    ex = streamed
    files, parameters = project_files(ex)
    image = Q.quantize_input(ex.model, fmnist[0][40:41].numpy())[0]
    expected = Q.forward_int(ex.model, image[None])[0]
    with SimulatedAxi(files, parameters) as mmio:
        engine = AxiEngine(mmio, files, parameters, memory=At(SIM_BASE + parameters["DDR_W"], mmio))
        engine.load()
        assert not np.array_equal(engine.run(image), expected)
        engine = AxiEngine(mmio, files, parameters, memory=At(0x1000))
        engine.load()
        with pytest.raises(UserError, match=r"reads from DDR failed \(SLVERR/DECERR\) at the image's "
                                            r"address 0x1000: that address is not readable memory"):
            engine.run(image)
        engine = AxiEngine(mmio, files, parameters, memory=mmio)
        engine.load()
        assert np.array_equal(engine.run(image), expected)
        for memory, message in ((None, r"reads its input from DDR: the driver needs the board's memory"),
                                (At(SIM_BASE + 4), r"address 0x800000004 is not a multiple of the IP's beat \(16")):
            before = mmio.writes
            with pytest.raises(UserError, match=message):
                AxiEngine(mmio, files, parameters, memory=memory).load()
            assert mmio.writes == before


def master_bursts(address: int, nbytes: int, width: int) -> int:
    """Bursts the AXI4 rules ask of one request: each at most 256 beats and inside one 4 KB page."""
    count = 0
    while nbytes:
        size = min(nbytes, 256 * width, 4096 - address % 4096)
        address, nbytes, count = address + size, nbytes - size, count + 1
    return count


@pytest.fixture(scope="module")
def narrow(tmp_path_factory, fmnist):
    """vit_nano keep 0.7 streamed through a 2-byte port (2 bytes per cycle): 256 beats are 512 bytes, so its
    5 KB layers are more than 8 bursts each, more than the master keeps in flight."""
    out = tmp_path_factory.mktemp("narrow") / "project"
    return F.export_fpga(nano(keep_rate=0.7), out, block_shape="8x16", reference=fmnist[0][:1], synth=False,
                         engine={**STREAMED, "ddr_beat_bytes": 2, "ddr_bytes_per_cycle": 2.0})


@pytest.mark.parametrize("ar_stall,extra_latency", [(3, 0), (1, 600)], ids=["arready_low", "slow_ddr"])
def test_the_ips_master_under_back_pressure_holds_its_address_and_keeps_at_most_8_bursts_in_flight(
        narrow, fmnist, ar_stall, extra_latency):
    """The DDR model pushes back on the IP's AXI4 master: arready low 3 cycles of 4 (every address waits to be
    accepted), or low every other cycle with 600 cycles more latency (bursts pile up). A streamed model through
    a 2-byte port (a layer is up to 11 bursts): logits bit-exact with forward_int, every burst INCR of full beats,
    at most 256 beats, inside one 4 KB page and the image, each address that waited presented again unchanged
    until accepted, and at most 8 bursts in flight, reached (a request asks for more than 8, and 8 are asked for
    before the first answers: 8 x 4 cycles < the 100-cycle latency). The engine waits longer for its weights,
    so its cycles exceed tb_vit's (back-pressure is not the board's DDR); MAC cycles and DDR bytes do not change."""
    from vitsdk.fpga.axi import AxiEngine
    from vitsdk.fpga.axi_sim import DDR_BASE as SIM_BASE
    from vitsdk.fpga.axi_sim import SimulatedAxi
    ex = narrow
    files, parameters = project_files(ex)
    assert parameters["STREAM"] == 1 and parameters["DDR_W"] == 2
    image = Q.quantize_input(ex.model, fmnist[0][50:51].numpy())[0]
    with SimulatedAxi(files, parameters, ar_stall=ar_stall, extra_latency=extra_latency) as mmio:
        engine = AxiEngine(mmio, files, parameters, memory=mmio)
        engine.load()
        assert np.array_equal(engine.run(image), Q.forward_int(ex.model, image[None])[0])
        bursts = mmio.ddr_counters()
    counters = engine.counters
    assert counters["mac_cycles"] == ex.rtl.mac_cycles[0] and counters["ddr_bytes"] == ex.rtl.ddr_bytes[0]
    assert counters["cycles"] > ex.rtl.cycles[0] and counters["stall_cycles"] > ex.rtl.stall_cycles[0]
    spans = layer_spans(ex)
    assert bursts["beats"] * 2 == ex.rtl.ddr_bytes[0]
    assert bursts["bursts"] == sum(master_bursts(SIM_BASE + o, n, 2) for o, n in spans)
    assert bursts["cross_4k"] == bursts["bad_burst"] == bursts["outside"] == 0 and bursts["longest"] == 256
    assert bursts["ar_waits"] > 0 and bursts["ar_unstable"] == 0
    assert max(master_bursts(SIM_BASE + o, n, 2) for o, n in spans) > 8 and bursts["inflight"] == 8


def test_without_back_pressure_the_narrow_port_also_gives_tb_vits_cycles(narrow, fmnist):
    """The same 2-byte-port project with the DDR model's default (arready always 1, the board's latency): cycles,
    stalls and DDR bytes equal tb_vit's, so the back-pressure test's longer cycles come from the back-pressure;
    no address ever waits."""
    from vitsdk.fpga.axi import AxiEngine
    from vitsdk.fpga.axi_sim import SimulatedAxi
    ex = narrow
    files, parameters = project_files(ex)
    image = Q.quantize_input(ex.model, fmnist[0][:1].numpy())[0]
    with SimulatedAxi(files, parameters) as mmio:
        engine = AxiEngine(mmio, files, parameters, memory=mmio)
        engine.load()
        assert np.array_equal(engine.run(image), Q.forward_int(ex.model, image[None])[0])
        bursts = mmio.ddr_counters()
    assert engine.counters == {"cycles": ex.rtl.cycles[0], "mac_cycles": ex.rtl.mac_cycles[0],
                               "stall_cycles": ex.rtl.stall_cycles[0], "ddr_bytes": ex.rtl.ddr_bytes[0]}
    assert bursts["ar_waits"] == bursts["ar_unstable"] == 0 and bursts["inflight"] <= 8


@pytest.mark.parametrize("width", [1, 2, 16, 64])
def test_the_ddr_hex_writer_and_the_drivers_reader_agree(tmp_path, width):
    """ddr_hex (what rtl/ddr.hex and the testbenches' input records are written with) and read_ddr_image (what the
    board driver puts in DDR) are one format: bytes survive the round trip, byte 0 is the word's low byte, and a
    file of another word width is refused."""
    from vitsdk.fpga.axi import ddr_hex, read_ddr_image
    data = np.arange(4 * 64, dtype=np.int64) * 37 % 256
    path = tmp_path / "ddr.hex"
    path.write_text(ddr_hex(data, width))
    assert np.array_equal(read_ddr_image(path, width), data.astype(np.uint8))
    assert path.read_text().split()[0][-2:] == "00" and len(path.read_text().split()[0]) == 2 * width
    with pytest.raises(UserError, match=rf"does not hold {2 * width}-byte words"):
        read_ddr_image(path, 2 * width)
