"""The CLI as a user runs it: help, info, --json, and one-line errors with exit code 2."""
from __future__ import annotations

import json

import pytest


def test_help_lists_every_verb(run_cli):
    out = run_cli("--help")
    assert out.returncode == 0
    for verb in ("info", "train", "prune", "export", "bench", "report"):
        assert verb in out.stdout


def test_info_json_accounting(run_cli):
    out = run_cli("info", "--model", "deit_small_patch16_224", "--keep-rate", "0.7", "--fuse-token", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["gmacs"] == pytest.approx(3.03, abs=0.01)
    assert data["tokens_per_block"][3] == 140 and data["weight_bytes"]["fp32"] == 4 * data["params"]


def test_info_list_and_environment(run_cli):
    names = [m["name"] for m in json.loads(run_cli("info", "--list", "--json").stdout)]
    assert "deit_tiny_patch16_224" in names and "vit_micro_patch4_28" in names
    env = json.loads(run_cli("info", "--json").stdout)
    assert env["packages"]["torch"].startswith("2.13.0")


@pytest.mark.parametrize("args,needle", [
    (["info", "--model", "deit_smal"], "did you mean 'deit_small_patch16_224'"),
    (["info", "--model", "vit_nano_patch4_28", "--keep-rate", "0"], "keep_rate must be in (0, 1]"),
    (["info", "--bogus"], "No such option"),
    (["info", "--model", "missing.pth"], "does not exist"),
    (["info", "--model", "vit_nano_patch4_28", "--img-size", "30"], "not a multiple of patch_size"),
])
def test_usage_errors_are_one_line_exit_2(run_cli, args, needle):
    out = run_cli(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and needle in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
