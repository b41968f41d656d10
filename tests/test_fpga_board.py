"""FPGA board side: the INA226 hwmon sysfs reader against a recorded tree, and the board runner's
measurement (numerics check, warm-up, timing, power sampling, idle subtraction, results document).

No board exists here. The engine IP is the Verilated vit_axi (`vitsdk.fpga.axi_sim.SimulatedAxi`) behind a stand-in
`pynq` module: the runner's own PynqAccelerator checks its registers, loads it from the project's rtl/ files and
runs it through AXI4-Lite transactions; a streamed model's weights go into the stand-in's `allocate` buffer, at the
address where the testbench's model of the board's DDR holds the same bytes, and come through the IP's AXI4 master. The power/timing tests use a faster stand-in accelerator that answers
with the project's integer-reference logits (what the IP returns) and raises the recorded sensors' power while
it runs, like a busy FPGA. Everything else (sysfs parsing, sampling thread, statistics, schema) is the real code."""
from __future__ import annotations

import importlib.util
import shutil
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from vitsdk.fpga import hwmon

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "fpga"


def load_runner():
    spec = importlib.util.spec_from_file_location("run_board", ROOT / "fpga" / "board" / "run_board.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_board"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "hwmon"
    shutil.copytree(FIXTURES / "hwmon", root)
    return root


def test_finds_ina226_rails_and_reads_watts(tree):
    sensors = hwmon.find_sensors(tree)
    assert [s.label for s in sensors] == ["VCCINT", "VCC1V2", "hwmon3"]  # cpu_thermal skipped
    assert sensors[0].read_w() == pytest.approx(2.35)  # power1_input, microwatts
    assert sensors[1].read_w() == pytest.approx(1.2 * 0.5)  # no power1_input: in1 (mV) x curr1 (mA)
    assert hwmon.total_power_w(sensors) == pytest.approx(2.35 + 0.6 + 0.33)
    assert [s.label for s in hwmon.find_sensors(tree, rails="VCC*")] == ["VCCINT", "VCC1V2"]


def test_sensor_errors_name_the_path(tree, tmp_path):
    with pytest.raises(hwmon.SensorError, match="no hwmon folder"):
        hwmon.find_sensors(tmp_path / "missing")
    with pytest.raises(hwmon.SensorError, match=r"labels matching 'PL_\*'"):
        hwmon.find_sensors(tree, rails="PL_*")
    (tree / "hwmon0" / "power1_input").write_text("n/a\n")
    with pytest.raises(hwmon.SensorError, match=r"hwmon0/power1_input: expected an integer"):
        hwmon.find_sensors(tree)[0].read_w()


def test_sampler_collects_a_trace(tree):
    trace = hwmon.sample_for(hwmon.find_sensors(tree), 0.12, period_s=0.02)
    assert len(trace.power_w) >= 3 and trace.mean_w == pytest.approx(3.28)
    assert trace.duration_s > 0


class FakeAccelerator:
    """Returns the project's reference logits for its reference inputs (as the bit-exact IP does), takes
    ~2 ms per inference and raises VCCINT by 1.5 W while busy."""

    def __init__(self, project: Path, tree: Path, wrong: bool = False) -> None:
        from vitsdk.fpga.project import read_io
        self.inputs = read_io(project / "tb" / "inputs.bin", "int8")
        self.expected = read_io(project / "tb" / "expected.bin", "int32")
        self.power_file = tree / "hwmon0" / "power1_input"
        self.wrong = wrong
        self.busy = False

    def _set(self, microwatts: int) -> None:
        tmp = self.power_file.with_suffix(".tmp")
        tmp.write_text(f"{microwatts}\n")
        tmp.replace(self.power_file)  # atomic, so the sampling thread never reads a half-written file

    def run(self, patches: np.ndarray) -> np.ndarray:
        if not self.busy:
            self._set(3850000)
            self.busy = True
        time.sleep(0.002)
        index = next(i for i, x in enumerate(self.inputs) if np.array_equal(x, patches))
        out = self.expected[index].copy()
        if self.wrong:
            out[0] += 1
        return out

    def idle(self) -> None:
        self._set(2350000)
        self.busy = False


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import torch

    from vitsdk.fpga import export_fpga
    from vitsdk.models import create_model
    torch.manual_seed(0)
    model = create_model("vit_nano_patch4_28")
    out = tmp_path_factory.mktemp("board") / "fpga"
    export_fpga(model, out, calibration=torch.randn(16, 1, 28, 28), reference=torch.randn(3, 1, 28, 28),
                block_shape="8x16", engine={"tokens": 4, "outputs": 8, "lanes": 4}, synth=False, check=False)
    return out


def protocol(runner):
    from dataclasses import replace
    return replace(runner.BOARD_PROTOCOL, warmup_runs=3, warmup_seconds=0.0, min_runs=20, min_seconds=0.1,
                   cooldown_seconds=0.0, power_sample_period_ms=10.0, idle_baseline_seconds=0.1)


def test_board_runner_measures_energy_with_idle_subtracted(project, tree):
    from vitsdk.formats.results import RESULTS
    runner = load_runner()
    acc = FakeAccelerator(project, tree)
    sensors = hwmon.find_sensors(tree)
    device = {"platform": "fpga", "name": "ZCU104", "os": "pynq", "os_version": "3.0.1", "clock_mhz": 300.0}
    p = protocol(runner)
    real_sample_for = runner.sample_for

    def idle_then_busy(sensors_, seconds, period):  # the board idles during the baseline
        acc.idle()
        return real_sample_for(sensors_, seconds, period)

    runner.sample_for = idle_then_busy
    result = runner.measure(acc, project, p, sensors, "hwmon VCCINT+VCC1V2+hwmon3", "hwmon", device, load_ms=12.0)
    assert RESULTS.errors(result) == []
    assert result["numerics"]["status"] == "pass" and result["numerics"]["max_abs_diff"] == 0.0
    lat = result["latency"]
    assert lat["runs"] >= 20 and lat["duration_s"] >= 0.1 and lat["median_ms"] >= 2.0
    energy = result["energy"]
    assert energy["status"] == "measured" and energy["method"] == "hwmon"
    assert energy["idle_power_w"] == pytest.approx(3.28) and energy["power_w"] == pytest.approx(4.78, abs=0.2)
    assert energy["energy_mj"] == pytest.approx(1.5 * lat["duration_s"] / lat["runs"] * 1e3, rel=0.15)
    line = runner.summary(result, Path("results.json"))  # the closing line labels each figure
    assert f"latency {lat['median_ms']:.3f} ms median measured (includes the input's copy into DDR" in line
    assert f"energy {energy['energy_mj']:.3f} mJ measured" in line and "engine n/a cycles" in line


def test_board_runner_flags_wrong_outputs_and_missing_sensors(project, tree):
    from vitsdk.formats.results import RESULTS
    runner = load_runner()
    device = {"platform": "fpga", "name": "KV260", "os": "pynq", "os_version": "3.0.1"}
    result = runner.measure(FakeAccelerator(project, tree, wrong=True), project, protocol(runner), None, None,
                            "none", device, load_ms=None)
    assert RESULTS.errors(result) == []
    assert result["numerics"]["status"] == "fail" and result["numerics"]["max_abs_diff"] == 1.0
    assert result["energy"]["status"] == "unavailable" and "no power sensors" in result["energy"]["reason"]
    line = runner.summary(result, Path("results.json"))
    assert "energy n/a (no power sensors were read)" in line and "None" not in line


def test_board_runner_cli_rejects_a_folder_without_a_project(tmp_path, capsys):
    runner = load_runner()
    assert runner.main([str(tmp_path), "--bitstream", "x.bit"]) == 2
    assert "project.json" in capsys.readouterr().err


def test_shipped_runner_runs_without_torch(project):
    """The bundle's board/ copy runs on a board image that has numpy and vitsdk but no torch."""
    import subprocess
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = ['run_board.py', '.', '--bitstream', 'x.bit']; "
            "runpy.run_path('board/run_board.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 2 and "pynq is not installed" in proc.stderr, proc.stderr
    assert not (project / "board" / "hwmon.py").exists()  # read from vitsdk.fpga.hwmon, not a shipped copy


def test_sensor_reader_imports_without_torch():
    """The board runner imports `vitsdk.fpga.hwmon` and `.project` on a PYNQ image without torch (the package is lazy)."""
    import subprocess
    code = "import sys; sys.modules['torch'] = None; import vitsdk.fpga.hwmon, vitsdk.fpga.project, vitsdk.formats.results"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_board_runner_records_the_bundle_manifest_sha256(project, tmp_path):
    """A project inside a bundle whose manifest lists it names that manifest's sha256 (the report matches the
    measured file with its bundle by it); a project copied out of its bundle names none."""
    import hashlib

    runner = load_runner()
    manifest = ROOT / "tests" / "fixtures" / "report" / "bundles" / "pruned" / "manifest.json"
    bundle = tmp_path / "bundle"
    shutil.copytree(project, bundle / "fpga" / "vit_int8")  # the fixture manifest's fpga entry
    shutil.copy(manifest, bundle / "manifest.json")
    assert runner.manifest_sha256(bundle / "fpga" / "vit_int8") == hashlib.sha256(manifest.read_bytes()).hexdigest()
    shutil.copytree(project, bundle / "other")
    assert runner.manifest_sha256(bundle / "other") is None  # the manifest does not list this folder
    assert runner.manifest_sha256(project) is None


# ---- the engine IP (vit_axi) in Verilator behind a stand-in pynq ----

class Buffer(np.ndarray):
    """What the runner uses of `pynq.Buffer` (PYNQ's `PynqBuffer`: a numpy array with `device_address` and `flush`;
    a slice is a view with its own address, whose `flush` covers its bytes only). Like the board's DDR, the simulated
    IP's memory sees the input record only once it is flushed: `flush` copies the part of the view inside the record
    into the DDR model (`ip.store`). The weights after it are the ones the DDR model loaded from rtl/ddr.hex, which
    the test compares with the buffer (`ip.place`)."""

    def __array_finalize__(self, obj) -> None:
        if isinstance(obj, Buffer) and getattr(obj, "device_address", None) is not None:
            offset = self.__array_interface__["data"][0] - obj.__array_interface__["data"][0]
            self.device_address, self.ip, self.flushed = obj.device_address + offset, obj.ip, False
            self.whole = getattr(obj, "whole", obj)

    def flush(self) -> None:
        self.flushed = True
        if getattr(self, "whole", None) is not None:
            self.whole.flushed = True
        end = min(len(self), self.ip.ddr_base + self.ip.record_bytes - self.device_address) \
            if hasattr(self.ip, "record_bytes") else 0
        if end > 0:
            self.ip.store(self.device_address, np.asarray(self[:end]))


def fake_pynq(ip) -> types.ModuleType:
    """A stand-in for the `pynq` package (no board here): Overlay(bitstream) holds one IP, `vit_axi_0`;
    `programmed` lists the bitstreams overlays were made from (constructing one programs a real board);
    `allocate` gives buffers at the address where the simulated IP's DDR model holds the weight image
    (`allocated` lists them)."""
    module = types.ModuleType("pynq")
    module.programmed = []
    module.allocated = []

    def allocate(shape, dtype):
        buffer = np.zeros(shape, dtype=dtype).view(Buffer)
        buffer.device_address, buffer.flushed, buffer.ip, buffer.whole = getattr(ip, "ddr_base", 0), False, ip, None
        module.allocated.append(buffer)
        return buffer

    class Overlay:
        def __init__(self, bitstream: str) -> None:
            module.programmed.append(bitstream)
            self.ip_dict = {"vit_axi_0": {}}
            self.vit_axi_0 = ip

    module.Overlay = Overlay
    module.allocate = allocate
    return module


class OtherIp:
    """An IP that is not the engine: every register reads 0; records what is accessed."""

    def __init__(self) -> None:
        self.accesses: list[tuple] = []

    def read(self, offset: int) -> int:
        self.accesses.append(("r", offset))
        return 0

    def write(self, offset: int, value: int) -> None:
        self.accesses.append(("w", offset, value))


def test_board_runner_drives_the_verilated_ip_bit_exact(project, monkeypatch):
    """The runner's PynqAccelerator on vit_axi in Verilator: ID and parameters checked, buffers loaded from rtl/
    through the registers, the input record in a `pynq.allocate` buffer the IP reads, the reference inputs
    bit-exact, the IP's cycle counter = tb_vit's simulated cycles."""
    from vitsdk.formats.results import RESULTS
    from vitsdk.fpga.project import read_project, read_rtl, verified_files
    from vitsdk.fpga.axi_sim import SimulatedAxi
    from vitsdk.fpga.rtl import load_program, simulate_project
    runner = load_runner()
    folder, meta = read_project(project)
    files = verified_files(folder, read_rtl(folder))
    with SimulatedAxi(files, load_program(read_rtl(folder), files).parameters(), poll_cycles=5000) as ip:
        monkeypatch.setitem(sys.modules, "pynq", fake_pynq(ip))
        acc = runner.PynqAccelerator("vit.bit", "vit_axi_0", files, read_rtl(folder)["parameters"])
        p = replace_protocol(runner, warmup_runs=1, min_runs=2, min_seconds=0.0)
        device = {"platform": "fpga", "name": "ZCU104", "os": "pynq", "os_version": "3.0.1", "clock_mhz": 300.0}
        result = runner.measure(acc, project, p, None, None, "none", device, load_ms=1.0)
    assert RESULTS.errors(result) == []
    assert result["numerics"]["status"] == "pass" and result["numerics"]["max_abs_diff"] == 0.0
    extra = result["runtime"]["extra"]
    assert result["runtime"]["delegate"] == "rtl"
    sim = simulate_project(folder, meta)[0]
    assert extra["engine_cycles"] == sim.cycles[0] and extra["engine_ddr_bytes"] == sim.ddr_bytes[0]
    [buffer] = sys.modules["pynq"].allocated  # the weights are on chip: DDR holds the input record only, read once
    assert extra["engine_ddr_bytes"] == buffer.size == load_program(read_rtl(folder), files).record_bytes


def test_board_runner_refuses_another_ip_and_modified_rtl_files(project, tmp_path, monkeypatch, capsys):
    """An overlay IP whose ID register is not the engine's: one error line, exit 2, nothing written to it.
    A project whose rtl/ image was modified: refused before the overlay programs the board."""
    runner = load_runner()
    ip = OtherIp()
    pynq = fake_pynq(ip)
    monkeypatch.setitem(sys.modules, "pynq", pynq)
    out = tmp_path / "results.json"
    args = ["--bitstream", "vit.bit", "--power", "none", "-o", str(out)]
    assert runner.main([str(project), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the IP's ID register reads 0x00000000") and err.count("\n") == 1
    assert ip.accesses == [("r", 0x10)] and not out.exists()
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    (copy / "rtl" / "wmem.hex").write_text("00\n" + (copy / "rtl" / "wmem.hex").read_text())
    ip.accesses.clear()
    pynq.programmed.clear()
    assert runner.main([str(copy), *args]) == 2
    assert "wmem.hex do(es) not match the sha256 in rtl.json" in capsys.readouterr().err
    assert pynq.programmed == [] and ip.accesses == [] and not out.exists()


def test_board_runner_refuses_an_unwritable_output_before_the_board(project, tmp_path, monkeypatch, capsys):
    """-o where no file can be written (under a file; root may write read-only folders): one error line, exit 2,
    no traceback, and the overlay never made."""
    runner = load_runner()
    pynq = fake_pynq(OtherIp())
    monkeypatch.setitem(sys.modules, "pynq", pynq)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert runner.main([str(project), "--bitstream", "vit.bit", "--power", "none", "-o",
                        str(blocker / "results.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert pynq.programmed == []


def replace_protocol(runner, **changes):
    from dataclasses import replace
    return replace(protocol(runner), **changes)


@pytest.fixture(scope="module")
def streamed_project(tmp_path_factory):
    """The board fixture's model on an engine whose weight buffer is smaller than its weights: every linear
    streams from DDR (rtl/ddr.hex)."""
    import torch

    from vitsdk.fpga import export_fpga
    from vitsdk.models import create_model
    torch.manual_seed(0)
    model = create_model("vit_nano_patch4_28")
    out = tmp_path_factory.mktemp("board_streamed") / "fpga"
    export_fpga(model, out, calibration=torch.randn(16, 1, 28, 28), reference=torch.randn(2, 1, 28, 28),
                block_shape="8x16", engine={"tokens": 4, "outputs": 8, "lanes": 4, "weight_buffer_bytes": 20000},
                synth=False, check=False)
    return out


def test_board_runner_streams_the_weights_through_the_ips_master(streamed_project, monkeypatch):
    """A streamed model on the board path: the runner copies rtl/ddr.hex into a `pynq.allocate` buffer, flushes it
    and writes its address to the IP; the Verilated IP reads every layer from there through its AXI4 master (the
    testbench's DDR model holds the buffer's bytes at that address, compared word by word). Reference outputs
    bit-exact; the engine's cycles, stalls and DDR bytes are tb_vit's."""
    from vitsdk.formats.results import RESULTS
    from vitsdk.fpga.axi_sim import SimulatedAxi
    from vitsdk.fpga.project import read_project, read_rtl, verified_files
    from vitsdk.fpga.rtl import simulate_project
    runner = load_runner()
    folder, meta = read_project(streamed_project)
    record = read_rtl(folder)
    files = verified_files(folder, record)
    assert record["streamed"] and "ddr.hex" in files
    with SimulatedAxi(files, record["parameters"], poll_cycles=5000) as ip:
        pynq = fake_pynq(ip)
        monkeypatch.setitem(sys.modules, "pynq", pynq)
        acc = runner.PynqAccelerator("vit.bit", "vit_axi_0", files, record["parameters"])
        p = replace_protocol(runner, warmup_runs=1, min_runs=2, min_seconds=0.0)
        device = {"platform": "fpga", "name": "ZCU104", "os": "pynq", "os_version": "3.0.1", "clock_mhz": 300.0}
        result = runner.measure(acc, streamed_project, p, None, None, "none", device, load_ms=1.0)
        [buffer] = pynq.allocated
        assert buffer.flushed and ip.place(buffer) == buffer.device_address == ip.ddr_base
    assert RESULTS.errors(result) == []
    assert result["numerics"]["status"] == "pass" and result["numerics"]["max_abs_diff"] == 0.0
    extra = result["runtime"]["extra"]
    sim = simulate_project(folder, meta)[0]
    assert (extra["engine_cycles"], extra["engine_stall_cycles"], extra["engine_ddr_bytes"]) == \
        (sim.cycles[0], sim.stall_cycles[0], sim.ddr_bytes[0])
    assert sim.ddr_bytes[0] == buffer.size and sim.stall_cycles[0] > 0
