"""`vitsdk prune` as a user runs it: the artifact, pruning it again, fine-tuning, and one-line errors."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


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


def test_prune_and_finetune_recovers_accuracy_and_resumes(cli_inprocess, tmp_path):
    """A vit_nano trained on Fashion-MNIST (tests/fixtures/fpga, ~82% top-1) pruned 75% loses most of its
    accuracy; one epoch of fine-tuning on 1,024 real images wins a large part of it back (measured: 34% ->
    54% on 256 test images). A rerun resumes from the finished checkpoint and trains nothing more."""
    from vitsdk.data import load_dataset
    from vitsdk.models import load_model
    from vitsdk.training import evaluate

    trained = FIXTURES / "fpga" / "vit_nano_fmnist.safetensors"
    dense = evaluate(load_model(trained), load_dataset("fashion-mnist", "test").subset(256, seed=0))
    out = tmp_path / "ft"
    args = ["prune", trained, "--block", "8x8", "--ratio", "0.75", "--finetune-epochs", "1",
            "--train-examples", "1024", "--eval-examples", "256", "--batch-size", "64", "-o", out, "--json"]
    first = cli_inprocess(*args)
    assert first.returncode == 0, first.stderr
    assert "fine-tuning epoch 1/1" in first.stderr  # the progress bar goes to stderr
    summary = json.loads(first.stdout)["finetune"]
    assert summary["train_examples"] == 1024 and summary["eval_examples"] == 256
    assert summary["top1_before"] < dense - 0.25, (dense, summary)       # pruning 75% really hurt
    assert summary["top1_after"] > summary["top1_before"] + 0.10, summary  # and fine-tuning won much back
    assert (out / "finetune" / "finetune" / "train_state.pt").exists()
    document = json.loads((out / "sparsity.json").read_text())
    assert document["finetune"]["top1_after"] == summary["top1_after"]
    second = cli_inprocess(*args)  # the checkpoint is complete: resumes, trains nothing more, same weights
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["finetune"]["top1_after"] == summary["top1_after"]
