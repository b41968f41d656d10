"""`vitsdk bench --device ios`: the devicectl command sequence, against a scripted stand-in.

There is no Mac, Xcode or iPhone here, so `xcrun` is FAKE_XCRUN below: it answers `devicectl` the
way devicectl does (argument lists in, JSON and files out, one error line on stderr and exit 1 on
failure) and plays the VitBench app on launch. The driver's own logic (device choice, run spec,
copies, polling, schema validation of what comes back) runs for real.
"""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from vitsdk.bench import ios
from vitsdk.bench.protocol import Protocol
from vitsdk.formats.results import RESULTS
from vitsdk.formats.run_spec import RUN_SPEC
from vitsdk.errors import UserError

ROOT = Path(__file__).resolve().parents[1]

FAKE_XCRUN = r'''"""A stand-in for `xcrun devicectl` and a phone running VitBench (no Mac or iPhone exists here).

It keeps the phone's app data container in $FAKE_IOS_STATE/container and answers the subcommands
the iOS driver uses the way devicectl does, failures included: an error line on stderr and exit 1
for a missing app, a missing file or an unknown device. `process launch` plays the app: it reads
the run spec, checks the bundle, and writes one results document per model run plus
run_complete.json, unless $FAKE_IOS_STATE/behaviour.json says otherwise:
  {"installed": false}            the app is not installed
  {"never_finish": true}          the app never writes run_complete.json
  {"corrupt": "truncated"|"schema"} the first results file is cut short / breaks the schema
  {"nested_copy": true}           `copy from` a folder lands as DEST/NAME/... instead of DEST/...
Every call's argv is appended to calls.jsonl, so tests can check the exact argument lists.
"""
import json
import os
import shutil
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_IOS_STATE"])
APP = "dev.vitsdk.VitBench"


def fail(message: str) -> None:
    print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(1)


def option(args: list[str], name: str) -> str:
    if name not in args:
        fail(f"Missing expected argument '{name}'")
    return args[args.index(name) + 1]


def behaviour() -> dict:
    path = STATE / "behaviour.json"
    return json.loads(path.read_text()) if path.exists() else {}


def device_ids() -> set[str]:
    devices = json.loads((STATE / "devices.json").read_text())["result"]["devices"]
    return {d["identifier"] for d in devices} | {d["deviceProperties"]["name"] for d in devices}


def check_container(args: list[str]) -> Path:
    if option(args, "--device") not in device_ids():
        fail(f"The specified device was not found: {option(args, '--device')}")
    if option(args, "--domain-type") != "appDataContainer" or option(args, "--domain-identifier") != APP:
        fail("Unsupported domain")
    if not behaviour().get("installed", True):
        fail(f"The application {APP} is not installed on the device.")
    return STATE / "container"


def copy(source: Path, dest: Path, nested: bool = False) -> None:
    if not source.exists():
        fail(f"The file “{source.name}” couldn’t be opened because there is no such file.")
    if source.is_dir():
        target = dest / source.name if nested else dest
        shutil.copytree(source, target, dirs_exist_ok=True)  # devicectl copies a folder's contents
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)


def play_app(container: Path, spec_rel: str, argv: list[str]) -> None:
    docs = container / "Documents"
    spec = json.loads((docs / spec_rel).read_text())
    bundle = docs / spec["bundle"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    out = docs / spec["output_dir"]
    out.mkdir(parents=True, exist_ok=True)
    template = json.loads((STATE / "template.json").read_text())
    files = {f["path"]: f for f in manifest["files"]}
    names = []
    mode = behaviour()
    for i, m in enumerate(spec["models"]):
        f = files[m["file"]]
        doc = json.loads(json.dumps(template))
        doc["run_id"] = spec["run_id"]
        doc["protocol"] = spec["protocol"]
        doc["model"].update(file=f["path"], format=f["format"], sha256=f["sha256"])
        doc["runtime"] = {"name": m["runtime"], "version": None, "delegate": m["delegate"], "threads": m["threads"],
                          "compute_units": m["delegate"] if m["runtime"] == "coreml" else None,
                          "extra": {"launch_args": " ".join(argv)}}
        name = f"{spec['run_id']}__{f['path']}__{m['runtime']}-{m['delegate']}.json"
        text = json.dumps(doc)
        if i == 0 and mode.get("corrupt") == "truncated":
            text = text[: len(text) // 2]
        if i == 0 and mode.get("corrupt") == "schema":
            doc["latency"]["median_ms"] = -1.0
            text = json.dumps(doc)
        (out / name).write_text(text)
        names.append(name)
    if not mode.get("never_finish"):
        (out / "run_complete.json").write_text(json.dumps(
            {"schema": "vitsdk.ios_run_index/1", "run_id": spec["run_id"], "results": names, "stopped_early": False}))


def main(argv: list[str]) -> None:
    with open(STATE / "calls.jsonl", "a") as log:
        log.write(json.dumps(argv) + "\n")
    if argv[:1] != ["devicectl"]:
        fail(f"unable to find utility \"{argv[0] if argv else ''}\", not a developer tool or in PATH")
    args = argv[1:]
    if args[:2] == ["list", "devices"]:
        shutil.copy(STATE / "devices.json", option(args, "--json-output"))
    elif args[:3] == ["device", "copy", "to"]:
        container = check_container(args)
        copy(Path(option(args, "--source")), container / option(args, "--destination"))
    elif args[:3] == ["device", "copy", "from"]:
        container = check_container(args)
        copy(container / option(args, "--source"), Path(option(args, "--destination")),
             nested=behaviour().get("nested_copy", False))
    elif args[:3] == ["device", "process", "launch"]:
        if option(args, "--device") not in device_ids():
            fail("The specified device was not found")
        if not behaviour().get("installed", True):
            fail(f"The application {APP} is not installed on the device.")
        rest = args[args.index(APP) + 1:] if APP in args else fail("no bundle identifier given")
        play_app(STATE / "container", option(rest, "--run-spec"), rest)
    elif args[:3] == ["device", "install", "app"]:
        (STATE / "installed_from").write_text(args[-1])
    else:
        fail(f"Unknown subcommand: {' '.join(args[:3])}")


if __name__ == "__main__":
    main(sys.argv[1:])
'''


def _device(name="Ana's iPhone", ident="1A2B3C4D-0000-1111-2222-333344445555", paired="paired", dev_mode="enabled",
            platform="iOS", reality="physical"):
    return {"identifier": ident,
            "hardwareProperties": {"platform": platform, "reality": reality, "udid": "00008110-000A" + ident[:4],
                                   "deviceType": "iPhone", "productType": "iPhone15,4"},
            "connectionProperties": {"pairingState": paired, "tunnelState": "connected", "transportType": "wired"},
            "deviceProperties": {"name": name, "osVersionNumber": "18.1", "developerModeStatus": dev_mode}}


@pytest.fixture()
def phone(tmp_path, monkeypatch):
    """A Mac with one iPhone; returns the fake's state folder."""
    state = tmp_path / "fake-ios"
    (state / "container" / "Documents").mkdir(parents=True)
    (state / "devices.json").write_text(json.dumps({"result": {"devices": [_device()]}}))
    examples = json.loads((ROOT / "schemas/vectors/results_examples.json").read_text())["cases"]
    template = next(c["document"] for c in examples if c["name"] == "ios_coreml")
    (state / "template.json").write_text(json.dumps(template))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    xcrun = bin_dir / "xcrun"
    xcrun.write_text(f"#!{sys.executable}\n" + FAKE_XCRUN)
    xcrun.chmod(xcrun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_IOS_STATE", str(state))
    monkeypatch.setattr(ios, "_system", lambda: "Darwin")
    return state


@pytest.fixture()
def bundle(tmp_path):
    """A bundle as `vitsdk export --target ios` lays it out (a space in its name on purpose)."""
    root = tmp_path / "my bundle"
    (root / "model.mlpackage" / "Data").mkdir(parents=True)
    (root / "model_fp32.pte").write_bytes(b"pte")
    (root / "model.tflite").write_bytes(b"tflite")
    def entry(path, target, fmt, runtime, precision, delegate, sha):
        verification = {"status": "validated", "executed": False, "reason": "Core ML needs macOS", "inputs": [],
                        "outputs": [], "ops": {}} if runtime == "coreml" else \
            {"status": "passed", "executed": True, "runtime": runtime, "inputs": 4, "metric": "max_abs_diff / max_abs_ref",
             "tolerance": 1e-3, "max_abs_diff": 1e-6, "max_abs_ref": 3.0, "rel_diff": 3e-7, "top1_agreement": 1.0,
             "outputs": f"reference/{path}.outputs.npy"}
        return {"path": path, "target": target, "format": fmt, "runtime": runtime, "precision": precision,
                "delegate": delegate, "size_bytes": 3, "sha256": sha, "macs": 5000, "export_s": 1.0,
                "exporter": {"torch": "2.13.0"}, "delegation": None, "verification": verification}

    files = [entry("model.mlpackage", "coreml", "mlpackage", "coreml", "fp16", None, "a" * 64),
             entry("model_fp32.pte", "executorch", "pte", "executorch", "fp32", "xnnpack", "b" * 64),
             entry("model.tflite", "tflite", "tflite", "litert", "fp32", None, "c" * 64)]
    manifest = {
        "schema": "vitsdk.manifest/1", "created_by": "vitsdk 0.1.0", "created_at": "2026-11-25T09:00:00Z",
        "target": "all", "model": {"name": "vit_nano_patch4_28", "img_size": 28, "in_chans": 1, "num_classes": 10,
                                   "keep_rate": 1.0, "attn_keep": 1.0},
        "source": {"kind": "registry", "spec": "vit_nano_patch4_28", "sha256": None},
        "sparsity": {"keep_rate": 1.0, "attn_keep": 1.0, "attn_mode": "mask", "fuse_token": False, "prune_at": [1, 2],
                     "tokens_per_block": [50, 50, 50, 50], "pruning": None},
        "accounting": {"params": 1000, "macs": 5000, "convention": "matmul MACs"},
        "input": {"name": "x", "shape": [1, 1, 28, 28], "dtype": "float32", "layout": "NCHW", "mean": [0.286],
                  "std": [0.353], "preprocessing": "x / 255, then (x - mean) / std"},
        "output": {"shape": [1, 10], "dtype": "float32", "meaning": "logits"},
        "files": files,
        "reference": {"inputs": "reference/inputs.npy", "outputs": "reference/outputs.npy", "labels": None,
                      "source": "random", "produced_by": "torch", "metric": "max_abs_diff / max_abs_ref",
                      "tolerance": 1e-3, "tolerances": {"fp16": 0.05}},
        "exporters": {"torch": "2.13.0"}, "accuracy": None}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


QUICK = Protocol.quick()


def _options(**kw) -> ios.IOSOptions:
    kw.setdefault("poll_s", 0.01)
    return ios.IOSOptions(**kw)


def test_runs_the_bundle_and_collects_valid_results(phone, bundle, tmp_path):
    out = tmp_path / "results"
    results = ios.run_ios(bundle, out, QUICK, _options(compute_units=("cpu", "cpu_ane"), battery_wh=12.7))
    assert [(d["model"]["file"], d["runtime"]["name"], d["runtime"]["delegate"]) for _, d in results] == [
        ("model.mlpackage", "coreml", "cpu"), ("model.mlpackage", "coreml", "cpu_ane"),
        ("model_fp32.pte", "executorch", "xnnpack")]
    for path, doc in results:
        assert path.parent == out and RESULTS.errors(json.loads(path.read_text())) == []
        assert doc["model"]["sha256"] in ("a" * 64, "b" * 64)
    calls = _calls(phone)
    verbs = [" ".join(c[1:4]) for c in calls]
    assert verbs[:4] == ["list devices --timeout", "device copy to", "device copy to", "device process launch"]
    assert verbs[-1] == "device copy from" and "model.tflite" not in json.dumps(results[0][1])
    copy_bundle = calls[1]
    assert copy_bundle[copy_bundle.index("--source") + 1] == str(bundle), "the path with a space is one argument"
    launch = calls[3]
    assert launch[launch.index("--device") + 1] == "1A2B3C4D-0000-1111-2222-333344445555"
    assert launch[launch.index(ios.APP_BUNDLE_ID) + 1:][:2] == ["--run-spec", f"inbox/{results[0][1]['run_id']}.json"]
    assert launch[-2:] == ["--battery-wh", "12.7"]
    spec_on_phone = phone / "container/Documents/inbox" / f"{results[0][1]['run_id']}.json"
    spec = json.loads(spec_on_phone.read_text())
    assert RUN_SPEC.errors(spec) == [] and spec["protocol"] == Protocol.quick().to_dict()
    assert (phone / "container/Documents" / spec["bundle"] / "manifest.json").is_file()


def test_accepts_a_results_folder_copied_as_a_subfolder(phone, bundle, tmp_path):
    (phone / "behaviour.json").write_text(json.dumps({"nested_copy": True}))
    assert len(ios.run_ios(bundle, tmp_path / "out", QUICK, _options(runtimes=("executorch",)))) == 1


def test_refuses_outside_macos(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(ios, "_system", lambda: "Linux")
    with pytest.raises(UserError, match="needs a Mac with Xcode 15"):
        ios.run_ios(bundle, tmp_path / "out", QUICK)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("devices, wanted, message", [
    ([], None, "no iPhone or iPad found"),
    ([_device(), _device(name="iPad", ident="9F")], None, "more than one iOS device"),
    ([_device()], "Anas iPhone", "did you mean"),
    ([_device(dev_mode="disabled")], None, "Developer Mode off"),
    ([_device(paired="unpaired")], None, "not paired"),
    ([_device(reality="virtual")], None, "no iPhone or iPad found"),
])
def test_device_choice_errors(phone, bundle, tmp_path, devices, wanted, message):
    (phone / "devices.json").write_text(json.dumps({"result": {"devices": devices}}))
    with pytest.raises(UserError, match=message):
        ios.run_ios(bundle, tmp_path / "out", QUICK, _options(device=wanted))
    assert not (tmp_path / "out").exists()


def test_cli_passes_serial_runtime_threads_and_battery(phone, bundle, tmp_path, capsys):
    """`vitsdk bench --device ios` goes through the device table like every device: --serial names the phone,
    --runtime, --threads and --battery-wh reach the run spec and the launch, --quick the protocol."""
    from vitsdk.cli import main

    (phone / "devices.json").write_text(json.dumps({"result": {"devices": [_device(), _device(name="iPad", ident="9F")]}}))
    main(["bench", str(bundle), "--device", "ios", "--serial", "iPad", "--runtime", "executorch", "--threads", "3",
          "--battery-wh", "12.7", "--quick", "-o", str(tmp_path / "out"), "--json"])
    docs = json.loads(capsys.readouterr().out)
    assert [(d["model"]["file"], d["runtime"]["name"]) for d in docs] == [("model_fp32.pte", "executorch")]
    launch = next(c for c in _calls(phone) if c[1:4] == ["device", "process", "launch"])
    assert launch[launch.index("--device") + 1] == "9F" and launch[-2:] == ["--battery-wh", "12.7"]
    spec = json.loads((phone / "container/Documents/inbox" / f"{docs[0]['run_id']}.json").read_text())
    assert [m["threads"] for m in spec["models"]] == [3] and spec["protocol"] == QUICK.to_dict()


def test_picks_the_named_device(phone, bundle, tmp_path):
    (phone / "devices.json").write_text(json.dumps({"result": {"devices": [_device(), _device(name="iPad", ident="9F")]}}))
    results = ios.run_ios(bundle, tmp_path / "out", QUICK, _options(device="iPad", runtimes=("executorch",)))
    assert len(results) == 1 and all(c[c.index("--device") + 1] == "9F" for c in _calls(phone) if "--device" in c)


@pytest.mark.parametrize("behaviour, message", [
    ({"installed": False}, "is not installed on the device"),
    ({"never_finish": True}, "wrote no run_complete.json within"),
    ({"corrupt": "truncated"}, "not valid JSON"),
    ({"corrupt": "schema"}, "/latency/median_ms"),
])
def test_app_failures_are_clear(phone, bundle, tmp_path, behaviour, message):
    (phone / "behaviour.json").write_text(json.dumps(behaviour))
    with pytest.raises(UserError, match=message):
        ios.run_ios(bundle, tmp_path / "out", QUICK, _options(timeout_s=0.2))


def test_bad_options_and_bundles(phone, bundle, tmp_path):
    with pytest.raises(UserError, match="did you mean 'cpu_ane'"):
        _options(compute_units=("cpu_ne",))
    with pytest.raises(UserError, match="battery capacity in Wh"):
        _options(battery_wh=12700)
    with pytest.raises(UserError, match="not a bundle identifier"):
        _options(app_id="VitBench; rm -rf /")
    with pytest.raises(UserError, match="no Core ML .* or ExecuTorch"):
        ios.run_ios(bundle, tmp_path / "out", QUICK, _options(runtimes=("litert",)))
    with pytest.raises(UserError, match="not a built .app"):
        ios.run_ios(bundle, tmp_path / "out", QUICK, _options(install=tmp_path / "VitBench.ipa"))
    assert not (tmp_path / "out").exists()
