#!/usr/bin/env python3
"""Runs the vitsdk ViT accelerator on a PYNQ board and writes a `vitsdk.results/1` file (measured).

On the board (PYNQ 2.7+/3.x image, ZCU102 / ZCU104 / KV260 class), from a bundle's fpga/ folder:

    python3 board/run_board.py . --bitstream vit.bit --board ZCU104 -o results.json

It loads the overlay, checks the accelerator against the bundle's reference outputs (bit-exact), warms
up, times inferences until both a minimum count and a minimum duration are met, samples board power
(PYNQ rails through `pynq.get_rails()`, or the INA226 sensors in the hwmon sysfs via hwmon.py next to
this file), subtracts an idle baseline measured the same way, and writes the results file. Needs
numpy and (for the overlay) pynq; no torch, no vitsdk.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:  # inside a vitsdk checkout the package is the single source; on a board the shipped copy
    from vitsdk.fpga.hwmon import PowerSampler, PowerTrace, SensorError, find_sensors, sample_for
except ImportError:
    from hwmon import PowerSampler, PowerTrace, SensorError, find_sensors, sample_for  # type: ignore

SCHEMA = "vitsdk.results/1"
AP_CTRL = 0x00  # Vitis HLS s_axilite control register: bit 0 start, bit 1 done, bit 2 idle


class BoardError(Exception):
    """A problem with the board set-up (no pynq, wrong overlay): one line, exit code 2."""


class Accelerator(Protocol):
    def run(self, patches: np.ndarray) -> np.ndarray: ...


class PynqAccelerator:
    """The HLS IP `vit_top` in a PYNQ overlay, driven through its AXI-Lite registers."""

    def __init__(self, bitstream: str, ip_name: str, n_in: int, n_out: int) -> None:
        try:
            import pynq
        except ImportError:
            raise BoardError("pynq is not installed: run this on a PYNQ board image") from None
        self.overlay = pynq.Overlay(bitstream)
        if not hasattr(self.overlay, ip_name):
            names = ", ".join(sorted(self.overlay.ip_dict))
            raise BoardError(f"the overlay has no IP '{ip_name}'; it has: {names}")
        self.ip = getattr(self.overlay, ip_name)
        self.inp = pynq.allocate(shape=(n_in,), dtype=np.int8)
        self.out = pynq.allocate(shape=(n_out,), dtype=np.int32)
        self._set_address("patches", self.inp.device_address)
        self._set_address("logits", self.out.device_address)

    def _set_address(self, port: str, address: int) -> None:
        regs = self.ip.register_map
        if hasattr(regs, f"{port}_1"):  # 64-bit pointers are split in two registers
            setattr(regs, f"{port}_1", address & 0xFFFFFFFF)
            setattr(regs, f"{port}_2", address >> 32)
        else:
            setattr(regs, port, address)

    def run(self, patches: np.ndarray) -> np.ndarray:
        self.inp[:] = patches.reshape(-1)
        self.inp.sync_to_device()
        self.ip.write(AP_CTRL, 1)
        while not self.ip.read(AP_CTRL) & 0x2:
            pass
        self.out.sync_from_device()
        return np.array(self.out, dtype=np.int32)


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


# ---- statistics (definitions: schemas/README.md, vectors: schemas/vectors/stats.json) ----

def percentile(sorted_values: list[float], q: float) -> float:
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_stats(samples_ms: list[float], cv_max: float = 0.1, drift_max: float = 0.05) -> dict:
    """min/median/mean/p90/p99/max, sample std, trimmed mean (middle 80%), CV, drift, stability."""
    n = len(samples_ms)
    s = sorted(samples_ms)
    mean = sum(s) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in s) / (n - 1)) if n > 1 else 0.0
    cut = n // 10
    trimmed = s[cut:n - cut] if n - 2 * cut > 0 else s
    drift = None
    if n >= 3:
        third = n // 3
        first = sorted(samples_ms[:third])
        last = sorted(samples_ms[-third:])
        drift = (percentile(last, 50) - percentile(first, 50)) / percentile(s, 50)
    cv = std / mean if mean > 0 else 0.0
    stable = n >= 3 and cv <= cv_max and drift is not None and abs(drift) <= drift_max
    return {"runs": n, "min_ms": s[0], "median_ms": percentile(s, 50), "mean_ms": mean, "p90_ms": percentile(s, 90),
            "p99_ms": percentile(s, 99), "max_ms": s[-1], "std_ms": std,
            "trimmed_mean_ms": sum(trimmed) / len(trimmed), "cv": cv,
            "stability": {"stable": stable, "drift": drift, "cv_max": cv_max, "drift_max": drift_max}}


def manifest_sha256(project_dir: Path) -> str | None:
    """sha256 of the bundle manifest that lists this project (the fpga/ folder's parent), so the report can
    match the measured file with the bundle; None when the project was copied without its bundle."""
    manifest = project_dir.resolve().parent / "manifest.json"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None


# ---- the measurement ----

def read_io(path: Path, dtype: str) -> np.ndarray:
    data = path.read_bytes()
    count, width = np.frombuffer(data[:8], dtype="<i4")
    return np.frombuffer(data[8:], dtype=np.dtype(dtype).newbyteorder("<")).reshape(int(count), int(width))


def default_protocol() -> dict:
    return {"warmup_runs": 10, "warmup_seconds": 1.0, "min_runs": 50, "min_seconds": 5.0, "max_runs": None,
            "max_seconds": 60.0, "cooldown_seconds": 2.0, "power_sample_period_ms": 50.0,
            "idle_baseline_seconds": 5.0}


def measure(acc: Accelerator, project_dir: Path, protocol: dict, sensors: list | None, source: str | None,
            method: str, device: dict, load_ms: float | None, model_file: str = "fpga/vit.bit",
            clock: Callable[[], float] = time.perf_counter) -> dict:
    """Numerics check, warm-up, timed runs with power sampling and idle subtraction -> results dict."""
    project = json.loads((project_dir / "project.json").read_text())
    inputs = read_io(project_dir / project["reference"]["inputs"], "int8")
    expected = read_io(project_dir / project["reference"]["expected"], "int32")
    t0 = clock()
    outputs = np.stack([acc.run(x) for x in inputs])
    first_ms = (clock() - t0) * 1e3 / len(inputs)
    diff = np.abs(outputs.astype(np.int64) - expected.astype(np.int64))
    agree = float(np.mean(outputs.argmax(1) == expected.argmax(1)))
    numerics = {"status": "pass" if int(diff.max()) == 0 else "fail",
                "reason": None if int(diff.max()) == 0 else "accelerator logits differ from the integer reference",
                "max_abs_diff": float(diff.max()), "tolerance": 0.0, "top1_agree": agree}
    x = inputs[0]
    start = clock()
    warm = 0
    while warm < protocol["warmup_runs"] or clock() - start < protocol["warmup_seconds"]:
        acc.run(x)
        warm += 1
    warmup_s = clock() - start
    time.sleep(protocol["cooldown_seconds"])
    idle: PowerTrace | None = None
    period = protocol["power_sample_period_ms"] / 1e3
    if sensors:
        idle = sample_for(sensors, protocol.get("idle_baseline_seconds", 5.0), period)
    samples: list[float] = []
    sampler = PowerSampler(sensors, period).start() if sensors else None
    try:
        begin = clock()
        while True:
            elapsed = clock() - begin
            done = len(samples) >= protocol["min_runs"] and elapsed >= protocol["min_seconds"]
            capped = (protocol.get("max_runs") and len(samples) >= protocol["max_runs"]) or \
                     (protocol.get("max_seconds") and elapsed >= protocol["max_seconds"])
            if done or capped:
                break
            t = clock()
            acc.run(x)
            samples.append((clock() - t) * 1e3)
        duration = clock() - begin
    finally:
        active = sampler.stop() if sampler else None
    latency = {"status": "measured", "load_ms": load_ms, "first_ms": first_ms, "warmup_runs": warm, "warmup_s": warmup_s,
               "duration_s": duration, **latency_stats(samples, protocol.get("stability_cv_max", 0.1),
                                                        protocol.get("stability_drift_max", 0.05))}
    if active is not None and idle is not None and len(active.power_w) >= 2:
        power, idle_w = active.mean_w, idle.mean_w
        net = power - idle_w
        energy = net * duration / len(samples) * 1e3
        n = len(active.power_w)
        std = math.sqrt(sum((p - power) ** 2 for p in active.power_w) / (n - 1))
        energy_block = {"status": "measured", "method": method, "reason": None, "source": source,
                        "energy_mj": energy, "uncertainty_mj": std / math.sqrt(n) * duration / len(samples) * 1e3,
                        "power_w": power, "idle_power_w": idle_w, "net_power_w": net,
                        "samples": {"count": n, "period_ms": protocol["power_sample_period_ms"],
                                    "duration_s": active.duration_s, "min_w": min(active.power_w),
                                    "mean_w": power, "max_w": max(active.power_w), "std_w": std,
                                    "idle_count": len(idle.power_w), "idle_duration_s": idle.duration_s}}
    else:
        energy_block = {"status": "unavailable", "method": "none",
                        "reason": "no power sensors were read" if not sensors else "too few power samples",
                        "source": None, "energy_mj": None, "uncertainty_mj": None, "power_w": None,
                        "idle_power_w": None, "net_power_w": None}
    weights = project_dir / "weights.bin"
    model = project["model"]
    return {
        "schema": SCHEMA, "run_id": f"fpga-{_dt.datetime.now(_dt.timezone.utc).strftime('%Y%m%dT%H%M%S')}",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "complete", "error": None, "tool": {"name": "vitsdk-fpga-board-runner", "version": "1"},
        "device": device,
        "runtime": {"name": "fpga", "version": None, "delegate": "hls", "threads": None,
                    "extra": {"block_shape": project["block_shape"], "latency_method": "measured"}},
        "model": {"name": model["name"], "file": model_file, "format": "bit",
                  "sha256": hashlib.sha256(weights.read_bytes()).hexdigest() if weights.exists() else "0" * 64,
                  "size_bytes": weights.stat().st_size if weights.exists() else None, "precision": "int8",
                  "macs": project.get("macs"), "input_shape": [1, model["in_chans"], model["img_size"], model["img_size"]],
                  "manifest_sha256": manifest_sha256(project_dir)},
        "protocol": {k: v for k, v in protocol.items()},
        "latency": latency, "energy": energy_block,
        "thermal": {"before": {"state": None, "temperature_c": None}, "after": {"state": None, "temperature_c": None}},
        "numerics": numerics,
    }


def write_json(path: Path, data: dict) -> None:
    """Atomic: a temporary sibling renamed into place, never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path, help="the bundle's fpga/ folder (project.json, tb/, weights.bin)")
    parser.add_argument("--bitstream", required=True, help="the overlay .bit (with its .hwh beside it)")
    parser.add_argument("--ip", default="vit_top_0", help="name of the accelerator IP in the block design")
    parser.add_argument("--board", default="ZCU104")
    parser.add_argument("--power", choices=("auto", "pynq", "hwmon", "none"), default="auto")
    parser.add_argument("--rails", default=None, help="glob of rail names/labels to sum (default: all)")
    parser.add_argument("--hwmon-root", default="/sys/class/hwmon")
    parser.add_argument("--min-runs", type=int, default=50)
    parser.add_argument("--min-seconds", type=float, default=5.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("-o", "--output", type=Path, default=Path("results.json"))
    args = parser.parse_args(argv)
    project_file = args.project / "project.json"
    if not project_file.is_file():
        print(f"error: {project_file} not found: pass the bundle's fpga/ folder", file=sys.stderr)
        return 2
    project = json.loads(project_file.read_text())
    model = project["model"]
    n_in = (model["img_size"] // model["patch_size"]) ** 2 * model["in_chans"] * model["patch_size"] ** 2
    protocol = default_protocol()
    protocol.update(min_runs=args.min_runs, min_seconds=args.min_seconds, idle_baseline_seconds=args.idle_seconds)
    start = time.perf_counter()
    try:
        acc = PynqAccelerator(args.bitstream, args.ip, n_in, model["num_classes"])
    except BoardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
              "soc": project.get("hls_part"), "os": "pynq", "os_version": platform.release(),
              "clock_mhz": 1000.0 / project["hls_clock_ns"]}
    result = measure(acc, args.project, protocol, sensors, source, method, device, load_ms)
    write_json(args.output, result)
    print(f"median {result['latency']['median_ms']:.3f} ms, energy {result['energy'].get('energy_mj')} mJ, "
          f"numerics {result['numerics']['status']} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
