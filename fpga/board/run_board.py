#!/usr/bin/env python3
"""Runs the vitsdk ViT accelerator on a PYNQ board and writes a results file (latency and energy measured).

On the board (PYNQ 2.7+/3.x image, ZCU102 / ZCU104 / KV260 class), from a bundle's fpga/ folder:

    python3 board/run_board.py . --bitstream vit.bit --board ZCU104 -o results.json

The overlay holds the engine IP `vit_axi` (fpga/rtl/vit_axi.v, built with the parameters in the project's
rtl/rtl.json; its AXI4 master `m_axi_gmem` on an S_AXI_HP port). The runner checks its ID and parameter
registers, loads the program and constant buffers from the project's sha256-checked rtl/*.hex files through the
IP's AXI4-Lite registers (`vitsdk.fpga.axi`), puts the DDR image (the input record and, when the model streams its
weights, rtl/ddr.hex) in a `pynq.allocate` buffer and writes its address to the IP, whose master reads each
inference's input record and each streamed layer from there (per inference the runner copies the patches into the
record and writes START). Then it
checks the accelerator against the bundle's reference outputs (bit-exact), measures
an idle baseline, then follows the bench protocol (`vitsdk.bench.protocol`: first inference, warm-up, timed
runs until both a minimum count and a minimum duration are met) while sampling board power (PYNQ rails
through `pynq.get_rails()`, or the INA226 sensors in the hwmon sysfs, `vitsdk.fpga.hwmon`), and writes the
results file, validated against the results schema. The project, the bundle manifest (whose sha256 the
results record) and the results document are read and written through `vitsdk.fpga.project` and
`vitsdk.formats`, like every other reader and writer; statistics and energy are `vitsdk.bench`'s.

Needs numpy, pynq (for the overlay) and vitsdk WITHOUT torch (boards run PYNQ's Python, which has none):
`pip install --no-deps vitsdk && pip install jsonschema referencing`. Nothing this runner imports loads torch.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Protocol as Interface

import numpy as np

from vitsdk.atomic import check_writable, describe_os_error, write_json
from vitsdk.bench.energy import PowerTrace, per_inference
from vitsdk.bench.protocol import latency_block
from vitsdk.bench.protocol import Protocol, measure as time_runs
from vitsdk.errors import UserError
from vitsdk.formats.manifest import MANIFEST_FILE
from vitsdk.formats.results import RESULTS, model_entry, results_document, unavailable_energy
from vitsdk.fpga.axi import AxiEngine, Memory, Mmio, PynqMemory
from vitsdk.fpga.hwmon import HwmonTrace, PowerSampler, SensorError, find_sensors, sample_for
from vitsdk.fpga.project import bundle_entry, read_project, read_rtl, reference_io, verified_files
from vitsdk.hashing import file_sha256

BOARD_PROTOCOL = Protocol(power_sample_period_ms=50.0, require_unplugged=False)  # the hwmon sensors update ~every 35 ms


class BoardError(Exception):
    """A problem with the board set-up (no pynq, wrong overlay): one line, exit code 2."""


class Accelerator(Interface):
    def run(self, patches: np.ndarray) -> np.ndarray: ...


def engine_for(mmio: Mmio, files: dict[str, Path], parameters: dict[str, int],
               memory: Memory | None) -> AxiEngine:
    """The engine IP behind `mmio`, checked against the project's design (ID and parameter registers) and loaded
    with its program and constant buffers from the rtl/ files `verified_files` checked (before the overlay); a
    DDR image (the input record, then a streamed model's weight image) goes to `memory` (the board's DDR), its
    address to the IP."""
    engine = AxiEngine(mmio, files, parameters, memory)
    engine.load()
    return engine


class PynqAccelerator:
    """The engine IP `vit_axi` in a PYNQ overlay (a DefaultIP), driven through its AXI4-Lite registers; the input
    record and a streamed model's weights in DDR (`PynqMemory`), read by the IP's AXI4 master."""

    def __init__(self, bitstream: str, ip_name: str, files: dict[str, Path], parameters: dict[str, int]) -> None:
        try:
            import pynq
        except ImportError:
            raise BoardError("pynq is not installed: run this on a PYNQ board image") from None
        self.overlay = pynq.Overlay(bitstream)
        if not hasattr(self.overlay, ip_name):
            names = ", ".join(sorted(self.overlay.ip_dict))
            raise BoardError(f"the overlay has no IP '{ip_name}'; it has: {names}")
        self.memory = PynqMemory()
        self.engine = engine_for(getattr(self.overlay, ip_name), files, parameters, self.memory)
        try:  # the PL clock the overlay set (the export's clock is an assumption)
            self.clock_mhz: float | None = float(pynq.ps.Clocks.fclk0_mhz)
        except (AttributeError, TypeError, ValueError):
            self.clock_mhz = None

    @property
    def counters(self) -> dict[str, int]:
        return self.engine.counters

    def run(self, patches: np.ndarray) -> np.ndarray:
        return self.engine.run(patches)


class PynqRails:
    """Board power from `pynq.get_rails()` (PMBus / INA sensors through libsensors)."""

    def __init__(self, rails: str | None) -> None:
        import fnmatch

        import pynq
        available = pynq.get_rails()
        chosen = {name: rail for name, rail in available.items()
                  if rail.power is not None and (rails is None or fnmatch.fnmatch(name, rails))}
        if not chosen:
            raise SensorError(f"no PYNQ rails with power sensors{' matching ' + rails if rails else ''}; "
                              f"available: {', '.join(sorted(available))}")
        self.rails = chosen
        self.source = "pynq rails " + "+".join(sorted(chosen))

    def read_w(self) -> float:
        return sum(float(rail.power.value) for rail in self.rails.values())


class _RailSensors:
    """Adapts PYNQ rails to the sampler's sensor interface."""

    def __init__(self, rails: PynqRails) -> None:
        self.rails = rails

    def read_w(self) -> float:
        return self.rails.read_w()


# ---- the measurement ----

def manifest_sha256(project_dir: Path) -> str | None:
    """sha256 of the bundle manifest that lists this project (the nearest manifest.json above it), so the
    report matches the measured file with its bundle; None when the project was copied without its bundle."""
    for root in project_dir.resolve().parents:
        if (root / MANIFEST_FILE).is_file():
            found = bundle_entry(root, project_dir)
            return found[0] if found else None
    return None


def _numerics(outputs: np.ndarray, expected: np.ndarray) -> dict:
    diff = np.abs(outputs.astype(np.int64) - expected.astype(np.int64))
    exact = int(diff.max()) == 0
    return {"status": "pass" if exact else "fail",
            "reason": None if exact else "accelerator logits differ from the integer reference",
            "max_abs_diff": float(diff.max()), "tolerance": 0.0,
            "top1_agree": float(np.mean(outputs.argmax(1) == expected.argmax(1)))}


def _energy(active: HwmonTrace | None, idle: HwmonTrace | None, runs: int, timed_s: float, protocol: Protocol,
            sensors: list | None, method: str, source: str | None) -> dict:
    """Energy per inference above the idle baseline (`vitsdk.bench.energy`'s definitions)."""
    if not sensors:
        return unavailable_energy("no power sensors were read")
    if active is None or idle is None or len(active.power_w) < 2 or len(idle.power_w) < 2 or not runs:
        return unavailable_energy("too few power samples")
    busy = PowerTrace.from_power(active.t_s, active.power_w)
    base = PowerTrace.from_power(idle.t_s, idle.power_w)
    result = per_inference(busy, base, runs, timed_s=timed_s)
    samples = busy.summary()
    samples.update(period_ms=protocol.power_sample_period_ms, idle_count=len(base.samples_w),
                   idle_duration_s=base.duration_s)
    return {"status": "measured", "method": method, "reason": None, "source": source,
            "energy_mj": result.energy_mj, "uncertainty_mj": result.uncertainty_mj, "power_w": result.power_w,
            "idle_power_w": result.idle_power_w, "net_power_w": result.net_power_w, "samples": samples}


def measure(acc: Accelerator, project_dir: Path, protocol: Protocol, sensors: list | None, source: str | None,
            method: str, device: dict, load_ms: float | None, model_file: str = "fpga/vit.bit",
            clock: Callable[[], float] = time.monotonic) -> dict:
    """Numerics check, idle baseline, then the bench protocol with power sampling -> a results document."""
    folder, project = read_project(project_dir)
    inputs, expected = reference_io(folder, project)
    numerics = _numerics(np.stack([acc.run(x) for x in inputs]), expected)
    counters = dict(getattr(acc, "counters", {}))  # the engine's own counters of the last reference inference
    time.sleep(protocol.cooldown_seconds)
    period = protocol.power_sample_period_ms / 1e3
    idle = sample_for(sensors, protocol.idle_baseline_seconds, period) if sensors else None
    sampler = PowerSampler(sensors, period).start() if sensors else None
    try:
        timings = time_runs(lambda: acc.run(inputs[0]), protocol, clock=clock)
    finally:
        trace = sampler.stop() if sampler else None
    if trace is not None:  # the timed phase only (the sampler and the protocol share time.monotonic)
        kept = [(t, w) for t, w in zip(trace.t_s, trace.power_w) if timings.t_start <= t <= timings.t_end]
        trace = HwmonTrace([t for t, _ in kept], [w for _, w in kept])
    weights = folder / "weights.bin"
    model = project["model"]
    extra = {"block_shape": project["block_shape"], "latency_method": "measured",
             "latency_includes": "the input's copy into DDR, start (the engine reads the input record from DDR), "
                                 "ap_done polling and logit reads over AXI4-Lite",
             **{f"engine_{name}": value for name, value in counters.items()}}
    return results_document(
        run_id=f"fpga-{_dt.datetime.now(_dt.timezone.utc).strftime('%Y%m%dT%H%M%S')}", device=device,
        runtime={"name": "fpga", "version": None, "delegate": "rtl", "threads": None, "extra": extra},
        model=model_entry(name=model["name"], file=model_file, format="bit",
                          sha256=file_sha256(weights) if weights.exists() else "0" * 64,
                          size_bytes=weights.stat().st_size if weights.exists() else None, precision="int8",
                          macs=project.get("macs"),
                          input_shape=[1, model["in_chans"], model["img_size"], model["img_size"]],
                          manifest_sha256=manifest_sha256(folder)),
        protocol=protocol.to_dict(), latency=latency_block(load_ms, timings, protocol),
        energy=_energy(trace, idle, len(timings.samples_ms), timings.duration_s, protocol, sensors, method, source),
        thermal={"before": {"state": None, "temperature_c": None}, "after": {"state": None, "temperature_c": None}},
        numerics=numerics, status="complete" if timings.stopped is None else "partial", error=timings.stopped)


def summary(result: dict, output: Path) -> str:
    """The run's one closing line, each figure labelled with how it was obtained."""
    cycles = result["runtime"]["extra"].get("engine_cycles")
    energy = result["energy"]
    joules = (f"{energy['energy_mj']:.3f} mJ measured (above idle)" if energy["status"] == "measured"
              else f"n/a ({energy['reason']})")
    return (f"latency {result['latency']['median_ms']:.3f} ms median measured (includes the input's copy into "
            f"DDR and the AXI4-Lite start, polling and logit reads), engine {cycles if cycles is not None else 'n/a'} "
            f"cycles (its counter), energy {joules}, numerics {result['numerics']['status']} -> {output}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path, help="the bundle's fpga/ folder (project.json, tb/, weights.bin), or "
                        "the bundle")
    parser.add_argument("--bitstream", required=True, help="the overlay .bit (with its .hwh beside it)")
    parser.add_argument("--ip", default="vit_axi_0", help="name of the engine IP (vit_axi) in the block design")
    parser.add_argument("--board", default="ZCU104")
    parser.add_argument("--power", choices=("auto", "pynq", "hwmon", "none"), default="auto")
    parser.add_argument("--rails", default=None, help="glob of rail names/labels to sum (default: all)")
    parser.add_argument("--hwmon-root", default="/sys/class/hwmon")
    parser.add_argument("--min-runs", type=int, default=50)
    parser.add_argument("--min-seconds", type=float, default=5.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("-o", "--output", type=Path, default=Path("results.json"))
    args = parser.parse_args(argv)
    try:
        return _main(args)
    except (BoardError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the results file could not be written
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    folder, project = read_project(args.project)
    check_writable(args.output, "-o", is_dir=False)
    record = read_rtl(folder)  # a project without the RTL design, or with a modified file, is refused before
    files = verified_files(folder, record, project.get("rtl_sha256"))  # the overlay programs the board
    try:
        protocol = Protocol.from_dict({**BOARD_PROTOCOL.to_dict(), "min_runs": args.min_runs,
                                       "min_seconds": args.min_seconds, "idle_baseline_seconds": args.idle_seconds})
    except ValueError as exc:
        raise UserError(str(exc)) from None
    start = time.perf_counter()
    acc = PynqAccelerator(args.bitstream, args.ip, files, record["parameters"])
    load_ms = (time.perf_counter() - start) * 1e3
    sensors, source, method = None, None, "none"
    if args.power in ("auto", "pynq"):
        try:
            rails = PynqRails(args.rails)
            sensors, source, method = [_RailSensors(rails)], rails.source, "pynq_rails"
        except (ImportError, SensorError) as exc:
            if args.power == "pynq":
                print(f"error: {exc}", file=sys.stderr)
                return 2
    if sensors is None and args.power in ("auto", "hwmon"):
        try:
            found = find_sensors(args.hwmon_root, args.rails)
            sensors, method = found, "hwmon"
            source = "hwmon " + "+".join(s.label for s in found)
        except SensorError as exc:
            if args.power == "hwmon":
                print(f"error: {exc}", file=sys.stderr)
                return 2
    device = {"platform": "fpga", "name": args.board, "manufacturer": "AMD Xilinx", "model": args.board,
              "soc": project.get("part"), "os": "pynq", "os_version": platform.release(),
              "clock_mhz": acc.clock_mhz or project["engine"]["clock_mhz"]}
    result = measure(acc, folder, protocol, sensors, source, method, device, load_ms)
    RESULTS.validate(result, "the board runner's results")
    write_json(args.output, result)
    print(summary(result, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
