"""The bench device table (`vitsdk.bench.devices`): one interface for every device, its flags, lazy imports."""
from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest

from vitsdk.bench.devices import DEVICES, get_device
from vitsdk.errors import UserError
from vitsdk.formats.results import PLATFORMS

INTERFACE = ["bundle", "out_dir", "protocol", "options", "progress"]


def test_devices_are_the_results_platforms():
    """A device's name is its results' `device.platform`: a device missing from the schema's enum would write
    files the report refuses, and a platform without a device could never be benched."""
    assert list(DEVICES) == list(PLATFORMS)


@pytest.mark.parametrize("name", list(DEVICES))
def test_every_device_has_the_one_interface_and_typed_options(name):
    device = get_device(name)
    params = list(inspect.signature(device.runner_function()).parameters)
    assert [p.removesuffix("_path") for p in params[:5]] == INTERFACE, params
    options = device.options_class()
    assert dataclasses.is_dataclass(options) and options.__dataclass_params__.frozen
    fields = {f.name for f in dataclasses.fields(options)}
    assert "protocol" not in fields, "the protocol is an argument of run, not an option"
    assert set(device.flags.values()) <= fields, f"{name}: flags point at missing fields"
    assert dataclasses.asdict(device.make_options({})) == dataclasses.asdict(options())


@pytest.mark.parametrize("name, flags, message", [
    ("host", {"serve": "0.0.0.0:8765"}, "--serve is for --device browser (this run is --device host)"),
    ("host", {"board": "zcu104"}, "--board is for --device fpga (this run is --device host)"),
    ("fpga", {"threads": 2}, "--threads is for --device host or android or ios or browser"),
    ("browser", {"runtime": ["litert"]}, "--runtime is for --device host or android or ios"),
    ("host", {"all_devices": True}, "--all-devices is for --device android"),
    ("ios", {"serial": ["a", "b"]}, "--serial takes one value for --device ios"),
    ("browser", {"serve": ":0", "headless": True}, "--headless runs the page here and --serve waits"),
    ("android", {"timeout": 0.0}, "--timeout must be > 0"),
    ("host", {"threads": 0}, "--threads must be >= 1"),
    ("android", {"threads": 0}, "--threads must be >= 1"),
    ("ios", {"threads": 0}, "--threads must be >= 1"),
    ("browser", {"threads": 0}, "--threads must be >= 1"),
])
def test_flags_another_device_takes_are_refused(name, flags, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_device(name).make_options(flags)


def test_flags_reach_the_options_fields():
    android = get_device("android").make_options({"serial": ["A", "B"], "timeout": 5.0, "threads": None})
    assert android.serials == ("A", "B") and android.timeout_s == 5.0 and android.threads is None
    assert get_device("ios").make_options({"serial": ["iPad"]}).device == "iPad"
    browser = get_device("browser").make_options({"accelerator": ["wasm"]}, show_url=print)
    assert browser.accelerators == ("wasm",) and browser.show_url is print
    assert get_device("fpga").make_options({"board": "zcu104"}, show_url=print).board == "zcu104"


def test_unknown_device_suggests_the_nearest():
    with pytest.raises(UserError, match="did you mean 'android'"):
        get_device("andriod")


def test_runners_are_imported_only_when_their_device_is_used():
    code = ("import sys, vitsdk.cli.bench; from vitsdk.bench.devices import get_device; "
            "get_device('host').options_class(); "
            "print(sorted(m for m in sys.modules if m.startswith(('vitsdk.fpga', 'vitsdk.bench.android', "
            "'vitsdk.bench.browser', 'vitsdk.bench.ios', 'executorch', 'ai_edge_litert'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_help_names_the_devices_each_flag_is_for():
    """`vitsdk bench --help` says which devices take a device-only flag; it must name every device the table
    lets take it (a flag added to a device's row without a word in the help is invisible to users)."""
    import typer

    import vitsdk.cli  # noqa: F401 - registers the verbs
    from vitsdk.cli.app import app

    params = {p.name: p.help or "" for p in typer.main.get_command(app).commands["bench"].params}
    flags = {flag for device in DEVICES.values() for flag in device.flags}
    for flag in sorted(flags):
        takers = [d.name for d in DEVICES.values() if flag in d.flags]
        assert all(name in params[flag] for name in takers), (flag, takers, params[flag])
