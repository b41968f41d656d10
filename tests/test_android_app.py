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

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from vitsdk.atomic import atomic_path
from vitsdk.bench import schema
from test_android_benchcore import CACHE, KOTLIN, ROOT, _toolchain

APP = ROOT / "android_app"
VERSIONS = json.loads((ROOT / "schemas" / "runtime_versions.json").read_text())


def _jars() -> tuple[list[Path], list[Path], Path]:
    """(compile jars, Robolectric run jars, the folder Robolectric finds android-all-instrumented in)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "setup_android.sh")], check=True, capture_output=True)
    done = sorted((CACHE / "android").glob("*/.complete"), key=lambda p: p.stat().st_mtime)
    assert done, "scripts/setup_android.sh left no resolved jars"
    base = done[-1].parent
    compile_jars = sorted((base / "compile").glob("*.jar"))
    framework = f"android-all-{VERSIONS['android_all']}.jar"
    assert (base / "compile" / framework).is_file(), f"{framework} missing from {base / 'compile'}"
    # Robolectric loads the instrumented framework itself; the plain one must not shadow it on the classpath.
    run_jars = [j for j in sorted((base / "test").glob("*.jar")) if j.name != framework]
    return compile_jars, run_jars, base / "test"


@pytest.fixture(scope="session")
def app_build() -> dict:
    _toolchain()
    compile_jars, run_jars, dependency_dir = _jars()
    sources = sorted([*APP.glob("app/src/*/kotlin/**/*.kt"), *APP.glob("benchcore/src/main/kotlin/**/*.kt"),
                      *APP.glob("hoststubs/**/*.kt")])
    digest = hashlib.sha256()
    for src in sources:
        digest.update(str(src.relative_to(APP)).encode() + b"\0" + src.read_bytes())
    for jar in compile_jars + run_jars:
        digest.update(jar.name.encode())
    digest.update((KOTLIN / "package.json").read_bytes())
    out = CACHE / "kotlin-build" / f"app-{digest.hexdigest()[:16]}"
    if not out.is_dir():
        lib = KOTLIN / "lib"
        with atomic_path(out, is_dir=True) as tmp:
            proc = subprocess.run(
                ["nice", "-n", "10", "java", "-cp", f"{lib / 'kotlin-compiler.jar'}:{lib / 'kotlin-stdlib.jar'}",
                 "org.jetbrains.kotlin.cli.jvm.K2JVMCompiler", "-kotlin-home", str(KOTLIN), "-jvm-target", "17",
                 "-d", str(tmp), "-cp", ":".join(map(str, compile_jars + run_jars)), *map(str, sources)],
                capture_output=True, text=True)
            assert proc.returncode == 0, f"kotlinc failed on the Android app:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return {"classes": out, "run_jars": run_jars, "dependency_dir": dependency_dir, "sources": sources}


def test_every_app_source_compiled_against_the_real_framework(app_build):
    """A Kotlin file left out of the compile (or one that declares nothing) would make this pass vacuously."""
    app_sources = [s for s in app_build["sources"] if "/app/src/main/" in str(s)]
    assert {s.name for s in app_sources} >= {"BenchActivity.kt", "BenchRunner.kt", "Backends.kt", "Power.kt", "ResultsProvider.kt"}
    for cls in ["BenchActivity", "BenchRunner", "RunnerPlatform", "ExecuTorchBackend", "LiteRtBackend", "PowerMonitorCounters",
                "BatterySampler", "ResultsProvider"]:
        assert (app_build["classes"] / "dev" / "vitsdk" / "bench" / f"{cls}.class").is_file(), cls
    manifest = (APP / "app" / "src" / "main" / "AndroidManifest.xml").read_text()
    gradle = (APP / "app" / "build.gradle.kts").read_text()
    for text, where in [(manifest, "AndroidManifest.xml"), (gradle, "app/build.gradle.kts")]:
        assert "androidx" not in text, f"{where} still names androidx, which the app cannot compile against here"
    for src in app_sources:
        assert "import androidx" not in src.read_text(), src


def test_robolectric_app_tests_and_their_results_files(app_build, tmp_path):
    out = tmp_path / "out"
    cp = ":".join(map(str, [app_build["classes"], KOTLIN / "lib" / "kotlin-stdlib.jar", *app_build["run_jars"],
                            ROOT / "schemas"]))   # schemas/ on the classpath: /runtime_versions.json, as Gradle packages it
    proc = subprocess.run(
        ["nice", "-n", "10", "java", "--add-opens=java.base/java.io=ALL-UNNAMED",  # Robolectric's FileDescriptor shadow
         "-Drobolectric.offline=true", f"-Drobolectric.dependency.dir={app_build['dependency_dir']}",
         f"-Dvitsdk.out={out}", "-cp", cp, "org.junit.runner.JUnitCore", "dev.vitsdk.bench.BenchAppTest"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "OK (9 tests)" in proc.stdout, proc.stdout[-6000:] + proc.stderr[-3000:]
    cases = {"monitors", "battery_uA", "battery_mA", "plugged", "no_energy", "missing", "newer_pte"}
    docs = {}
    for case in cases:
        progress = json.loads((out / case / "progress.json").read_text())
        assert progress["state"] == "done" and len(progress["files"]) == 2, (case, progress)
        for name in progress["files"]:
            doc = json.loads((out / case / name).read_text())
            assert schema.errors(doc, "results") == [], (case, name, schema.errors(doc, "results"))
            docs[case, doc["model"]["file"]] = doc
        assert not list((out / case).glob(".*.tmp")), f"{case}: a half-written file was left behind"
    assert docs["monitors", "model.pte"]["runtime"]["version"] == VERSIONS["executorch"]
    assert docs["monitors", "model.tflite"]["runtime"]["version"] == VERSIONS["litert"]
    assert docs["newer_pte", "model.pte"]["status"] == "failed"
    assert docs["newer_pte", "model.pte"]["runtime"]["version"] == VERSIONS["executorch"]
