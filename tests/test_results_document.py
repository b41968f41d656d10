"""`vitsdk.formats.results`: the one results-document builder and file-name rule every Python writer uses.

The apps write the same documents (schemas/vectors/results_examples.json holds one per device); the builder
must produce the same keys in the same order, and file names the app-side pullers expect.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitsdk import __version__
from vitsdk.formats.manifest import Bundle, ModelFile
from vitsdk.formats.results import (RESULTS, model_block, model_entry, parse_results, results_document,
                                    results_name, skipped_numerics, unavailable_energy)

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "vectors" / "results_examples.json"
VALID = [c for c in json.loads(EXAMPLES.read_text())["cases"] if c["valid"]]
BLOCKS = ("device", "runtime", "model", "protocol", "latency", "energy", "thermal", "numerics")


@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_builder_rebuilds_every_valid_example_key_for_key(case):
    """Rebuilt from its blocks, each example comes back equal apart from the time and the tool version, in the
    same key order: a builder that dropped, renamed, added or reordered a top-level key fails here."""
    want = case["document"]
    doc = results_document(run_id=want["run_id"], status=want["status"], error=want["error"],
                           **{k: want[k] for k in BLOCKS})
    assert RESULTS.errors(doc) == []
    assert list(doc) == list(want)
    assert doc["schema"] == RESULTS.tag and doc["tool"] == {"name": "vitsdk", "version": __version__}
    assert {**doc, "created_utc": want["created_utc"], "tool": want["tool"]} == want


@pytest.mark.parametrize("args, name", [
    (("model_fp32.pte", "executorch", "host"), "model_fp32-executorch-host.json"),
    (("sub/model_int8.pte", "executorch", "android"), "sub_model_int8-executorch-android.json"),
    (("model_int8.tflite", "litertjs", "browser", "wasm"), "model_int8-litertjs-wasm-browser.json"),
    (("fpga/project.json", "fpga", "fpga"), "project_json-fpga-fpga.json"),
])
def test_results_names(args, name):
    """The Android app names its files by the same rule (ResultsWriterTest) and the driver pulls them by name;
    FPGA and browser names are what results folders and reports already hold."""
    assert results_name(*args) == name


def test_model_block_comes_from_the_manifest(tmp_path):
    model = ModelFile("m/model_int8.tflite", "tflite", "litert", "int8", None, 1234, "a" * 64, 5000)
    bundle = Bundle(tmp_path, {"model": {"name": "vit_nano_patch4_28"}, "input": {"shape": [1, 1, 28, 28]}},
                    "b" * 64, (model,))
    block = model_block(bundle, model)
    assert block == {"name": "vit_nano_patch4_28", "file": "m/model_int8.tflite", "format": "tflite",
                     "sha256": "a" * 64, "size_bytes": 1234, "precision": "int8", "macs": 5000,
                     "input_shape": [1, 1, 28, 28], "manifest_sha256": "b" * 64}
    assert list(block) == list(VALID[0]["document"]["model"])
    assert model_entry(**block) == block


def test_failed_document_is_valid_and_says_why():
    why = "the app finished without writing these results"
    doc = results_document(run_id="r", status="failed", error=why, latency=None,
                           device={"platform": "android", "name": "Pixel", "os": "android", "os_version": "14"},
                           runtime={"name": "litert", "version": None, "delegate": None, "threads": None},
                           model=VALID[0]["document"]["model"], protocol=VALID[0]["document"]["protocol"],
                           energy=unavailable_energy(why), thermal={"before": {"state": None}, "after": {"state": None}},
                           numerics=skipped_numerics(why))
    assert RESULTS.errors(doc) == []
    assert doc["energy"] == {"status": "unavailable", "method": "none", "reason": why}
    assert doc["numerics"] == {"status": "skipped", "reason": why}


def test_parse_results_names_the_source_and_the_json_path():
    """What a phone sends back is refused with its name: truncated (a cut copy) or off the schema (a newer or
    broken app), never written to the results folder."""
    from vitsdk.errors import UserError

    good = json.dumps(VALID[0]["document"])
    assert parse_results(good.encode(), "x.json") == VALID[0]["document"]
    with pytest.raises(UserError, match=r"^x.json \(pulled\): not valid JSON \(truncated\?\)"):
        parse_results(good[: len(good) // 2].encode(), "x.json (pulled)")
    broken = {**VALID[0]["document"], "latency": {**VALID[0]["document"]["latency"], "median_ms": "fast"}}
    with pytest.raises(UserError, match="/latency/median_ms"):
        parse_results(json.dumps(broken), "x.json")


def test_run_spec_builder_is_schema_checked():
    from vitsdk.bench.protocol import Protocol
    from vitsdk.formats.run_spec import RUN_SPEC, model_run, run_spec_document

    spec = run_spec_document(run_id="r1", bundle="bundles/r1", output_dir="results/r1",
                             models=[model_run("m.pte", "executorch", "xnnpack", 2)], protocol=Protocol.quick().to_dict())
    assert RUN_SPEC.errors(spec) == [] and list(spec) == ["schema", "run_id", "bundle", "output_dir", "models",
                                                          "protocol"]
    with pytest.raises(AssertionError, match="breaks run_spec.schema.json"):
        run_spec_document(run_id="r1", bundle="b", output_dir="o", models=[], protocol=Protocol.quick().to_dict())
