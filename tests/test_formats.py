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
