"""`vitsdk bench --device android`: drives the benchmark app (android_app/) over adb.

Sequence: find adb -> pick the device (`adb devices`) -> read its properties -> install the APK if asked
-> check the app is installed -> push the bundle's files and a run spec to /data/local/tmp/vitsdk/RUN/
-> start the app's activity with the run spec path as an intent extra -> poll the app's progress.json,
pulling each results file as soon as the app lists it (`run-as` when `adb pull` lacks permission)
-> validate every file against the results schema.

The adb transport (finding adb and the phone, argument-list calls, quoting, pulling) is `bench/adb.py`;
this module is the protocol with the app: what to push, the run spec, progress and results.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from vitsdk.atomic import write_json, write_text
from vitsdk.bench.adb import (Adb, AppFolder, DeviceLost, device_properties, find_adb, pick_device, quote,
                              ready_serials, wait_reconnect)
from vitsdk.bench.protocol import Protocol
from vitsdk.errors import UserError
from vitsdk.formats.manifest import MANIFEST_FILE, Bundle, ModelFile, load_bundle
from vitsdk.formats.results import (model_block, new_run_id, parse_results, results_document, results_name,
                                    skipped_numerics, unavailable_energy)
from vitsdk.formats.run_spec import model_run, run_spec_document
from vitsdk.formats.schema import load_schema

PACKAGE = "dev.vitsdk.bench"
ACTIVITY = f"{PACKAGE}/.BenchActivity"
ACTION = f"{PACKAGE}.RUN"
DEVICE_ROOT = "/data/local/tmp/vitsdk"
EXTERNAL_RESULTS = f"/sdcard/Android/data/{PACKAGE}/files/results"   # the app's getExternalFilesDir("results")
INTERNAL_RESULTS = "files/results"                                   # under the app's data dir (run-as)
ANDROID_RUNTIMES = ("executorch", "litert")


@dataclass(frozen=True)
class AndroidOptions:
    """Args:
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
            raise UserError("--timeout must be > 0 (and the poll interval >= 0)")
        if self.all_devices and (self.serials or self.serial):
            raise UserError("--all-devices runs every attached phone: drop --serial, or drop --all-devices")
        if self.threads is not None and self.threads < 1:
            raise UserError("--threads must be >= 1")


def run_spec(models: list[ModelFile], run_id: str, device_bundle: str, protocol: Protocol,
             options: AndroidOptions) -> dict:
    return run_spec_document(
        run_id=run_id, bundle=device_bundle, output_dir=f"{EXTERNAL_RESULTS}/{run_id}",
        models=[model_run(m.path, m.runtime, m.delegate, options.threads) for m in models],
        protocol=protocol.to_dict())


def _bundle_files(bundle: Bundle, models: list[ModelFile]) -> list[str]:
    files = [MANIFEST_FILE] + [m.path for m in models]
    ref = bundle.manifest.get("reference")
    if isinstance(ref, dict):
        files += [v for v in ref.values() if isinstance(v, str) and (bundle.root / v).is_file()]
    return list(dict.fromkeys(files))


@dataclass(frozen=True)
class _Phone:
    """One run on one phone: what polling, pulling and filling in missing results need."""

    adb: Adb
    bundle: Bundle
    run_id: str
    device: dict
    out_dir: Path
    protocol: Protocol
    options: AndroidOptions
    say: Callable[[str], None]

    def placeholder(self, model: ModelFile, why: str) -> dict:
        """A results document for a model whose results never arrived: marked failed, nothing invented."""
        return results_document(
            run_id=self.run_id, device=self.device, status="failed", error=why,
            runtime={"name": model.runtime, "version": None, "delegate": model.delegate, "threads": None},
            model=model_block(self.bundle, model), protocol=self.protocol.to_dict(), latency=None,
            energy=unavailable_energy(why), thermal={"before": {"state": None}, "after": {"state": None}},
            numerics=skipped_numerics(why))


def _name(model: ModelFile) -> str:
    """The results file the app writes for a model file (its `ResultsWriter` follows the same rule)."""
    return results_name(model.path, model.runtime, "android")


def _accept(name: str, data: bytes, out_dir: Path) -> tuple[Path, dict]:
    doc = parse_results(data, f"{name} (pulled from the phone)")
    path = out_dir / name
    write_json(path, doc)
    return path, doc


def run_android(bundle_path: str | os.PathLike, out_dir: str | os.PathLike, protocol: Protocol = Protocol(),
                options: AndroidOptions = AndroidOptions(), progress: Callable[[str], None] | None = None,
                ) -> list[tuple[Path, dict]]:
    """Runs every Android model file of the bundle on the phone(s) with `protocol`; returns (results path,
    document) pairs.

    Several phones (`serials`, `all_devices`) run in parallel, one thread each driving its own adb -s
    SERIAL; each phone's results go to OUT/SERIAL/ and a phone that fails does not stop the others: its
    error is reported (UserError naming every failed phone) after the others finish.
    """
    serials = list(dict.fromkeys(options.serials + ((options.serial,) if options.serial else ())))
    if not options.all_devices and len(serials) <= 1:
        return _run_one(bundle_path, Path(out_dir), protocol, replace(options, serial=serials[0] if serials else None,
                                                                      serials=()), progress)
    say = progress or (lambda _msg: None)
    android_models(bundle_path, options)   # a bad bundle is one error, not one per phone
    serials = ready_serials(Adb(find_adb(options.adb)), serials, options.all_devices)
    out_dir = Path(out_dir)
    results: dict[str, list[tuple[Path, dict]]] = {}
    failed: dict[str, str] = {}

    def one(serial: str) -> None:
        phone_say = lambda msg: say(f"[{serial}] {msg}")  # noqa: E731
        try:
            results[serial] = _run_one(bundle_path, out_dir / _phone_folder(serial), protocol,
                                       replace(options, serial=serial, serials=(), all_devices=False), phone_say)
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
        quote(m.path)
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


def _run_one(bundle_path: str | os.PathLike, out_dir: Path, protocol: Protocol, options: AndroidOptions,
             progress: Callable[[str], None] | None) -> list[tuple[Path, dict]]:
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
        run_id = new_run_id(stem)
        run_dir = f"{DEVICE_ROOT}/{run_id}"
        device_bundle = f"{run_dir}/bundle"
        files = _bundle_files(bundle, models)
        dirs = sorted({str(Path(device_bundle, f).parent) for f in files})
        adb.shell("mkdir", "-p", *map(quote, dirs))
        for f in files:
            say(f"push {f}")
            proc = adb.run("push", str(bundle.root / f), f"{device_bundle}/{f}")
            if proc.returncode != 0:
                raise UserError(f"adb push {f} failed: {proc.stderr.strip()}")
        spec = run_spec(models, run_id, device_bundle, protocol, options)
        with tempfile.TemporaryDirectory() as tmp:
            spec_path = Path(tmp) / "run_spec.json"
            write_text(spec_path, json.dumps(spec, indent=2))
            proc = adb.run("push", str(spec_path), f"{run_dir}/run_spec.json")
            if proc.returncode != 0:
                raise UserError(f"adb push run_spec.json failed: {proc.stderr.strip()}")
        proc = adb.shell("am", "start", "-W", "-n", ACTIVITY, "-a", ACTION, "--es", "run_spec",
                         quote(f"{run_dir}/run_spec.json"))
        if proc.returncode != 0 or "Error" in proc.stdout:
            raise UserError(f"could not start the app: {(proc.stdout + proc.stderr).strip().splitlines()[-1]}")
        say(f"started run {run_id} on {device['name']} ({serial}); keep the app in the foreground")
        results = _collect(_Phone(adb, bundle, run_id, device, out_dir, protocol, options, say), models)
        adb.shell("rm", "-rf", quote(run_dir))   # the pushed bundle; the app keeps its own copy of the results
        return results
    except DeviceLost as exc:
        raise UserError(f"lost device {serial} before the run started ({exc}); reconnect it and run again") from None


def _collect(phone: _Phone, models: list[ModelFile]) -> list[tuple[Path, dict]]:
    """Polls progress.json and pulls each results file as it appears; keeps what arrived if the device is lost."""
    adb, run_id, options, out_dir, say = phone.adb, phone.run_id, phone.options, phone.out_dir, phone.say
    expected = {_name(m): m for m in models}
    got: dict[str, tuple[Path, dict]] = {}
    puller = AppFolder(adb, PACKAGE, f"{EXTERNAL_RESULTS}/{run_id}", f"{INTERNAL_RESULTS}/{run_id}")
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
                time.sleep(options.poll_s)
        except DeviceLost as exc:
            if wait_reconnect(adb, options.reconnect_s, options.poll_s):
                say(f"device {adb.serial} is back; resuming")
                return list(got.values()) + _collect(phone, [m for m in models if _name(m) not in got])
            kept = _mark_missing(phone, expected, got,
                                 f"device {adb.serial} disconnected mid-run ({exc}) before these results were pulled; "
                                 f"the app may still finish them on the phone")
            raise UserError(f"lost device {adb.serial} mid-run ({exc}): kept {len(got)} pulled results and marked "
                            f"{kept} unfinished model(s) as failed in {out_dir}; reconnect (adb over Wi-Fi: "
                            f"`adb connect IP:PORT`) and pull the rest from {EXTERNAL_RESULTS}/{run_id}") from None
    missing = [n for n in expected if n not in got]
    if missing:
        _mark_missing(phone, expected, got, f"the app finished ({state}) without writing these results"
                      + (f": {app_error}" if app_error else ""))
    return [got[n] for n in expected if n in got] + [(out_dir / n, json.loads((out_dir / n).read_text()))
                                                    for n in missing]


def _progress(raw: bytes) -> dict:
    try:
        prog = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"state": "running"}   # caught mid-write: read it again next poll
    return prog if isinstance(prog, dict) else {"state": "running"}


def _mark_missing(phone: _Phone, expected: dict[str, ModelFile], got: dict, why: str) -> int:
    count = 0
    for name, model in expected.items():
        if name not in got:
            write_json(phone.out_dir / name, phone.placeholder(model, why))
            count += 1
    return count
