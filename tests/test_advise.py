"""`vitsdk prune --advise RUNTIME`: every compaction exported and timed in the real runtime here, the fastest
recorded in sparsity.json and built by the loader; a runtime that is unknown or not installed is a usage error."""
from __future__ import annotations

import json
import sys

import pytest

from test_prune_cli import cli_inprocess  # noqa: F401  (the in-process CLI fixture)


@pytest.mark.slow
def test_advise_records_the_measured_choice(cli_inprocess, tmp_path):  # noqa: F811
    from vitsdk.sparsity import load_pruned
    from vitsdk.sparsity.state import compaction_of

    out = tmp_path / "pruned"
    done = cli_inprocess("prune", "vit_nano_patch4_28", "--block", "fullx16", "--ratio", "0.5", "-o", out,
                         "--advise", "litert", "--advise-rounds", "3")
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "sparsity.json").read_text())
    advice = document["advice"]
    timed = advice["median_ms"]
    assert advice["runtime"] == "litert" and set(timed) | set(advice["same_as"]) == {"auto", "mask", "remove", "gather"}
    assert advice["chosen"] == min(timed, key=timed.get) and all(v > 0 for v in timed.values())
    assert document["totals"]["compaction"] == advice["chosen"]
    assert compaction_of(load_pruned(out)) == advice["chosen"]  # what export builds
    assert f"'{advice['chosen']}' recorded" in done.stdout


@pytest.mark.parametrize("runtime,needle", [("tflite", "unknown runtime 'tflite'"), ("litert", "runtime 'litert' is not installed")])
def test_advise_bad_runtime_is_exit_2_and_writes_nothing(cli_inprocess, tmp_path, monkeypatch, runtime, needle):  # noqa: F811
    if runtime == "litert":  # a machine without ai-edge-litert: its import fails
        monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    done = cli_inprocess("prune", "vit_nano_patch4_28", "-o", tmp_path / "out", "--advise", runtime)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: ") and needle in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()
