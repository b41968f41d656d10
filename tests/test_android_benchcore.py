"""The Android app's pure-Kotlin module (android_app/benchcore) compiled with kotlinc and its JUnit tests run
on the host JVM against the shared vectors in schemas/vectors; the results documents it builds are then
validated against schemas/results.schema.json here. No Android SDK exists on this machine (DESIGN.md),
so only the module without Android imports is compiled.

The toolchain comes from scripts/setup_kotlin.sh (kotlinc from npm, JUnit 4 from Debian); compiled
classes are cached under ~/.cache/vitsdk/kotlin-build/<hash of the sources> so reruns take seconds.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vitsdk.atomic import atomic_path
from vitsdk.bench import schema

ROOT = Path(__file__).resolve().parents[1]
BENCHCORE = ROOT / "android_app" / "benchcore"
CACHE = Path(os.environ.get("VITSDK_CACHE", Path.home() / ".cache" / "vitsdk"))
TOOLS = Path(os.environ.get("VITSDK_TOOLS", CACHE / "tools"))
KOTLIN = TOOLS / "kotlin" / "node_modules" / "kotlin-compiler"
JUNIT = [TOOLS / "junit" / "junit4.jar", TOOLS / "junit" / "hamcrest.jar"]
TEST_CLASSES = ["dev.vitsdk.benchcore.VectorsTest", "dev.vitsdk.benchcore.ResultsWriterTest"]


def _toolchain() -> None:
    if not shutil.which("java"):
        pytest.fail("no java on this machine: install a JDK (make test expects one) to compile the Kotlin module")
    if not (KOTLIN / "lib" / "kotlin-compiler.jar").is_file() or not all(j.is_file() for j in JUNIT):
        subprocess.run(["bash", str(ROOT / "scripts" / "setup_kotlin.sh")], check=True, capture_output=True)
    missing = [p for p in [KOTLIN / "lib" / "kotlin-compiler.jar", *JUNIT] if not p.is_file()]
    assert not missing, f"scripts/setup_kotlin.sh did not provide {missing}"


@pytest.fixture(scope="module")
def classes() -> Path:
    """benchcore main + test sources compiled once per source hash."""
    _toolchain()
    sources = sorted(BENCHCORE.glob("src/*/kotlin/**/*.kt"))
    assert sources, "no Kotlin sources under android_app/benchcore"
    digest = hashlib.sha256()
    for src in sources:
        digest.update(str(src.relative_to(BENCHCORE)).encode() + b"\0" + src.read_bytes())
    digest.update((KOTLIN / "package.json").read_bytes())
    out = CACHE / "kotlin-build" / digest.hexdigest()[:16]
    if not out.is_dir():
        lib = KOTLIN / "lib"
        with atomic_path(out, is_dir=True) as tmp:
            proc = subprocess.run(
                ["java", "-cp", f"{lib / 'kotlin-compiler.jar'}:{lib / 'kotlin-stdlib.jar'}",
                 "org.jetbrains.kotlin.cli.jvm.K2JVMCompiler", "-kotlin-home", str(KOTLIN), "-jvm-target", "17",
                 "-d", str(tmp), "-cp", ":".join(map(str, JUNIT)), *map(str, sources)],
                capture_output=True, text=True)
            assert proc.returncode == 0, f"kotlinc failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_benchcore_junit_against_shared_vectors(classes, tmp_path):
    npy = tmp_path / "ref.npy"
    values = np.arange(12, dtype=np.float32).reshape(3, 1, 4) / 7
    np.save(npy, values)
    (tmp_path / "ref.npy.json").write_text(json.dumps({"shape": list(values.shape), "values": values.ravel().tolist()}))
    out = tmp_path / "docs"
    cp = ":".join(map(str, [classes, KOTLIN / "lib" / "kotlin-stdlib.jar", *JUNIT]))
    proc = subprocess.run(["java", f"-Dvitsdk.vectors={ROOT / 'schemas' / 'vectors'}", f"-Dvitsdk.out={out}",
                           f"-Dvitsdk.npy={npy}", "-cp", cp, "org.junit.runner.JUnitCore", *TEST_CLASSES],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "OK (" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-2000:]
    docs = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(docs) == {"battery.json", "monitors.json", "plugged.json", "failed.json"}
    for name, doc in docs.items():
        assert schema.errors(doc, "results") == [], name
    assert docs["battery.json"]["energy"]["method"] == "battery_current_voltage"
    assert docs["battery.json"]["energy"]["battery"] == {"current_unit": "uA", "discharge_sign": -1,
                                                         "voltage_unit": "mV", "plugged": False, "note": None}
    assert docs["plugged.json"]["energy"]["status"] == "unavailable"
    assert docs["monitors.json"]["energy"]["method"] == "android_power_monitor"
    assert docs["failed.json"]["latency"] is None


def test_app_and_python_name_results_files_alike():
    """The driver pulls files by the name rule both sides implement; ResultsWriterTest asserts the same name."""
    from vitsdk.bench.bundle import ModelFile
    from vitsdk.bench.host import results_name

    m = ModelFile("sub/model_int8.pte", "pte", "executorch", "int8", "xnnpack", 1, "0" * 64, 1)
    assert results_name(m, "android") == "sub_model_int8-executorch-android.json"
