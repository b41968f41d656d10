"""The adb driver (`vitsdk bench --device android`) against a scripted adb stand-in.

No phone or emulator exists here (DESIGN.md), so tests/fixtures/bench/fake_adb.py plays adb and the app:
it prints what real adb prints and fails the way real adb fails (no device, unauthorized, device lost
mid-run, pull permission denied, run-as on a release build, missing activity), and the "app" writes
results documents built from a schema-valid example.
"""
from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from vitsdk.formats.results import load_results
from vitsdk.formats.run_spec import RUN_SPEC
from vitsdk.bench.android import AndroidOptions, run_android
from vitsdk.bench.protocol import Protocol
from vitsdk.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures" / "bench"
FAKE = FIXTURES / "fake_adb.py"
sys.path.insert(0, str(FIXTURES))


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A schema-valid bundle with two small model files (the fake phone does not run them)."""
    from manifest_helper import file_entry, manifest, not_executed

    root = tmp_path / "my bundle"   # a space: the driver must not build shell strings from names
    (root / "reference").mkdir(parents=True)
    files = []
    for name, runtime in (("model_fp32.pte", "executorch"), ("model_fp32.tflite", "litert")):
        (root / name).write_bytes(name.encode() * 10)
        files.append(file_entry(root, name, runtime, 2330000, not_executed("test fixture: bytes, not a model")))
    (root / "reference" / "inputs.npy").write_bytes(b"\x93NUMPY")
    (root / "reference" / "outputs.npy").write_bytes(b"\x93NUMPY")
    config = {"name": "vit_nano_patch4_28", "img_size": 28, "in_chans": 1, "num_classes": 10, "keep_rate": 1.0,
              "attn_keep": 1.0}
    doc = manifest(config, [1, 1, 28, 28], 10, files, 30000, 2330000, "fixture bytes")
    (root / "manifest.json").write_text(json.dumps(doc))
    return root


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    """Puts the stand-in on PATH as `adb`; returns a function that sets the scenario and reads the call log."""
    state = tmp_path / "adb_state"
    (state / "fs").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE} \"$@\"\n")
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FAKE_ADB_DIR", str(state))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.delenv("ANDROID_HOME", raising=False)
    monkeypatch.delenv("ANDROID_SDK_ROOT", raising=False)

    class Fake:
        def scenario(self, **kw):
            (state / "scenario.json").write_text(json.dumps(kw))

        def calls(self) -> list[list[str]]:
            log = state / "calls.jsonl"
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

        def device_file(self, path: str) -> Path:
            return state / "fs" / path.lstrip("/")

    fake = Fake()
    fake.scenario()
    return fake


QUICK = Protocol.quick()
OPTS = AndroidOptions(poll_s=0, start_timeout_s=5, reconnect_s=0.5, timeout_s=30)


def test_full_run_pulls_and_validates_every_result(bundle, fake_adb, tmp_path):
    results = run_android(bundle, tmp_path / "out", QUICK, OPTS)
    names = [p.name for p, _ in results]
    assert names == ["model_fp32-executorch-android.json", "model_fp32-litert-android.json"]
    for path, doc in results:
        assert load_results(path) == doc and doc["status"] == "complete"
    calls = fake_adb.calls()
    assert calls[0] == ["devices"]
    assert calls[1] == ["-s", "SERIAL1", "shell", "getprop"]
    assert calls[2] == ["-s", "SERIAL1", "shell", "pm", "path", "dev.vitsdk.bench"]
    assert calls[3][:5] == ["-s", "SERIAL1", "shell", "mkdir", "-p"]
    pushes = [c for c in calls if c[2:3] == ["push"]]
    assert [Path(c[3]).name for c in pushes] == ["manifest.json", "model_fp32.pte", "model_fp32.tflite",
                                                 "inputs.npy", "outputs.npy", "run_spec.json"]
    assert str(bundle / "model_fp32.pte") in pushes[1]          # local path with a space passed as one argument
    start = next(c for c in calls if "am" in c)
    assert start[2:9] == ["shell", "am", "start", "-W", "-n", "dev.vitsdk.bench/.BenchActivity", "-a"]
    spec_path = start[-1]
    spec = json.loads((tmp_path / "adb_state" / "pushed_spec.json").read_text())   # the fake keeps a copy
    assert RUN_SPEC.errors(spec) == []
    assert [m["file"] for m in spec["models"]] == ["model_fp32.pte", "model_fp32.tflite"]
    assert " " not in spec["run_id"] and spec["run_id"].startswith("my_bundle-")
    assert any(c[2:3] == ["pull"] and c[3].endswith("/progress.json") for c in calls)
    run_dir = spec_path.rsplit("/", 1)[0]
    assert calls[-1] == ["-s", "SERIAL1", "shell", "rm", "-rf", run_dir]   # the pushed bundle is removed
    assert not fake_adb.device_file(run_dir).exists()


@pytest.mark.parametrize("scenario, message", [
    ({"devices": []}, "no Android device found"),
    ({"devices": [["SERIAL1", "unauthorized"]]}, "unauthorized"),
    ({"devices": [["A", "device"], ["B", "device"]]}, "choose one with --serial (A, B)"),
    ({"devices": [["SERIAL1", "offline"]]}, "is 'offline'"),
    ({"devices": [["SERIAL1", "no permissions (missing udev rules? user is in the plugdev group)"]]}, "udev"),
    ({"installed": False}, "--install"),
    ({"am_error": True}, "could not start the app"),
    ({"debuggable": False, "pull_denied": True}, "debuggable"),
])
def test_device_faults_are_one_line_errors(bundle, fake_adb, tmp_path, scenario, message):
    fake_adb.scenario(**scenario)
    with pytest.raises(UserError) as err:
        run_android(bundle, tmp_path / "out", QUICK, OPTS)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_unknown_serial_and_missing_adb(bundle, fake_adb, tmp_path, monkeypatch):
    with pytest.raises(UserError, match="device 'XYZ' not found by adb .attached: SERIAL1."):
        run_android(bundle, tmp_path / "out", Protocol(), AndroidOptions(serial="XYZ", poll_s=0))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match="adb not found"):
        run_android(bundle, tmp_path / "out", QUICK, OPTS)


def test_install_when_asked(bundle, fake_adb, tmp_path):
    """Also: the first adb call starts the adb server, which prints its own lines before the device list."""
    fake_adb.scenario(installed=False, daemon_start=True)
    apk = tmp_path / "app-debug.apk"
    apk.write_bytes(b"PK")
    results = run_android(bundle, tmp_path / "out", Protocol(),
                          AndroidOptions(install=apk, poll_s=0, start_timeout_s=5))
    assert len(results) == 2
    assert ["-s", "SERIAL1", "install", "-r", str(apk)] in fake_adb.calls()


def test_pull_permission_denied_falls_back_to_run_as(bundle, fake_adb, tmp_path):
    fake_adb.scenario(pull_denied=True)
    results = run_android(bundle, tmp_path / "out", QUICK, OPTS)
    assert [d["status"] for _, d in results] == ["complete", "complete"]
    run_as = [c for c in fake_adb.calls() if c[2:5] == ["exec-out", "run-as", "dev.vitsdk.bench"]]
    assert run_as and all(c[5] == "cat" and c[6].startswith("files/results/") for c in run_as)


def test_device_lost_mid_run_keeps_and_marks_partial_results(bundle, fake_adb, tmp_path):
    fake_adb.scenario(disconnect_after_polls=2)
    with pytest.raises(UserError, match="lost device SERIAL1 mid-run") as err:
        run_android(bundle, tmp_path / "out", QUICK, OPTS)
    assert "kept 1 pulled results" in str(err.value)
    out = tmp_path / "out"
    docs = {p.name: load_results(p) for p in out.glob("*.json")}
    assert docs["model_fp32-executorch-android.json"]["status"] == "complete"
    lost = docs["model_fp32-litert-android.json"]
    assert lost["status"] == "failed" and "disconnected mid-run" in lost["error"]
    assert lost["energy"]["status"] == "unavailable" and lost["latency"] is None


def test_device_that_comes_back_is_resumed(bundle, fake_adb, tmp_path):
    fake_adb.scenario(disconnect_after_polls=2, reconnect_after_calls=14)
    results = run_android(bundle, tmp_path / "out", Protocol(),
                          AndroidOptions(poll_s=0, start_timeout_s=5, reconnect_s=10))
    assert sorted(d["status"] for _, d in results) == ["complete", "complete"]


def test_model_that_fails_on_the_phone_is_reported_and_the_others_run(bundle, fake_adb, tmp_path):
    fake_adb.scenario(fail_model="model_fp32.pte")
    docs = {d["runtime"]["name"]: d for _, d in run_android(bundle, tmp_path / "out", QUICK, OPTS)}
    assert docs["executorch"]["status"] == "failed" and "Failed to load" in docs["executorch"]["error"]
    assert docs["litert"]["status"] == "complete"


@pytest.mark.parametrize("corrupt, message", [("truncate", "truncated"), ("invalid", "/energy/energy_mj")])
def test_bad_results_from_the_phone_are_rejected_with_their_path(bundle, fake_adb, tmp_path, corrupt, message):
    fake_adb.scenario(corrupt=corrupt)
    with pytest.raises(UserError, match=message):
        run_android(bundle, tmp_path / "out", QUICK, OPTS)
    assert not (tmp_path / "out" / "model_fp32-executorch-android.json").exists()


def test_cli_android(bundle, fake_adb, tmp_path, capsys):
    from vitsdk.cli import main

    main(["bench", str(bundle), "--device", "android", "--serial", "SERIAL1", "-o", str(tmp_path / "out"),
          "--quick", "--runtime", "litert", "--json"])
    docs = json.loads(capsys.readouterr().out)
    assert [d["runtime"]["name"] for d in docs] == ["litert"]


PHONES = {"devices": [["A", "device"], ["B", "device"]]}


def test_several_phones_run_in_parallel_each_in_its_own_folder(bundle, fake_adb, tmp_path):
    """Two fake phones (no phone exists here): each gets its own adb -s calls, pushes, run and results folder."""
    fake_adb.scenario(**PHONES, phones={"B": {"fail_model": "model_fp32.pte"}})
    results = run_android(bundle, tmp_path / "out", Protocol(),
                          AndroidOptions(serials=("A", "B"), poll_s=0, start_timeout_s=5))
    by_phone = {(p.parent.name, d["runtime"]["name"]): d for p, d in results}
    assert set(by_phone) == {(s, r) for s in "AB" for r in ("executorch", "litert")}
    for path, doc in results:
        assert load_results(path) == doc
    assert by_phone["A", "executorch"]["status"] == "complete"   # B's failing model stays on B
    assert by_phone["B", "executorch"]["status"] == "failed" and by_phone["B", "litert"]["status"] == "complete"
    starts = {c[1] for c in fake_adb.calls() if "am" in c and c[0] == "-s"}
    assert starts == {"A", "B"}


def test_a_failing_phone_does_not_stop_the_others(bundle, fake_adb, tmp_path):
    fake_adb.scenario(devices=[["A", "device"], ["B", "device"], ["C", "unauthorized"]],
                      phones={"B": {"installed": False}})
    with pytest.raises(UserError) as err:
        run_android(bundle, tmp_path / "out", Protocol(),
                    AndroidOptions(serials=("A", "B", "C"), poll_s=0, start_timeout_s=5))
    message = str(err.value)
    assert message.startswith("2 of 3 phones failed") and "B: the benchmark app" in message and "C: device C is unauthorized" in message
    assert sorted(p.name for p in (tmp_path / "out" / "A").glob("*.json")) == [
        "model_fp32-executorch-android.json", "model_fp32-litert-android.json"]
    assert not (tmp_path / "out" / "B").exists() and not (tmp_path / "out" / "C").exists()


def test_all_devices_takes_the_ready_ones(bundle, fake_adb, tmp_path):
    fake_adb.scenario(devices=[["A", "device"], ["B", "offline"], ["10.0.0.7:5555", "device"]])
    results = run_android(bundle, tmp_path / "out", Protocol(),
                          AndroidOptions(all_devices=True, poll_s=0, start_timeout_s=5))
    assert sorted({p.parent.name for p, _ in results}) == ["10.0.0.7_5555", "A"]


@pytest.mark.parametrize("options, message", [
    ({"all_devices": True, "serials": ("A",)}, "drop --serial, or drop --all-devices"),
    ({"serials": ("A", "Z")}, "--serial Z: not found by adb (attached: A, B)"),
])
def test_phone_selection_errors(bundle, fake_adb, tmp_path, options, message):
    fake_adb.scenario(**PHONES)
    with pytest.raises(UserError) as err:
        run_android(bundle, tmp_path / "out", Protocol(), AndroidOptions(poll_s=0, **options))
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_pte_from_a_newer_executorch_is_refused_before_any_adb_call(bundle, fake_adb, tmp_path):
    from vitsdk.bench.android import app_runtime_versions

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["exporters"] = {"executorch": "99.0.0"}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=f"app runs ExecuTorch {app_runtime_versions()['executorch']}"):
        run_android(bundle, tmp_path / "out", QUICK, OPTS)
    assert fake_adb.calls() == []
    results = run_android(bundle, tmp_path / "out", Protocol(),
                          AndroidOptions(runtimes=("litert",), poll_s=0, start_timeout_s=5))
    assert [d["runtime"]["name"] for _, d in results] == ["litert"]


def test_cli_several_phones(bundle, fake_adb, tmp_path, capsys):
    from vitsdk.cli import main

    fake_adb.scenario(**PHONES)
    main(["bench", str(bundle), "--device", "android", "--serial", "A", "--serial", "B", "-o", str(tmp_path / "out"),
          "--quick", "--json"])
    docs = json.loads(capsys.readouterr().out)
    assert len(docs) == 4
    assert sorted(p.parent.name for p in (tmp_path / "out").glob("*/*.json")) == ["A", "A", "B", "B"]


def _tflite_with_op(path: Path, op: str, version: int) -> None:
    """A minimal LiteRT flatbuffer naming one operator code, built with the runtime's own schema."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    b = flatbuffers.Builder(64)
    fb.OperatorCodeStart(b)
    fb.OperatorCodeAddBuiltinCode(b, getattr(fb.BuiltinOperator, op))
    fb.OperatorCodeAddDeprecatedBuiltinCode(b, min(getattr(fb.BuiltinOperator, op), 127))
    fb.OperatorCodeAddVersion(b, version)
    code = fb.OperatorCodeEnd(b)
    fb.ModelStartOperatorCodesVector(b, 1)
    b.PrependUOffsetTRelative(code)
    codes = b.EndVector()
    fb.ModelStart(b)
    fb.ModelAddVersion(b, 3)
    fb.ModelAddOperatorCodes(b, codes)
    b.Finish(fb.ModelEnd(b), file_identifier=b"TFL3")
    path.write_bytes(b.Output())


def test_tflite_needing_ops_the_apps_litert_lacks_is_refused(bundle, fake_adb, tmp_path):
    from manifest_helper import sha256

    from vitsdk.bench.android import app_runtime_versions, litert_op_gaps, tflite_op_versions

    pinned = app_runtime_versions()["litert"]
    table = json.loads((Path(__file__).parents[1] / "schemas" / "litert_op_versions.json").read_text())["releases"]
    newest = table[pinned]["FULLY_CONNECTED"]
    tfl = bundle / "model_fp32.tflite"
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["path"] == tfl.name)
    for version, refused in ((newest, False), (newest + 1, True)):
        _tflite_with_op(tfl, "FULLY_CONNECTED", version)
        assert tflite_op_versions(tfl) == {"FULLY_CONNECTED": version}
        entry.update(sha256=sha256(tfl), size_bytes=tfl.stat().st_size)
        (bundle / "manifest.json").write_text(json.dumps(manifest))
        if refused:
            with pytest.raises(UserError, match=f"FULLY_CONNECTED v{version} .LiteRT {pinned} registers up to v{newest}."):
                run_android(bundle, tmp_path / "out", QUICK, OPTS)
        else:
            assert litert_op_gaps(tflite_op_versions(tfl)) == []
