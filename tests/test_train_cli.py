"""`vitsdk train` end to end on a Fashion-MNIST subset with vit_nano, and its bad-input errors."""
from __future__ import annotations

import json

import pytest

from vitsdk.cli import main
from vitsdk.data import load_dataset
from vitsdk.resolve import resolve_model
from vitsdk.training import evaluate

BASE = ["train", "--model", "vit_nano_patch4_28", "--data", "fashion-mnist", "--train-size", "256",
        "--eval-size", "128", "--batch-size", "64", "--lr", "2e-3", "--threads", "1"]


def run(argv, capsys):
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_tri_level_writes_a_run_that_prune_and_export_can_read(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = run(BASE + ["--tri-level", "--epochs", "2", "-o", str(run_dir), "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["epochs"] == 2
    assert summary["keep_rate"] == pytest.approx(0.7) and summary["attn_keep"] == pytest.approx(0.3)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(r["active_examples"] == round(256 * 0.8) for r in records)
    # period 2 x 30/300 -> 1 epoch: one swap (after epoch 1, none after the last), 5% of the 205 active examples
    assert [r.get("swapped") for r in records] == [round(205 * 0.05), None]
    model = resolve_model(str(run_dir))
    assert model.config.keep_rate == pytest.approx(0.7)
    # the reported top-1 is the saved model's, at its trained sparsity, on the --eval-size test subset
    test = load_dataset("fashion-mnist", "test").subset(128, 0)
    assert summary["eval_top1"] == records[-1]["eval_top1"] == evaluate(model, test)
    # running the same command again resumes the finished run instead of training from scratch
    code, out, err = run(BASE + ["--tri-level", "--epochs", "2", "-o", str(run_dir), "--json"], capsys)
    assert code == 0 and json.loads(out)["resumed_from_epoch"] == 2
    assert resolve_model(str(run_dir)).config.keep_rate == pytest.approx(0.7)


def test_train_progress_output(tmp_path, capsys):
    code, out, err = run(BASE + ["--keep-rate", "0.7", "--epochs", "1", "-o", str(tmp_path / "run")], capsys)
    assert code == 0, err
    assert "epoch 1:" in out and "img/s" in out and "tokens" in out and "next: vitsdk prune" in out


@pytest.mark.parametrize("flags, message", [
    (["--keep-examples", "0"], "keep_examples must be in (0, 1], got 0.0"),
    (["--keep-rate", "1.5"], "keep_rate must be in (0, 1], got 1.5"),
    (["--attn-keep", "-0.2"], "attn_keep must be in (0, 1], got -0.2"),
    (["--attn-mode", "gathr", "--attn-keep", "0.5"], "did you mean 'gather'"),
    (["--batch-size", "512"], "fewer than one batch of 512"),
    (["--model", "vit_nano_patch4"], "did you mean"),
    (["--example-mode", "sofft"], "example mode 'sofft' is not one of forgetting, soft (did you mean 'soft'?)"),
    (["--example-mode", "soft", "--keep-examples", "1.5"], "keep_examples must be in (0, 1], got 1.5"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, flags, message):
    code, out, err = run(BASE + ["--epochs", "1", "-o", str(tmp_path / "run")] + flags, capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "run").exists()


def test_resume_with_other_settings_is_refused_with_the_difference(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert run(BASE + ["--epochs", "1", "-o", run_dir], capsys)[0] == 0
    code, out, err = run(BASE + ["--epochs", "1", "-o", run_dir, "--keep-rate", "0.5"], capsys)
    assert code == 2 and "cannot resume" in err and "train.token" in err


def test_resume_with_another_example_mode_is_refused_with_the_difference(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run(BASE + ["--epochs", "1", "-o", str(run_dir), "--example-mode", "soft"], capsys)[0] == 0
    before = (run_dir / "train_state.pt").read_bytes()
    code, out, err = run(BASE + ["--epochs", "1", "-o", str(run_dir), "--keep-examples", "0.8"], capsys)
    assert code == 2 and err.startswith("error: cannot resume") and err.count("\n") == 1
    assert "train.example.mode: soft (checkpoint) vs forgetting (now)" in err
    assert (run_dir / "train_state.pt").read_bytes() == before  # nothing lost
