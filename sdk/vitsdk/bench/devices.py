"""The bench devices, one table: where each device's runner and options live, and which CLI flags it takes.

Every device has the same interface,

    run(bundle, out_dir, protocol, options, progress) -> [(results path, results document)]

with a typed, frozen options dataclass of its own (`HostOptions`, `AndroidOptions`, `IOSOptions`,
`BrowserOptions`, `FpgaOptions`). The runner validates every document against the results schema and
writes it atomically before returning it. Runners and options are named by import path and imported
only when the device is used, so `vitsdk bench --device host` never imports the FPGA simulator.

`vitsdk bench` reads this table for `--device` (choices, "did you mean"), to refuse a flag the chosen
device does not take, and to build the device's options from the flags it does take. To add a device:
write its runner and options, add a row here, and add its platform to `device.platform` in
`schemas/results.schema.json` (a device's name is its results' platform; `tests/test_bench_devices.py`
checks the two agree).
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitsdk.errors import UserError, unknown

Runner = Callable[..., list[tuple[Path, dict]]]


@dataclass(frozen=True)
class Device:
    """Args:
        name: the `--device` value and the results' `device.platform`.
        runner: 'module:function' of `run(bundle, out_dir, protocol, options, progress)`.
        options: 'module:Class' of the device's options dataclass.
        flags: the device-only CLI flags it takes, each mapped to its options field.
        summary: one line for `--help`.
    """

    name: str
    runner: str
    options: str
    flags: dict[str, str]
    summary: str

    def run(self, bundle: str | os.PathLike, out_dir: str | os.PathLike, protocol: Any, options: Any,
            progress: Callable[[str], None] | None = None) -> list[tuple[Path, dict]]:
        """Imports the runner and runs it."""
        return self.runner_function()(bundle, out_dir, protocol, options, progress)

    def runner_function(self) -> Runner:
        return _load(self.runner)

    def options_class(self) -> type:
        return _load(self.options)

    def make_options(self, flags: dict[str, Any], **hooks: Any) -> Any:
        """The device's options from CLI flag values (`flags`: flag name -> value, None/False/empty when not
        given). A given flag the device does not take is a UserError naming the devices that do; `hooks`
        (e.g. `show_url`) go to the devices whose options declare a field of that name."""
        for flag, value in flags.items():
            if _given(value) and flag not in self.flags:
                takers = [d.name for d in DEVICES.values() if flag in d.flags]
                raise UserError(f"{_cli(flag)} is for --device {' or '.join(takers)} (this run is --device {self.name})")
        cls = self.options_class()
        fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
        values = {}
        for flag, field in self.flags.items():
            value = flags.get(flag)
            if not _given(value):
                continue
            if isinstance(value, list):   # a repeatable flag
                if fields[field].startswith("tuple"):
                    value = tuple(value)
                elif len(value) == 1:
                    value = value[0]
                else:
                    raise UserError(f"{_cli(flag)} takes one value for --device {self.name}")
            values[field] = value
        values.update({k: v for k, v in hooks.items() if k in fields})
        return cls(**values)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _given(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != ()


def _cli(flag: str) -> str:
    return "--" + flag.replace("_", "-")


DEVICES: dict[str, Device] = {d.name: d for d in (
    Device("host", "vitsdk.bench.host:run_host", "vitsdk.bench.host:HostOptions",
           {"threads": "threads", "runtime": "runtimes"},
           "this machine: ExecuTorch and LiteRT measured, energy from RAPL"),
    Device("android", "vitsdk.bench.android:run_android", "vitsdk.bench.android:AndroidOptions",
           {"serial": "serials", "all_devices": "all_devices", "install": "install", "threads": "threads",
            "runtime": "runtimes", "timeout": "timeout_s"},
           "phones over adb, through the benchmark app (android_app/)"),
    Device("ios", "vitsdk.bench.ios:run_ios", "vitsdk.bench.ios:IOSOptions",
           {"serial": "device", "install": "install", "threads": "threads", "runtime": "runtimes",
            "battery_wh": "battery_wh", "timeout": "timeout_s"},
           "an iPhone from a Mac with Xcode (xcrun devicectl), through VitBench (ios_app/)"),
    Device("fpga", "vitsdk.fpga.bench:run_fpga", "vitsdk.fpga.bench:FpgaOptions",
           {"board": "board"},
           "the generated engine simulated by Verilator; energy estimated"),
    Device("browser", "vitsdk.bench.browser:run_browser", "vitsdk.bench.browser:BrowserOptions",
           {"serve": "serve", "headless": "headless", "accelerator": "accelerators", "battery_wh": "battery_wh",
            "threads": "threads", "timeout": "timeout_s"},
           "LiteRT.js in a web page: headless Chromium here, or a phone's browser"),
)}


def list_devices() -> list[str]:
    """The device names, in the table's order."""
    return list(DEVICES)


def get_device(name: str) -> Device:
    """The device called `name`; an unknown name is a UserError with the nearest valid one."""
    if name not in DEVICES:
        raise unknown("device", name, tuple(DEVICES))
    return DEVICES[name]
