"""`vitsdk prune` as a user runs it: the artifact, pruning it again, fine-tuning, and one-line errors."""
from __future__ import annotations

import json
import subprocess

import pytest


@pytest.fixture
def cli_inprocess(capsys):
    """`vitsdk ARGS` in this process (no fresh torch import per call): returns (code, stdout, stderr)."""
    from vitsdk.cli import main

    def run(*args) -> subprocess.CompletedProcess:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)
    return run


def test_prune_writes_an_artifact_that_info_reads(run_cli, cli_inprocess, tmp_path):
    out = tmp_path / "pruned"
    done = cli_inprocess("prune", "vit_nano_patch4_28", "--block", "fullx16", "--ratio", "0.5", "-o", out)
    assert done.returncode == 0, done.stderr
    assert "0.mlp.fc1" in done.stdout and "gather-cols" in done.stdout and "vitsdk export" in done.stdout
    document = json.loads((out / "sparsity.json").read_text())
    assert document["prune"]["block_shape"] == [0, 16] and len(document["layers"]) == 16
    info = cli_inprocess("info", "--model", out, "--json")
    assert info.returncode == 0, info.stderr
    dense = json.loads(cli_inprocess("info", "--model", "vit_nano_patch4_28", "--json").stdout)
    assert json.loads(info.stdout)["macs"] == document["totals"]["macs_compact"] < 0.75 * dense["macs"]

    again = cli_inprocess("prune", out, "--block", "fullx16", "--ratio", "0.75", "-o", tmp_path / "again", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["masked"]["kept_fraction"] == pytest.approx(0.25)
    assert len(json.loads((tmp_path / "again" / "sparsity.json").read_text())["history"]) == 2
    looser = cli_inprocess("prune", out, "--block", "fullx16", "--ratio", "0.25", "-o", tmp_path / "looser")
    assert looser.returncode == 2 and "would un-prune" in looser.stderr and not (tmp_path / "looser").exists()

    blocks = out / "model.safetensors"
    data = bytearray(blocks.read_bytes())
    data[-8] ^= 0xFF  # flip bits in the last tensor's bytes
    blocks.write_bytes(bytes(data))
    broken = run_cli("info", "--model", out)  # a real process: one line on stderr, exit 2
    assert broken.returncode == 2 and "checksum" in broken.stderr and "layer " in broken.stderr


@pytest.mark.parametrize("args,needle", [
    (["--ratio", "1.0"], "ratio must be in [0, 1)"),
    (["--block", "12x16"], "does not tile layer"),
    (["--block", "16"], "is not ROWSxCOLS"),
    (["--layers", "mlp,atn"], "did you mean 'attn'"),
    (["--criterion", "group_lasso"], "give --finetune-epochs"),
    (["--compaction", "gathr"], "did you mean 'gather'"),
    (["--layer-ratio", "fc2"], "PATTERN=RATIO"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli_inprocess, tmp_path, args, needle):
    done = cli_inprocess("prune", "vit_nano_patch4_28", "-o", tmp_path / "out", *args)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: ") and needle in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_prune_and_finetune_resumes(cli_inprocess, tmp_path):
    """Real Fashion-MNIST (a 256-image subset), one epoch; a rerun resumes from the finished checkpoint."""
    out = tmp_path / "ft"
    args = ["prune", "vit_nano_patch4_28", "--block", "8x8", "--ratio", "0.5", "--finetune-epochs", "1",
            "--train-examples", "256", "--eval-examples", "256", "--batch-size", "64", "-o", out, "--json"]
    first = cli_inprocess(*args)
    assert first.returncode == 0, first.stderr
    assert "fine-tuning epoch 1/1" in first.stderr  # the progress bar goes to stderr
    summary = json.loads(first.stdout)["finetune"]
    assert summary["train_examples"] == 256 and 0.0 <= summary["top1_after"] <= 1.0
    assert (out / "finetune" / "finetune" / "train_state.pt").exists()
    document = json.loads((out / "sparsity.json").read_text())
    assert document["finetune"]["top1_after"] == summary["top1_after"]
    second = cli_inprocess(*args)  # the checkpoint is complete: resumes, trains nothing more, same weights
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["finetune"]["top1_after"] == summary["top1_after"]
