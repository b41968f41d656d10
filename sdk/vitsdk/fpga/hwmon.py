"""Board power from the INA226 sensors under the Linux hwmon sysfs (ZCU102 / ZCU104 / KV260 class boards).

Standard library only: the FPGA board runner (`fpga/board/run_board.py`) imports it on PYNQ's Python,
which has no torch (`vitsdk.fpga` imports lazily, so this module loads alone). Named `HwmonTrace`, not
`PowerTrace`: `vitsdk.bench.energy.PowerTrace` is the integrated trace the runner turns these samples into.
Layout read (the kernel's ina2xx driver):

    /sys/class/hwmon/hwmonN/name           "ina226"
    /sys/class/hwmon/hwmonN/label          rail name, where the device tree gives one (optional)
    /sys/class/hwmon/hwmonN/power1_input   microwatts (optional on old kernels)
    /sys/class/hwmon/hwmonN/in1_input      bus voltage, millivolts
    /sys/class/hwmon/hwmonN/curr1_input    current, milliamps

A sensor without power1_input is read as in1 x curr1. Unreadable files are errors naming the path.
"""
from __future__ import annotations

import fnmatch
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HWMON_ROOT = "/sys/class/hwmon"
POWER_CHIPS = ("ina226", "ina219", "ina230", "ina231", "ina260")


class SensorError(Exception):
    """A power sensor is missing or unreadable."""


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SensorError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_int(path: Path) -> int:
    text = _read(path)
    try:
        return int(text)
    except ValueError:
        raise SensorError(f"{path}: expected an integer, got {text!r}") from None


@dataclass
class PowerSensor:
    """One INA2xx power monitor (one board rail)."""

    path: Path
    chip: str
    label: str

    def read_w(self) -> float:
        power = self.path / "power1_input"
        if power.exists():
            return _read_int(power) / 1e6
        return _read_int(self.path / "in1_input") * _read_int(self.path / "curr1_input") / 1e6

    def describe(self) -> str:
        return f"{self.label} ({self.chip}, {self.path.name})"


def find_sensors(root: str | os.PathLike = HWMON_ROOT, rails: str | None = None) -> list[PowerSensor]:
    """Every INA2xx sensor under `root`, optionally only rails whose label matches the glob `rails`."""
    root = Path(root)
    if not root.is_dir():
        raise SensorError(f"no hwmon folder at {root} (is this the board, with the ina2xx driver loaded?)")
    sensors = []
    for entry in sorted(root.iterdir(), key=lambda p: (len(p.name), p.name)):
        name_file = entry / "name"
        if not name_file.exists():
            continue
        chip = _read(name_file)
        if chip not in POWER_CHIPS:
            continue
        label_file = entry / "label"
        if label_file.exists():
            label = _read(label_file)
        else:
            device = entry / "device"
            label = os.path.basename(os.path.realpath(device)) if device.exists() else entry.name
        if rails and not fnmatch.fnmatch(label, rails):
            continue
        sensors.append(PowerSensor(entry, chip, label))
    if not sensors:
        which = f" with labels matching '{rails}'" if rails else ""
        raise SensorError(f"no INA2xx power sensors{which} under {root}")
    return sensors


def total_power_w(sensors: list[PowerSensor]) -> float:
    return sum(sensor.read_w() for sensor in sensors)


@dataclass
class HwmonTrace:
    """Timestamps (s, `time.monotonic`) and summed power (W) of the sensors, in sample order."""

    t_s: list[float] = field(default_factory=list)
    power_w: list[float] = field(default_factory=list)

    @property
    def mean_w(self) -> float:
        if not self.power_w:
            raise SensorError("no power samples were taken")
        return sum(self.power_w) / len(self.power_w)

    @property
    def duration_s(self) -> float:
        return self.t_s[-1] - self.t_s[0] if len(self.t_s) > 1 else 0.0


class PowerSampler:
    """Samples the summed power of `sensors` every `period_s` in a background thread.

    Use as a context manager around the work; `trace` holds the samples afterwards. A sensor error in
    the thread is raised again by `stop()`.
    """

    def __init__(self, sensors: list[PowerSensor], period_s: float = 0.05) -> None:
        self.sensors = sensors
        self.period_s = period_s
        self.trace = HwmonTrace()
        self._stop = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                value = total_power_w(self.sensors)
            except SensorError as exc:
                self._error = exc
                return
            self.trace.t_s.append(time.monotonic())
            self.trace.power_w.append(value)
            next_t += self.period_s
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def start(self) -> "PowerSampler":
        self._thread.start()
        return self

    def stop(self) -> HwmonTrace:
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.trace

    def __enter__(self) -> "PowerSampler":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sample_for(sensors: list[PowerSensor], seconds: float, period_s: float = 0.05) -> HwmonTrace:
    """Samples for `seconds` (e.g. the idle baseline) and returns the trace."""
    with PowerSampler(sensors, period_s) as sampler:
        time.sleep(seconds)
    return sampler.trace
