"""`vitsdk bench BUNDLE --device ios`: drives the VitBench iOS app from a Mac with `xcrun devicectl`.

The sequence (Xcode 15+ on macOS; the phone paired, unlocked, in Developer Mode, the app installed
from Xcode or with `install=`):
  1. `devicectl list devices` -> the one iPhone/iPad asked for (or the only one connected);
  2. `devicectl device copy to` the bundle into the app's Documents/bundles/RUN_ID and the run spec
     (`vitsdk.run_spec/1`) to Documents/inbox/RUN_ID.json;
  3. `devicectl device process launch` the app with `--run-spec inbox/RUN_ID.json`: it runs the
     shared protocol and writes Documents/results/RUN_ID/*.json, then `run_complete.json`;
  4. polls for `run_complete.json` with `devicectl device copy from`, copies the results folder back,
     validates every file against schemas/results.schema.json and writes it to the output folder.
Every command is an argument list (never a shell string), so names with spaces or quotes are safe.
Anywhere but macOS it stops with a clear error that says how to run the app by hand instead.
"""
from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vitsdk.atomic import write_json
from vitsdk.bench.protocol import Protocol
from vitsdk.errors import UserError, suggest, unknown
from vitsdk.formats.manifest import load_bundle
from vitsdk.formats.results import new_run_id, parse_results
from vitsdk.formats.run_spec import model_run, run_spec_document

APP_BUNDLE_ID = "dev.vitsdk.VitBench"
IOS_RUNTIMES = ("coreml", "executorch")
COMPUTE_UNITS = ("cpu", "cpu_gpu", "cpu_ane", "all")
INDEX = "run_complete.json"


@dataclass(frozen=True)
class IOSOptions:
    """Args:
        device: devicectl identifier, hardware UDID or device name; None: the only connected one.
        compute_units: Core ML compute units to measure, one run each (cpu, cpu_gpu, cpu_ane, all).
        runtimes: only these runtimes (coreml, executorch); None: both.
        threads: CPU threads for ExecuTorch; None: its default.
        install: a built VitBench.app to install first; None: it is already installed.
        battery_wh: the phone's battery capacity in Wh, for the coarse battery-level energy figure
            (iOS does not expose it); None: energy is reported unavailable.
        timeout_s: give up waiting for the app after this long.
        poll_s: seconds between checks for the app's `run_complete.json`.
        app_id: the app's bundle identifier (change it with yours if you re-signed it under another one).
    """

    device: str | None = None
    compute_units: tuple[str, ...] = ("all",)
    runtimes: tuple[str, ...] | None = None
    threads: int | None = None
    install: Path | None = None
    battery_wh: float | None = None
    timeout_s: float = 3600.0
    poll_s: float = 5.0
    app_id: str = APP_BUNDLE_ID

    def __post_init__(self) -> None:
        for cu in self.compute_units:
            if cu not in COMPUTE_UNITS:
                raise unknown("Core ML compute units", cu, COMPUTE_UNITS)
        if not self.compute_units:
            raise UserError("give at least one Core ML compute units value")
        if self.threads is not None and self.threads < 1:
            raise UserError("--threads must be >= 1")
        if self.battery_wh is not None and not 0 < self.battery_wh < 200:
            raise UserError(f"--battery-wh {self.battery_wh} is not a phone battery capacity in Wh (e.g. 12.7)")
        if self.timeout_s <= 0 or self.poll_s <= 0:
            raise UserError("timeout and poll interval must be > 0 seconds")
        if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", self.app_id):
            raise UserError(f"app id '{self.app_id}' is not a bundle identifier like {APP_BUNDLE_ID}")


def _system() -> str:
    return platform.system()


def _require_xcrun() -> str:
    if _system() != "Darwin":
        raise UserError(
            f"--device ios needs a Mac with Xcode 15+ (xcrun devicectl); this is {_system()}. Without a Mac: "
            "AirDrop or copy the bundle into the VitBench app (Files), run it there, share the results JSON "
            "and read it with `vitsdk report` (see ios_app/README.md)")
    xcrun = shutil.which("xcrun")
    if xcrun is None:
        raise UserError("xcrun not found: install Xcode 15+ and run `xcode-select -s /Applications/Xcode.app`")
    return xcrun


class _Devicectl:
    """Runs `xcrun devicectl ...` and turns its failures into one-line errors."""

    def __init__(self, xcrun: str, progress: Callable[[str], None]) -> None:
        self.xcrun = xcrun
        self.progress = progress

    def run(self, args: Sequence[str], what: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        argv = [self.xcrun, "devicectl", *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UserError(f"devicectl: {what} did not finish in {timeout:.0f} s (phone locked or disconnected?)") from None
        if check and done.returncode != 0:
            message = _last_line(done.stderr) or _last_line(done.stdout) or f"exit {done.returncode}"
            raise UserError(f"devicectl: {what} failed: {message}")
        return done

    def list_devices(self) -> list[dict]:
        with tempfile.TemporaryDirectory(prefix="vitsdk-ios-") as tmp:
            out = Path(tmp) / "devices.json"
            done = self.run(["list", "devices", "--timeout", "10", "--json-output", str(out)], "list devices",
                            timeout=60, check=False)
            if done.returncode != 0:
                raise UserError(f"devicectl: list devices failed (devicectl needs Xcode 15+): "
                                f"{_last_line(done.stderr) or f'exit {done.returncode}'}")
            try:
                data = json.loads(out.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise UserError(f"devicectl: list devices wrote no readable JSON ({exc})") from None
        devices = data.get("result", {}).get("devices") if isinstance(data, dict) else None
        if not isinstance(devices, list):
            raise UserError("devicectl: list devices JSON has no result.devices (unknown devicectl version?)")
        return devices


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass(frozen=True)
class Phone:
    identifier: str
    name: str
    udid: str | None
    os_version: str | None


def choose_device(devices: list[dict], wanted: str | None) -> Phone:
    """The iPhone/iPad to use: named by `wanted`, or the only usable one; errors say what to fix."""
    phones = []
    for d in devices:
        hw, conn, props = (d.get(k) or {} for k in ("hardwareProperties", "connectionProperties", "deviceProperties"))
        if hw.get("platform") not in (None, "iOS") or hw.get("reality") == "virtual":
            continue
        phones.append((d, hw, conn, props))
    if wanted:
        seen = [p[3].get("name") or p[0].get("identifier") or "?" for p in phones]
        phones = [p for p in phones if wanted in (p[0].get("identifier"), p[1].get("udid"), p[3].get("name"))]
        if not phones:
            raise UserError(f"no iOS device '{wanted}'{suggest(wanted, seen)}; devicectl sees: {', '.join(seen) or 'none'}")
    if not phones:
        raise UserError("no iPhone or iPad found: connect it (cable or same Wi-Fi), unlock it and trust this Mac")
    if len(phones) > 1:
        names = ", ".join(f"{p[3].get('name')} ({p[0].get('identifier')})" for p in phones)
        raise UserError(f"more than one iOS device: {names}; pick one with --device NAME_OR_ID")
    d, hw, conn, props = phones[0]
    name = props.get("name") or d.get("identifier", "?")
    if conn.get("pairingState") not in (None, "paired"):
        raise UserError(f"{name} is not paired with this Mac: unlock it and tap Trust (or pair in Xcode's Devices window)")
    if props.get("developerModeStatus") not in (None, "enabled"):
        raise UserError(f"{name} has Developer Mode off: Settings > Privacy & Security > Developer Mode, then restart it")
    if conn.get("tunnelState") == "unavailable":
        raise UserError(f"{name} is not reachable (tunnel unavailable): unlock it and reconnect the cable")
    return Phone(identifier=d["identifier"], name=name, udid=hw.get("udid"), os_version=props.get("osVersionNumber"))


def run_spec(bundle_dir_on_device: str, output_dir_on_device: str, run_id: str, files: list, protocol: Protocol,
             options: IOSOptions) -> dict:
    """The run spec the app reads: each Core ML file once per compute units, each .pte once."""
    models = []
    for f in files:
        if f.runtime == "coreml":
            models += [model_run(f.path, "coreml", cu, None) for cu in options.compute_units]
        else:
            models.append(model_run(f.path, f.runtime, f.delegate, options.threads))
    return run_spec_document(run_id=run_id, bundle=bundle_dir_on_device, output_dir=output_dir_on_device,
                             models=models, protocol=protocol.to_dict())


def run_ios(bundle: str | Path, out_dir: str | Path, protocol: Protocol = Protocol(), options: IOSOptions = IOSOptions(),
            progress: Callable[[str], None] | None = None) -> list[tuple[Path, dict]]:
    """Measures every Core ML / ExecuTorch file of `bundle` on a connected iPhone with `protocol`; returns
    (results path, document) pairs."""
    progress = progress or (lambda _msg: None)
    xcrun = _require_xcrun()
    b = load_bundle(bundle)
    files = [f for f in b.files if f.runtime in IOS_RUNTIMES and (options.runtimes is None or f.runtime in options.runtimes)]
    if not files:
        raise UserError(f"{b.root}: no Core ML (.mlpackage) or ExecuTorch (.pte) files"
                        f"{' for ' + ', '.join(options.runtimes) if options.runtimes else ''}; export with --target ios")
    ctl = _Devicectl(xcrun, progress)
    phone = choose_device(ctl.list_devices(), options.device)
    progress(f"iOS device: {phone.name} (iOS {phone.os_version or '?'})")
    container = ["--device", phone.identifier, "--domain-type", "appDataContainer", "--domain-identifier", options.app_id]
    if options.install is not None:
        if not Path(options.install).is_dir():
            raise UserError(f"--install {options.install}: not a built .app folder (build VitBench in Xcode first)")
        progress(f"installing {options.install}")
        ctl.run(["device", "install", "app", "--device", phone.identifier, str(options.install)], "install the app")

    run_id = new_run_id("ios")
    bundle_rel, results_rel, spec_rel = f"bundles/{run_id}", f"results/{run_id}", f"inbox/{run_id}.json"
    spec = run_spec(bundle_rel, results_rel, run_id, files, protocol, options)
    with tempfile.TemporaryDirectory(prefix="vitsdk-ios-") as tmp:
        spec_path = Path(tmp) / "run_spec.json"
        spec_path.write_text(json.dumps(spec, indent=1) + "\n")
        progress(f"copying {b.root} to the phone")
        ctl.run(["device", "copy", "to", *container, "--source", str(b.root), "--destination", f"Documents/{bundle_rel}"],
                "copy the bundle (is VitBench installed? build and run it once from Xcode)", timeout=1800)
        ctl.run(["device", "copy", "to", *container, "--source", str(spec_path), "--destination", f"Documents/{spec_rel}"],
                "copy the run spec")
        launch = ["device", "process", "launch", "--device", phone.identifier, "--terminate-existing", options.app_id,
                  "--run-spec", spec_rel]
        if options.battery_wh is not None:
            launch += ["--battery-wh", repr(float(options.battery_wh))]
        progress(f"launching {options.app_id} (run {run_id}, {len(spec['models'])} model run(s))")
        ctl.run(launch, "launch VitBench (unlock the phone; trust the developer in Settings > General > VPN & Device Management)")
        _wait_for_index(ctl, container, f"Documents/{results_rel}/{INDEX}", Path(tmp), options, progress)
        pulled = Path(tmp) / "pulled"
        ctl.run(["device", "copy", "from", *container, "--source", f"Documents/{results_rel}", "--destination", str(pulled)],
                "copy the results back", timeout=600)
        return _collect(pulled, Path(out_dir), run_id)


def _wait_for_index(ctl: _Devicectl, container: list[str], source: str, tmp: Path, options: IOSOptions,
                    progress: Callable[[str], None]) -> None:
    deadline = time.monotonic() + options.timeout_s
    probe = tmp / "index_probe"
    last = ""
    while True:
        done = ctl.run(["device", "copy", "from", *container, "--source", source, "--destination", str(probe)],
                       "check for results", timeout=120, check=False)
        if done.returncode == 0:
            return
        last = _last_line(done.stderr)
        if time.monotonic() >= deadline:
            raise UserError(f"the app wrote no {INDEX} within {options.timeout_s:.0f} s (last devicectl message: "
                            f"{last or 'none'}); results so far stay on the phone in Documents/results")
        progress("waiting for the app to finish ...")
        time.sleep(options.poll_s)


def _find_index(pulled: Path) -> Path:
    """devicectl may copy a folder's contents or the folder itself: accept either layout."""
    for candidate in (pulled / INDEX, *pulled.glob(f"*/{INDEX}")):
        if candidate.is_file():
            return candidate
    raise UserError(f"the results copied from the phone have no {INDEX}")


def _collect(pulled: Path, out_dir: Path, run_id: str) -> list[tuple[Path, dict]]:
    index_path = _find_index(pulled)
    try:
        index = json.loads(index_path.read_text())
        names = index["results"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{INDEX} from the phone is not readable (truncated copy?)") from None
    if index.get("run_id") != run_id:
        raise UserError(f"{INDEX} on the phone is from run {index.get('run_id')!r}, not {run_id!r}")
    results = []
    for name in names:
        source = index_path.parent / name
        if Path(name).name != name or not source.is_file():
            raise UserError(f"{INDEX} lists {name!r}, which was not copied back")
        doc = parse_results(source.read_bytes(), f"{name} (copied from the phone)")
        target = out_dir / name
        write_json(target, doc)
        results.append((target, doc))
    return results
