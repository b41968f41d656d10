"""The iOS app's pure Swift package (`ios_app/BenchCore`) under `swift test`, for real.

There is no Xcode here: `scripts/swift_chroot.sh` makes (once, ~3 min, ~2.6 GB in
~/.cache/vitsdk/swift-chroot) a Debian trixie chroot with Swift 6.0.3 and runs `swift test` in it,
keeping SwiftPM's build folder there so reruns take seconds. The Swift tests check the port
against the shared vectors in `schemas/vectors` and write results documents (from a scripted
stand-in backend and phone, the only parts that cannot exist here); this test validates every one
against `schemas/results.schema.json`. If the chroot cannot be made the test fails, never skips.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from vitsdk.formats.results import RESULTS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "swift_chroot.sh"

# Written by ios_app/BenchCore/Tests/BenchCoreTests/SessionTests.swift.
EXPECTED = {
    "ios_executorch_complete.json": ("complete", "unavailable"),
    "ios_coreml_battery_unresolved.json": ("complete", "unavailable"),
    "ios_coreml_load_failed.json": ("failed", "unavailable"),
    "ios_executorch_partial.json": ("partial", "unavailable"),
    "ios_executorch_sha_mismatch.json": ("failed", "unavailable"),
    "ios_coreml_numerics_fail.json": ("complete", "unavailable"),
    "ios_coreml_cancelled.json": ("partial", "unavailable"),
    # Written by RunControllerTests.swift: a headless run of a whole run spec.
    "ios_run_r7__model.mlpackage__coreml-cpu.json": ("complete", "unavailable"),
    "ios_run_r7__model.mlpackage__coreml-all.json": ("complete", "unavailable"),
    "ios_run_r7__model_fp32.pte__executorch.json": ("complete", "unavailable"),
}


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _python_made_bundle(root: Path) -> Path:
    """Files as Python writes them, for CrossLanguageTests.swift: .npy arrays from numpy and sha256
    digests from the exporter's own `vitsdk.hashing.path_sha256` (files, and .mlpackage folders whose paths sort
    differently part by part than as strings: 'a/b' before 'a.b')."""
    from vitsdk.hashing import path_sha256 as sha256_of  # the exporter's definition (issue #4)

    rng = np.random.default_rng(7)
    package = root / "model.mlpackage"
    (package / "Data" / "a").mkdir(parents=True)
    (package / "Data" / "a" / "b").write_bytes(rng.bytes(300))
    (package / "Data" / "a.b").write_bytes(rng.bytes(200))
    (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (root / "model_fp32.pte").write_bytes(rng.bytes(5000))
    arrays = {"inputs": rng.normal(size=(3, 1, 2, 2)).astype(np.float32),
              "outputs": rng.normal(size=(3, 10)).astype(np.float32),
              "labels": np.array([3, 1, 9], dtype=np.int64),
              "doubles": np.linspace(-2, 2, 6).reshape(2, 3)}
    # A "device" output a little off the reference: the Swift numerics check must judge it as the
    # rule in schemas/README.md does (computed here with numpy).
    arrays["device"] = (arrays["outputs"] + rng.normal(scale=2e-3, size=(3, 10))).astype(np.float32)
    (root / "reference").mkdir()
    for name, array in arrays.items():
        np.save(root / "reference" / f"{name}.npy", array)
    files = [{"path": path, "format": fmt, "runtime": runtime, "precision": "fp32", "delegate": delegate,
              "size_bytes": 0, "sha256": sha256_of(root / path), "macs": 100}
             for path, fmt, runtime, delegate in (("model.mlpackage", "mlpackage", "coreml", None),
                                                  ("model_fp32.pte", "pte", "executorch", "xnnpack"))]
    manifest = {"schema": "vitsdk.manifest/1", "model": {"name": "vit_nano_patch4_28"},
                "input": {"name": "x", "shape": [1, 1, 2, 2], "dtype": "float32", "layout": "NCHW",
                          "mean": [0.5], "std": [0.5], "preprocessing": "none"},
                "files": files,
                "reference": {"inputs": "reference/inputs.npy", "outputs": "reference/outputs.npy",
                              "labels": "reference/labels.npy", "tolerance": 1e-3, "tolerances": {"fp16": 0.05}}}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    expected = {name: {"shape": list(a.shape), "values": a.astype(np.float64).ravel().tolist()}
                for name, a in arrays.items()}
    expected["manifest_sha256"] = sha256_of(root / "manifest.json")
    got, want = arrays["device"].astype(np.float64), arrays["outputs"].astype(np.float64)
    rel = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
    expected["numerics"] = {"rel_diff": rel, "top1_agree": float(np.mean(got.argmax(1) == want.argmax(1))),
                            "status_at_1e-3": "pass" if rel <= 1e-3 else "fail",
                            "status_at_1e-2": "pass" if rel <= 1e-2 else "fail"}
    (root / "expected.json").write_text(json.dumps(expected))
    return root


@pytest.fixture()
def swift_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    if os.geteuid() != 0:
        pytest.fail("the Swift tests need root to make and enter the trixie chroot (debootstrap, chroot); "
                    "run pytest as root, or run `sudo scripts/swift_chroot.sh test` by hand")
    setup = subprocess.run(["bash", str(SCRIPT), "setup"], capture_output=True, text=True, timeout=1800)
    assert setup.returncode == 0, f"could not make the Swift chroot:\n{_tail(setup.stderr)}"
    chroot = Path(subprocess.run(["bash", str(SCRIPT), "path"], capture_output=True, text=True,
                                 check=True).stdout.strip())
    fixture = _python_made_bundle(tmp_path_factory.mktemp("py-bundle"))
    run = subprocess.run(["bash", str(SCRIPT), "test"], capture_output=True, text=True, timeout=1200,
                         env={**os.environ, "VITSDK_SWIFT_FIXTURE": str(fixture)})
    return run, chroot / "vitsdk" / "out"


def test_swift_tests_pass_and_write_schema_valid_results(swift_run):
    """One test, so parallel pytest workers never run two `swift test`s over the same output folder."""
    run, out = swift_run
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"swift test failed (exit {run.returncode}):\n{_tail(output, 60)}"
    counts = [int(n) for n in re.findall(r"Executed (\d+) tests?, with (?:\d+ tests? skipped and )?0 failures", output)]
    assert counts and max(counts) >= 20, f"expected the whole suite to run:\n{_tail(output)}"
    for suite in ("VectorTests", "RunSpecTests", "ManifestTests", "SHA256Tests", "NpyTests", "SessionTests",
                  "RunControllerTests", "CrossLanguageTests"):
        assert f"Test Suite '{suite}' passed" in output, f"{suite} did not pass:\n{_tail(output)}"
    assert "CrossLanguageTests.testReadsPythonMadeBundle' passed" in output, "the cross-language test must run, not skip"

    written = sorted(p.name for p in out.glob("*.json"))
    assert written == sorted(EXPECTED), f"Swift tests wrote {written}"
    for name, (status, energy) in EXPECTED.items():
        doc = json.loads((out / name).read_text())
        problems = RESULTS.errors(doc)
        assert problems == [], f"{name} breaks results.schema.json: {problems}"
        assert doc["device"]["platform"] == "ios"
        assert doc["status"] == status, name
        assert doc["energy"]["status"] == energy, name
        if status == "failed":
            assert doc["latency"] is None and doc["error"]
        else:
            assert doc["latency"]["runs"] == len(doc["latency"]["samples_ms"]) > 0
    unresolved = json.loads((out / "ios_coreml_battery_unresolved.json").read_text())["energy"]
    assert unresolved.get("energy_mj") is None and unresolved["method"] == "none"
    assert unresolved["reason"].startswith("not resolved: "), "a battery figure within its noise is no figure"


def test_chroot_script_refuses_unknown_commands():
    bad = subprocess.run(["bash", str(SCRIPT), "tset"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "unknown command 'tset'" in bad.stderr and bad.stderr.count("\n") == 1


def test_chroot_script_says_it_needs_root(tmp_path):
    """Without root it stops at once with one clear line (as root, the test drops to uid 65534). uid 65534
    may not be able to read the checkout (a clone inside a 0700 folder, or pytest's own 0700 tmp folders),
    so the script is run from a world-readable copy."""
    drop = (lambda: os.setuid(65534)) if os.geteuid() == 0 else None
    public = Path(tempfile.mkdtemp(prefix="vitsdk-chroot-test-", dir="/tmp"))
    try:
        public.chmod(0o755)
        script = public / SCRIPT.name
        shutil.copy(SCRIPT, script)
        script.chmod(0o644)
        env = {**os.environ, "HOME": str(public), "VITSDK_SWIFT_CHROOT": str(public / "chroot")}
        done = subprocess.run(["bash", str(script), "setup"], capture_output=True, text=True, timeout=60,
                              preexec_fn=drop, env=env, cwd="/")
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == ("error: swift_chroot: needs root (debootstrap and chroot do); run it as "
                                       "root or with sudo")
        assert not (public / "chroot").exists()
    finally:
        shutil.rmtree(public)
