"""`vitsdk bench --device android`: drives the benchmark app (android_app/) over adb.

Sequence: find adb -> pick the device (`adb devices`) -> read its properties -> install the APK if asked
-> check the app is installed -> push the bundle's files and a run spec to /data/local/tmp/vitsdk/RUN/
-> start the app's activity with the run spec path as an intent extra -> poll the app's progress.json,
pulling each results file as soon as the app lists it (`run-as` when `adb pull` lacks permission)
-> validate every file against the results schema.

Every adb call is an argument list. `adb shell` joins its arguments into one remote shell line, so
every device-side argument is built from checked names (run ids, bundle-relative paths) and quoted.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from vitsdk.atomic import write_json, write_text
from vitsdk.bench.bundle import Bundle, ModelFile, load_bundle
from vitsdk.bench.host import results_name, utc_now
from vitsdk.bench.protocol import Protocol
from vitsdk.formats.results import RESULTS
from vitsdk.formats.run_spec import RUN_SPEC
from vitsdk.errors import UserError
from vitsdk.formats.schema import load_schema

PACKAGE = "dev.vitsdk.bench"
ACTIVITY = f"{PACKAGE}/.BenchActivity"
ACTION = f"{PACKAGE}.RUN"
DEVICE_ROOT = "/data/local/tmp/vitsdk"
EXTERNAL_RESULTS = f"/sdcard/Android/data/{PACKAGE}/files/results"   # the app's getExternalFilesDir("results")
INTERNAL_RESULTS = "files/results"                                   # under the app's data dir (run-as)
ANDROID_RUNTIMES = ("executorch", "litert")
_SAFE = re.compile(r"^[A-Za-z0-9._/-]+$")
_LOST = ("not found", "no devices/emulators found", "device offline", "device still authorizing",
         "closed", "protocol fault", "connection reset")


class DeviceLost(Exception):
    """adb lost the device mid-run (cable pulled, Wi-Fi dropped, phone rebooted)."""


@dataclass(frozen=True)
class AndroidOptions:
    """Args:
        protocol: the measurement protocol the app follows.
        serial: adb serial; None: the only attached device.
        serials: several phones at once (run in parallel, each phone's results in a folder named after it).
        all_devices: every phone adb lists as ready, in parallel.
        install: an APK to install (adb install -r) before running.
        threads: CPU threads for every model; None: the runtime's default.
        runtimes: only these runtimes (default: every Android runtime in the bundle).
        timeout_s: give up waiting for the app after this long.
        poll_s: how often to read the app's progress.
        start_timeout_s: how long the app may take to write its first progress.json.
        reconnect_s: after losing the device, how long to wait for it to come back.
        adb: path of adb (default: PATH, then $ANDROID_HOME / $ANDROID_SDK_ROOT platform-tools).
    """

    protocol: Protocol = field(default_factory=Protocol)
    serial: str | None = None
    serials: tuple[str, ...] = ()
    all_devices: bool = False
    install: Path | None = None
    threads: int | None = None
    runtimes: tuple[str, ...] | None = None
    timeout_s: float = 3600.0
    poll_s: float = 2.0
    start_timeout_s: float = 60.0
    reconnect_s: float = 30.0
    adb: str | None = None

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.poll_s < 0:
            raise ValueError("timeout_s must be > 0 and poll_s >= 0")
        if self.all_devices and (self.serials or self.serial):
            raise UserError("--all-devices runs every attached phone: drop --serial, or drop --all-devices")


def find_adb(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    found = shutil.which("adb")
    if found:
        return found
    for var in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        home = os.environ.get(var)
        if home and (Path(home) / "platform-tools" / "adb").is_file():
            return str(Path(home) / "platform-tools" / "adb")
    raise UserError("adb not found: install Android platform-tools (e.g. `apt-get install adb` or Android Studio's "
                    "SDK Manager) and put adb on PATH, or set ANDROID_HOME")


def _q(arg: str) -> str:
    """A device-side shell argument: only checked names reach here, quoted all the same."""
    if not _SAFE.match(arg):
        raise UserError(f"'{arg}' has characters that cannot be passed to the device shell safely; "
                        "rename it to letters, digits and ._-/")
    return shlex.quote(arg)


class Adb:
    """adb with one device selected; every call is an argument list, failures become clear errors."""

    def __init__(self, adb: str, serial: str | None = None) -> None:
        self.adb = adb
        self.serial = serial

    def run(self, *args: str, timeout: float = 600.0, binary: bool = False) -> subprocess.CompletedProcess:
        cmd = [self.adb] + (["-s", self.serial] if self.serial else []) + list(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, text=not binary)
        except FileNotFoundError:
            raise UserError(f"adb not found at {self.adb}") from None
        except subprocess.TimeoutExpired:
            raise DeviceLost(f"adb {' '.join(args[:2])} did not answer within {timeout:.0f} s") from None
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
        if proc.returncode != 0 and any(s in err for s in _LOST) and "No such file" not in err:
            if "unauthorized" in err:
                raise UserError(_unauthorized(self.serial))
            raise DeviceLost(err.strip().splitlines()[0] if err.strip() else "device lost")
        if proc.returncode != 0 and "unauthorized" in err:
            raise UserError(_unauthorized(self.serial))
        return proc

    def shell(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        return self.run("shell", *args, timeout=timeout)


def _unauthorized(serial: str | None) -> str:
    return (f"device {serial or ''} is unauthorized: unlock the phone and accept the 'Allow USB debugging' prompt "
            "(or revoke and re-accept it in Developer options), then run again")


def attached_devices(adb: Adb) -> dict[str, str]:
    """`adb devices` as {serial: state} (device, unauthorized, offline, ...)."""
    proc = adb.run("devices")
    if proc.returncode != 0:
        raise UserError(f"`adb devices` failed: {proc.stderr.strip()}")
    devices = {}
    lines = proc.stdout.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("List of devices")), len(lines))
    for line in lines[start:]:   # skips "* daemon not running; starting now" and the like
        parts = line.split()
        if len(parts) >= 2:
            devices[parts[0]] = " ".join(parts[1:])
    return devices


def pick_device(adb: Adb, serial: str | None) -> str:
    """The serial to use; errors for no device, an unauthorised one, or several without --serial."""
    devices = attached_devices(adb)
    hint = "connect the phone by USB, or over Wi-Fi with `adb pair` / `adb connect IP:PORT` (android_app/README.md)"
    if serial is not None:
        if serial not in devices:
            listed = f" (attached: {', '.join(devices)})" if devices else ""
            raise UserError(f"device '{serial}' not found by adb{listed}; {hint}")
        candidates = {serial: devices[serial]}
    else:
        if not devices:
            raise UserError(f"no Android device found (`adb devices` lists none); {hint}")
        if len(devices) > 1:
            raise UserError(f"{len(devices)} devices attached; choose one with --serial ({', '.join(devices)})")
        candidates = devices
    (chosen, state), = candidates.items()
    if state.startswith("unauthorized"):
        raise UserError(_unauthorized(chosen))
    if state.startswith("no permissions"):
        raise UserError(f"adb has no permission to use device {chosen}: add a udev rule for it (Android docs: "
                        "'Set up a device for development'), or run the adb server as your user")
    if state != "device":
        raise UserError(f"device {chosen} is '{state}', not ready; wait for it to boot, or reconnect it")
    return chosen


def device_properties(adb: Adb) -> dict:
    """The results' device block from `getprop` (used for results the phone could not deliver)."""
    props = {}
    for line in adb.shell("getprop").stdout.splitlines():
        m = re.match(r"^\[([^\]]+)\]: \[(.*)\]$", line.strip())
        if m:
            props[m.group(1)] = m.group(2)
    sdk = props.get("ro.build.version.sdk", "")
    return {"platform": "android", "name": props.get("ro.product.model") or adb.serial or "android",
            "manufacturer": props.get("ro.product.manufacturer"), "model": props.get("ro.product.model"),
            "soc": props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware"),
            "os": "android", "os_version": props.get("ro.build.version.release", "unknown"),
            "api_level": int(sdk) if sdk.isdigit() else None, "cpu_cores": None, "memory_bytes": None,
            "serial": adb.serial}


def run_spec(bundle: Bundle, models: list[ModelFile], run_id: str, device_bundle: str, options: AndroidOptions) -> dict:
    return {"schema": RUN_SPEC.tag, "run_id": run_id, "bundle": device_bundle,
            "output_dir": f"{EXTERNAL_RESULTS}/{run_id}",
            "models": [{"file": m.path, "runtime": m.runtime, "delegate": m.delegate, "threads": options.threads}
                       for m in models],
            "protocol": options.protocol.to_dict()}


def _bundle_files(bundle: Bundle, models: list[ModelFile]) -> list[str]:
    files = ["manifest.json"] + [m.path for m in models]
    ref = bundle.manifest.get("reference")
    if isinstance(ref, dict):
        files += [v for v in ref.values() if isinstance(v, str) and (bundle.root / v).is_file()]
    return list(dict.fromkeys(files))


class _Puller:
    """Reads app files: `adb pull` / `adb shell cat` first, then `run-as` (debuggable app) on permission denied."""

    def __init__(self, adb: Adb, run_id: str) -> None:
        self.adb = adb
        self.run_id = run_id
        self.use_run_as = False

    def read(self, name: str, tmp: Path) -> bytes | None:
        """A file of the app's results folder, or None when it does not exist (yet)."""
        if not self.use_run_as:
            remote = f"{EXTERNAL_RESULTS}/{self.run_id}/{name}"
            local = tmp / name
            proc = self.adb.run("pull", remote, str(local))
            if proc.returncode == 0 and local.is_file():
                return local.read_bytes()
            if "Permission denied" in proc.stderr:
                self.use_run_as = True
            elif "does not exist" in proc.stderr or "No such file" in proc.stderr:
                return None
            else:
                raise UserError(f"adb pull {remote} failed: {proc.stderr.strip()}")
        proc = self.adb.run("exec-out", "run-as", PACKAGE, "cat", _q(f"{INTERNAL_RESULTS}/{self.run_id}/{name}"),
                            binary=True)
        err = proc.stderr.decode(errors="replace")
        if proc.returncode == 0:
            return proc.stdout
        if "No such file" in err or "No such file" in proc.stdout.decode(errors="replace"):
            return None
        if "not debuggable" in err or "not debuggable" in proc.stdout.decode(errors="replace"):
            raise UserError(f"cannot read the app's results: `adb pull` was denied and run-as needs a debuggable "
                            f"build of {PACKAGE} (install the debug APK, android_app/README.md)")
        raise UserError(f"adb run-as {PACKAGE} cat failed: {err.strip()}")


def _placeholder(bundle: Bundle, model: ModelFile, run_id: str, device: dict, protocol: Protocol, why: str) -> dict:
    """A results document for a model whose results never arrived: marked failed, nothing invented."""
    from vitsdk import __version__

    return {"schema": RESULTS.tag, "run_id": run_id, "created_utc": utc_now(), "status": "failed", "error": why,
            "tool": {"name": "vitsdk", "version": __version__}, "device": device,
            "runtime": {"name": model.runtime, "version": None, "delegate": model.delegate, "threads": None},
            "model": {"name": bundle.model_name, "file": model.path, "format": model.format, "sha256": model.sha256,
                      "size_bytes": model.size_bytes, "precision": model.precision, "macs": model.macs,
                      "input_shape": bundle.input_shape, "manifest_sha256": bundle.manifest_sha256},
            "protocol": protocol.to_dict(), "latency": None,
            "energy": {"status": "unavailable", "method": "none", "reason": why},
            "thermal": {"before": {"state": None}, "after": {"state": None}},
            "numerics": {"status": "skipped", "reason": why}}


def _accept(name: str, data: bytes, out_dir: Path) -> tuple[Path, dict]:
    where = f"{name} (pulled from the phone)"
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{where}: not valid JSON (truncated?): {exc}") from None
    RESULTS.validate(doc, where)
    path = out_dir / name
    write_json(path, doc)
    return path, doc


def run_android(bundle_path: str | os.PathLike, out_dir: str | os.PathLike, options: AndroidOptions = AndroidOptions(),
                progress: Callable[[str], None] | None = None,
                sleep: Callable[[float], None] = time.sleep) -> list[tuple[Path, dict]]:
    """Runs every Android model file of the bundle on the phone(s); returns (results path, document) pairs.

    Several phones (`serials`, `all_devices`) run in parallel, one thread each driving its own adb -s
    SERIAL; each phone's results go to OUT/SERIAL/ and a phone that fails does not stop the others: its
    error is reported (UserError naming every failed phone) after the others finish.
    """
    serials = list(dict.fromkeys(options.serials + ((options.serial,) if options.serial else ())))
    if not options.all_devices and len(serials) <= 1:
        return _run_one(bundle_path, Path(out_dir), replace(options, serial=serials[0] if serials else None,
                                                            serials=()), progress, sleep)
    say = progress or (lambda _msg: None)
    android_models(bundle_path, options)   # a bad bundle is one error, not one per phone
    serials = _ready_serials(Adb(find_adb(options.adb)), serials, options.all_devices)
    out_dir = Path(out_dir)
    results: dict[str, list[tuple[Path, dict]]] = {}
    failed: dict[str, str] = {}

    def one(serial: str) -> None:
        phone_say = lambda msg: say(f"[{serial}] {msg}")  # noqa: E731
        try:
            results[serial] = _run_one(bundle_path, out_dir / _phone_folder(serial),
                                       replace(options, serial=serial, serials=(), all_devices=False), phone_say, sleep)
        except UserError as exc:
            failed[serial] = str(exc)
            phone_say(f"failed: {exc}")

    with ThreadPoolExecutor(max_workers=len(serials), thread_name_prefix="adb") as pool:
        list(pool.map(one, serials))
    if failed:
        done = ", ".join(f"{s} -> {out_dir / _phone_folder(s)}" for s in serials if s in results) or "none"
        raise UserError(f"{len(failed)} of {len(serials)} phones failed: "
                        + "; ".join(f"{s}: {why}" for s, why in failed.items()) + f" (finished: {done})")
    return [r for s in serials for r in results[s]]


def android_models(bundle_path: str | os.PathLike, options: AndroidOptions) -> tuple[Bundle, list[ModelFile]]:
    """The bundle and its files the app can run; UserError for none, or for a .pte the app's ExecuTorch cannot read."""
    bundle = load_bundle(bundle_path)
    wanted = options.runtimes or ANDROID_RUNTIMES
    models = [m for m in bundle.files if m.runtime in ANDROID_RUNTIMES and m.runtime in wanted]
    if not models:
        have = ", ".join(sorted({m.runtime for m in bundle.files}))
        raise UserError(f"bundle '{bundle.root}' has no model for Android ({', '.join(wanted)}); it has: {have}")
    for m in models:
        _q(m.path)
    wrote = (bundle.manifest.get("exporters") or {}).get("executorch")
    app = app_runtime_versions()["executorch"]
    if wrote and any(m.runtime == "executorch" for m in models) and _version(wrote) > _version(app):
        raise UserError(f"bundle '{bundle.root}': its .pte files were written by ExecuTorch {wrote} (manifest "
                        f"exporters.executorch) and the app runs ExecuTorch {app}, which cannot read newer programs; "
                        f"export with executorch=={app}, or skip them with --runtime litert")
    for m in models:
        gaps = _litert_gaps(bundle.root / m.path) if m.runtime == "litert" else []
        if gaps:
            raise UserError(f"{m.path} needs op versions the app's LiteRT lacks: {'; '.join(gaps)}; export it with "
                            f"the pinned converter (pyproject), or skip it with --runtime executorch")
    return bundle, models


def _litert_gaps(path: Path) -> list[str]:
    """litert_op_gaps for a file; [] when it is no LiteRT flatbuffer (the app reports that) or the schema
    package (ai-edge-litert, the export extra) is not installed here."""
    with open(path, "rb") as f:
        if f.read(8)[4:8] != b"TFL3":
            return []
    try:
        return litert_op_gaps(tflite_op_versions(path))
    except ModuleNotFoundError:
        return []


def app_runtime_versions() -> dict:
    """schemas/runtime_versions.json: the runtimes the Android app is built with (one list for app, Gradle, tests)."""
    return load_schema("runtime_versions.json")


def tflite_op_versions(path: str | os.PathLike) -> dict[str, int]:
    """{builtin op: highest version} a .tflite's operator codes ask for (custom ops as CUSTOM:name, version 1)."""
    from ai_edge_litert import schema_py_generated as fb   # the flatbuffer schema of the runtime that ran the export

    model = fb.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    ops: dict[str, int] = {}
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())   # codes past 127 live in the new field only
        name = f"CUSTOM:{(code.CustomCode() or b'').decode()}" if op == fb.BuiltinOperator.CUSTOM else names.get(op, str(op))
        ops[name] = max(ops.get(name, 0), code.Version())
    return ops


def litert_op_gaps(ops: dict[str, int], release: str | None = None) -> list[str]:
    """What LiteRT `release` (default: the app's) lacks to run a file needing `ops`; empty when it runs it."""
    release = release or app_runtime_versions()["litert"]
    table = load_schema("litert_op_versions.json")["releases"]
    if release not in table:
        raise UserError(f"LiteRT {release} is not in schemas/litert_op_versions.json ({', '.join(table)}); "
                        "regenerate it with android_app/tools/litert_op_table.py")
    have = table[release]
    return [f"{op} v{v} (LiteRT {release} registers " + (f"up to v{have[op]})" if op in have else "no such builtin)")
            for op, v in sorted(ops.items()) if v > have.get(op, 0)]


def _version(text: str) -> tuple[int, ...]:
    """"1.10.0" > "1.9.2", part by part (a suffix such as rc1 is ignored), like the app's Versions.compare."""
    parts = [int(re.match(r"\d*", part).group() or 0) for part in text.split(".")]
    return tuple(parts + [0] * (4 - len(parts)))


def _phone_folder(serial: str) -> str:
    """A folder name for a serial (Wi-Fi serials are IP:PORT)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", serial)


def _ready_serials(adb: Adb, serials: list[str], all_devices: bool) -> list[str]:
    """The phones to use: every listed serial must be attached; --all-devices takes the ready ones."""
    attached = attached_devices(adb)
    if all_devices:
        ready = [s for s, state in attached.items() if state == "device"]
        if not ready:
            raise UserError("--all-devices: no ready Android device (`adb devices` lists "
                            + (", ".join(f"{s} {st}" for s, st in attached.items()) or "none") + ")")
        return ready
    missing = [s for s in serials if s not in attached]
    if missing:
        raise UserError(f"--serial {', '.join(missing)}: not found by adb (attached: {', '.join(attached) or 'none'})")
    return serials


def _run_one(bundle_path: str | os.PathLike, out_dir: Path, options: AndroidOptions,
             progress: Callable[[str], None] | None, sleep: Callable[[float], None]) -> list[tuple[Path, dict]]:
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    bundle, models = android_models(bundle_path, options)
    if options.install is not None and not Path(options.install).is_file():
        raise UserError(f"--install {options.install}: no such APK file")

    adb = Adb(find_adb(options.adb))
    serial = pick_device(adb, options.serial)
    adb = Adb(adb.adb, serial)
    try:
        device = device_properties(adb)
        if options.install is not None:
            say(f"installing {options.install}")
            proc = adb.run("install", "-r", str(options.install))
            if proc.returncode != 0 or "Success" not in proc.stdout:
                raise UserError(f"adb install {options.install} failed: {(proc.stderr or proc.stdout).strip()}")
        if not adb.shell("pm", "path", PACKAGE).stdout.strip().startswith("package:"):
            raise UserError(f"the benchmark app ({PACKAGE}) is not installed on {serial}: build it "
                            "(android_app/README.md) and pass --install app-debug.apk")
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", bundle.root.resolve().name)[:40]
        run_id = f"{stem}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
        run_dir = f"{DEVICE_ROOT}/{run_id}"
        device_bundle = f"{run_dir}/bundle"
        files = _bundle_files(bundle, models)
        dirs = sorted({str(Path(device_bundle, f).parent) for f in files})
        adb.shell("mkdir", "-p", *map(_q, dirs))
        for f in files:
            say(f"push {f}")
            proc = adb.run("push", str(bundle.root / f), f"{device_bundle}/{f}")
            if proc.returncode != 0:
                raise UserError(f"adb push {f} failed: {proc.stderr.strip()}")
        spec = run_spec(bundle, models, run_id, device_bundle, options)
        problems = RUN_SPEC.errors(spec)
        if problems:
            raise AssertionError(f"run spec fails its schema: {problems[0]}")
        with tempfile.TemporaryDirectory() as tmp:
            spec_path = Path(tmp) / "run_spec.json"
            write_text(spec_path, json.dumps(spec, indent=2))
            proc = adb.run("push", str(spec_path), f"{run_dir}/run_spec.json")
            if proc.returncode != 0:
                raise UserError(f"adb push run_spec.json failed: {proc.stderr.strip()}")
        proc = adb.shell("am", "start", "-W", "-n", ACTIVITY, "-a", ACTION, "--es", "run_spec",
                         _q(f"{run_dir}/run_spec.json"))
        if proc.returncode != 0 or "Error" in proc.stdout:
            raise UserError(f"could not start the app: {(proc.stdout + proc.stderr).strip().splitlines()[-1]}")
        say(f"started run {run_id} on {device['name']} ({serial}); keep the app in the foreground")
        results = _collect(adb, bundle, models, run_id, device, out_dir, options, say, sleep)
        adb.shell("rm", "-rf", _q(run_dir))   # the pushed bundle; the app keeps its own copy of the results
        return results
    except DeviceLost as exc:
        raise UserError(f"lost device {serial} before the run started ({exc}); reconnect it and run again") from None


def _collect(adb: Adb, bundle: Bundle, models: list[ModelFile], run_id: str, device: dict, out_dir: Path,
             options: AndroidOptions, say: Callable[[str], None], sleep: Callable[[float], None]) -> list[tuple[Path, dict]]:
    """Polls progress.json and pulls each results file as it appears; keeps what arrived if the device is lost."""
    expected = {results_name(m, "android"): m for m in models}
    got: dict[str, tuple[Path, dict]] = {}
    puller = _Puller(adb, run_id)
    start = time.monotonic()
    last = None
    state = "starting"
    app_error = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            while True:
                raw = puller.read("progress.json", Path(tmp))
                if raw is None:
                    if time.monotonic() - start > options.start_timeout_s:
                        raise UserError(f"the app did not start run {run_id} within {options.start_timeout_s:.0f} s "
                                        "(is the screen unlocked? see `adb logcat -s VitsdkBench`)")
                else:
                    prog = _progress(raw)
                    state = prog.get("state", "running")
                    msg = f"{prog.get('done', 0)}/{prog.get('total', len(models))} done" + \
                          (f", running {prog['current']}" if prog.get("current") else "")
                    if msg != last:
                        say(msg)
                        last = msg
                    for name in prog.get("files", []):
                        if name in expected and name not in got:
                            data = puller.read(name, Path(tmp))
                            if data is not None:
                                got[name] = _accept(name, data, out_dir)
                    if state in ("done", "failed"):
                        if state == "failed" and prog.get("error"):
                            app_error = prog["error"]
                            say(f"the app reported: {app_error}")
                        break
                if time.monotonic() - start > options.timeout_s:
                    raise UserError(f"run {run_id} did not finish within {options.timeout_s:.0f} s; results so far "
                                    f"are in {out_dir}")
                sleep(options.poll_s)
        except DeviceLost as exc:
            if _wait_reconnect(adb, options, sleep):
                return _resume(adb, bundle, models, run_id, device, out_dir, options, say, sleep, got)
            kept = _mark_missing(bundle, expected, got, run_id, device, out_dir, options,
                                 f"device {adb.serial} disconnected mid-run ({exc}) before these results were pulled; "
                                 f"the app may still finish them on the phone")
            raise UserError(f"lost device {adb.serial} mid-run ({exc}): kept {len(got)} pulled results and marked "
                            f"{kept} unfinished model(s) as failed in {out_dir}; reconnect (adb over Wi-Fi: "
                            f"`adb connect IP:PORT`) and pull the rest from {EXTERNAL_RESULTS}/{run_id}") from None
    missing = [n for n in expected if n not in got]
    if missing:
        _mark_missing(bundle, expected, got, run_id, device, out_dir, options,
                      f"the app finished ({state}) without writing these results"
                      + (f": {app_error}" if app_error else ""))
    return [got[n] for n in expected if n in got] + [(out_dir / n, json.loads((out_dir / n).read_text()))
                                                    for n in missing]


def _resume(adb, bundle, models, run_id, device, out_dir, options, say, sleep, got):
    say(f"device {adb.serial} is back; resuming")
    results = _collect(adb, bundle, [m for m in models if results_name(m, "android") not in got], run_id, device,
                       out_dir, options, say, sleep)
    return list(got.values()) + results


def _progress(raw: bytes) -> dict:
    try:
        prog = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"state": "running"}   # caught mid-write: read it again next poll
    return prog if isinstance(prog, dict) else {"state": "running"}


def _wait_reconnect(adb: Adb, options: AndroidOptions, sleep: Callable[[float], None]) -> bool:
    deadline = time.monotonic() + options.reconnect_s
    while time.monotonic() < deadline:
        try:
            proc = Adb(adb.adb).run("devices")
        except DeviceLost:
            proc = None
        if proc is not None and any(line.split()[:2] == [adb.serial, "device"] for line in proc.stdout.splitlines()):
            return True
        sleep(max(options.poll_s, 0.1))
    return False


def _mark_missing(bundle: Bundle, expected: dict[str, ModelFile], got: dict, run_id: str, device: dict,
                  out_dir: Path, options: AndroidOptions, why: str) -> int:
    count = 0
    for name, model in expected.items():
        if name not in got:
            write_json(out_dir / name, _placeholder(bundle, model, run_id, device, options.protocol, why))
            count += 1
    return count
