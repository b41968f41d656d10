"""The whole Android app compiled with kotlinc against the real APIs, and its Android side run under Robolectric.

Compiled: every Kotlin file of android_app/app (main and test) and android_app/benchcore (main), against
android-all (the Android framework, API compile_sdk), the LiteRT Interpreter API (org.tensorflow:tensorflow-lite),
fbjni, soloader and Robolectric, all resolved from Maven Central by scripts/setup_android.sh at the versions of
schemas/runtime_versions.json. One exception, a fake for what cannot exist here: the ExecuTorch AAR is not served
by the Maven Central these machines reach, so android_app/hoststubs/ stands in for the four ExecuTorch classes
the app calls (same signatures as ExecuTorch's Kotlin sources; a call the real API lacks fails to compile).

Run: BenchAppTest (JUnit + Robolectric, API 35 sandbox, offline) drives the RUN intent, BenchRunner, the energy
paths, thermal status and the results provider; a fake InferenceBackend replaces ExecuTorch/LiteRT, whose native
libraries cannot load on a host JVM. Every results file it writes is validated here against results.schema.json.
Compiled once per session, cached under ~/.cache/vitsdk/kotlin-build/app-<hash of sources and jars>.
"""
from __future__ import annotations

import json

from android_build import APP, VERSIONS, android_build  # noqa: F401  (the session fixture)
from vitsdk.formats.results import RESULTS


def test_every_app_source_compiled_against_the_real_framework(android_build):
    """A Kotlin file left out of the compile (or one that declares nothing) would make this pass vacuously."""
    app_sources = [s for s in android_build.sources if "/app/src/main/" in str(s)]
    assert {s.name for s in app_sources} >= {"BenchActivity.kt", "BenchRunner.kt", "Backends.kt", "Power.kt", "ResultsProvider.kt"}
    for cls in ["BenchActivity", "BenchRunner", "RunnerPlatform", "ExecuTorchBackend", "LiteRtBackend", "PowerMonitorCounters",
                "BatterySampler", "ResultsProvider"]:
        assert (android_build.classes / "dev" / "vitsdk" / "bench" / f"{cls}.class").is_file(), cls
    manifest = (APP / "app" / "src" / "main" / "AndroidManifest.xml").read_text()
    gradle = (APP / "app" / "build.gradle.kts").read_text()
    for text, where in [(manifest, "AndroidManifest.xml"), (gradle, "app/build.gradle.kts")]:
        assert "androidx" not in text, f"{where} still names androidx, which the app cannot compile against here"
    for src in app_sources:
        assert "import androidx" not in src.read_text(), src


def test_robolectric_app_tests_and_their_results_files(android_build, tmp_path):
    out = tmp_path / "out"
    proc = android_build.java("org.junit.runner.JUnitCore", "dev.vitsdk.bench.BenchAppTest", props={
        "robolectric.offline": "true", "robolectric.dependency.dir": str(android_build.dependency_dir),
        "vitsdk.out": str(out)})
    assert proc.returncode == 0 and "OK (9 tests)" in proc.stdout, proc.stdout[-6000:] + proc.stderr[-3000:]
    cases = {"monitors", "battery_uA", "battery_mA", "plugged", "no_energy", "missing", "newer_pte"}
    docs = {}
    for case in cases:
        progress = json.loads((out / case / "progress.json").read_text())
        assert progress["state"] == "done" and len(progress["files"]) == 2, (case, progress)
        for name in progress["files"]:
            doc = json.loads((out / case / name).read_text())
            assert RESULTS.errors(doc) == [], (case, name, RESULTS.errors(doc))
            docs[case, doc["model"]["file"]] = doc
        assert not list((out / case).glob(".*.tmp")), f"{case}: a half-written file was left behind"
    assert docs["monitors", "model.pte"]["runtime"]["version"] == VERSIONS["executorch"]
    assert docs["monitors", "model.tflite"]["runtime"]["version"] == VERSIONS["litert"]
    assert docs["newer_pte", "model.pte"]["status"] == "failed"
    assert docs["newer_pte", "model.pte"]["runtime"]["version"] == VERSIONS["executorch"]
