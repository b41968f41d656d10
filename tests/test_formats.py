"""vitsdk.formats: the one schema loader and version check every on-disk format goes through."""
from __future__ import annotations

import json

import pytest

from vitsdk.errors import UserError
from vitsdk.formats.manifest import MANIFEST
from vitsdk.formats.results import RESULTS
from vitsdk.formats.run_spec import RUN_SPEC
from vitsdk.formats.schema import read_json
from vitsdk.formats.sparsity import SPARSITY
from vitsdk.resources import schema_path


def test_a_newer_version_says_upgrade_and_another_format_names_both():
    newer = RESULTS.tag_problem({"schema": "vitsdk.results/2"})
    assert "vitsdk.results/2" in newer and "upgrade vitsdk" in newer
    older = RESULTS.tag_problem({"schema": "vitsdk.results/0"})
    assert "upgrade" not in older and "vitsdk.results/1" in older
    other = RESULTS.tag_problem({"schema": MANIFEST.tag})
    assert "vitsdk.manifest" in other and "vitsdk.results" in other
    assert "no 'schema' field" in SPARSITY.tag_problem([1, 2])
    assert RUN_SPEC.tag_problem({"schema": RUN_SPEC.tag}) is None


def test_cross_file_refs_resolve_through_the_one_registry():
    """results.schema.json takes its protocol from run_spec.schema.json: a bad protocol is reported there."""
    example = json.loads(schema_path("vectors/results_examples.json").read_text())
    valid = next(case["document"] for case in example["cases"] if case["valid"])
    assert RESULTS.problem(valid) is None
    bad = {**valid, "protocol": {**valid["protocol"], "min_runs": -1}}
    where, message = RESULTS.problem(bad)
    assert where == "/protocol/min_runs"


def test_read_refuses_truncated_and_other_format_files_with_one_line(tmp_path):
    cut = tmp_path / "cut.json"
    cut.write_text('{"schema": "vitsdk.results/1", "run_')
    with pytest.raises(UserError, match="not valid JSON .truncated"):
        RESULTS.read(cut)
    other = tmp_path / "m.json"
    other.write_text(json.dumps({"schema": MANIFEST.tag}))
    with pytest.raises(UserError, match="is a 'vitsdk.manifest' file, expected 'vitsdk.results'"):
        RESULTS.read(other)
    with pytest.raises(UserError, match="cannot read"):
        read_json(tmp_path / "absent.json")


def _bundle_folder(tmp_path, files=(("m.pte", "executorch"), ("m.tflite", "litert"))):
    """A schema-valid bundle folder (tests/fixtures/bench/manifest_helper) with byte-stub model files."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "bench"))
    from manifest_helper import file_entry, manifest, not_executed

    root = tmp_path / "bundle"
    root.mkdir()
    entries = []
    for name, runtime in files:
        (root / name).write_bytes(name.encode() * 10)
        entries.append(file_entry(root, name, runtime, 1000, not_executed("stub")))
    config = {"name": "vit_nano_patch4_28", "img_size": 28, "in_chans": 1, "num_classes": 10, "keep_rate": 1.0,
              "attn_keep": 1.0}
    document = manifest(config, [1, 1, 28, 28], 10, entries, 100, 1000, "stub")
    return root, document


def test_manifest_writer_and_reader_agree_and_the_reader_checks_what_the_schema_cannot(tmp_path):
    """`write_manifest` returns the sha256 of the bytes it wrote and `Bundle.load` reads the same bundle back;
    a path that leaves the bundle through a symlink passes the schema's pattern but not the reader."""
    import hashlib
    import os

    from vitsdk.formats.manifest import MANIFEST_FILE, Bundle, write_manifest

    root, document = _bundle_folder(tmp_path)
    sha = write_manifest(root, document)
    assert sha == hashlib.sha256((root / MANIFEST_FILE).read_bytes()).hexdigest()
    bundle = Bundle.load(root)
    assert bundle.manifest == document and bundle.manifest_sha256 == sha
    assert [(f.path, f.runtime, f.target) for f in bundle.files] == [("m.pte", "executorch", "executorch"),
                                                                      ("m.tflite", "litert", "tflite")]
    assert [e["path"] for e in bundle.entries(target="tflite")] == ["m.tflite"]
    assert [e["path"] for e in bundle.entries(runtime="executorch")] == ["m.pte"]
    assert bundle.file("executorch", "fp32")["path"] == "m.pte"
    with pytest.raises(UserError, match="has no tflite int8 file"):
        bundle.file("tflite", "int8")
    tflite_sha = document["files"][1]["sha256"]
    assert bundle.file_entry("renamed.tflite", tflite_sha)["path"] == "m.tflite"     # by sha256 first
    assert bundle.file_entry("m.pte", "0" * 64)["path"] == "m.pte"                   # then by path
    assert bundle.file_entry("other", "0" * 64) is None

    outside = tmp_path / "outside.pte"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "link.pte")
    document["files"][0]["path"] = "link.pte"
    write_manifest(root, document)
    with pytest.raises(UserError, match="points outside the bundle"):
        Bundle.load(root)


def test_manifest_reader_refuses_newer_versions_and_the_writer_refuses_an_invalid_document(tmp_path):
    from vitsdk.formats.manifest import MANIFEST_FILE, Bundle, write_manifest

    root, document = _bundle_folder(tmp_path)
    (root / MANIFEST_FILE).write_text(json.dumps({**document, "schema": "vitsdk.manifest/2"}))
    with pytest.raises(UserError, match="upgrade vitsdk"):
        Bundle.load(root)
    with pytest.raises(RuntimeError, match="internal error.*/files"):
        write_manifest(root, {**document, "files": "none"})
    assert json.loads((root / MANIFEST_FILE).read_text())["schema"] == "vitsdk.manifest/2"  # nothing written


def test_the_report_reads_manifests_through_the_one_reader_and_skips_a_bad_one_as_a_problem(tmp_path):
    """`vitsdk report --bundle` indexes a good manifest as a `Bundle` (by its sha256 and its files'), and a
    manifest whose file leaves the bundle becomes a Problem naming it: the report goes on without it."""
    import os

    from vitsdk.formats.manifest import Bundle, write_manifest
    from vitsdk.report.load import load

    root, document = _bundle_folder(tmp_path)
    sha = write_manifest(root, document)
    results = tmp_path / "results"
    results.mkdir()
    loaded = load([results], bundles=[root])
    assert loaded.problems == [] and isinstance(loaded.manifests[sha], Bundle)
    assert loaded.by_model_sha[document["files"][0]["sha256"]] is loaded.manifests[sha]

    os.symlink(tmp_path / "results", root / "away.pte")
    document["files"][0]["path"] = "away.pte"
    write_manifest(root, document)
    loaded = load([results], bundles=[root])
    assert loaded.manifests == {} and len(loaded.problems) == 1
    problem = loaded.problems[0]
    assert problem.where == "/files" and "points outside the bundle" in problem.message
    assert problem.message.startswith("manifest ignored")
