"""The Android app's pure-Kotlin module (android_app/benchcore): its JUnit tests run on the host JVM against the
shared vectors in schemas/vectors, and the results documents it builds are validated against
schemas/results.schema.json here. Compiled with the rest of the app, once per session (tests/android_build.py).
"""
from __future__ import annotations

import json

import numpy as np

from android_build import ROOT, android_build  # noqa: F401  (the session fixture)
from vitsdk.formats.results import RESULTS

TEST_CLASSES = ["dev.vitsdk.benchcore.VectorsTest", "dev.vitsdk.benchcore.ResultsWriterTest"]


def test_benchcore_junit_against_shared_vectors(android_build, tmp_path):
    npy = tmp_path / "ref.npy"
    values = np.arange(12, dtype=np.float32).reshape(3, 1, 4) / 7
    np.save(npy, values)
    (tmp_path / "ref.npy.json").write_text(json.dumps({"shape": list(values.shape), "values": values.ravel().tolist()}))
    out = tmp_path / "docs"
    proc = android_build.java("org.junit.runner.JUnitCore", *TEST_CLASSES, props={
        "vitsdk.vectors": str(ROOT / "schemas" / "vectors"), "vitsdk.out": str(out), "vitsdk.npy": str(npy)})
    assert proc.returncode == 0 and "OK (" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-2000:]
    docs = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(docs) == {"battery.json", "monitors.json", "plugged.json", "failed.json"}
    for name, doc in docs.items():
        assert RESULTS.errors(doc) == [], name
    assert docs["battery.json"]["energy"]["method"] == "battery_current_voltage"
    assert docs["battery.json"]["energy"]["battery"] == {"current_unit": "uA", "discharge_sign": -1,
                                                         "voltage_unit": "mV", "plugged": False, "note": None}
    assert docs["plugged.json"]["energy"]["status"] == "unavailable"
    assert docs["monitors.json"]["energy"]["method"] == "android_power_monitor"
    assert docs["failed.json"]["latency"] is None


def test_app_and_python_name_results_files_alike():
    """The driver pulls files by the name rule both sides implement; ResultsWriterTest asserts the same name."""
    from vitsdk.formats.results import results_name

    assert results_name("sub/model_int8.pte", "executorch", "android") == "sub_model_int8-executorch-android.json"
