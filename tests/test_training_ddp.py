"""The trainer under torchrun: 2 CPU processes (gloo) with DistributedDataParallel.

The test launches this same file with `torch.distributed.run`; each rank trains vit_nano on 256
Fashion-MNIST images with the example level on, once in forgetting mode and once in soft mode, and
dumps its statistics (and example pool). Example-level bookkeeping must be identical on both ranks
(all-gathered), must count every example presented by either rank, and must see the same
presentations as a single-process run.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from vitsdk.data import load_dataset
from vitsdk.models import create_model
from vitsdk.training import ExampleLevel, TokenLevel, TrainConfig, fit
from vitsdk.training.train_state import TRAIN_STATE_FILE, load_train_state

CONFIG = TrainConfig(epochs=2, batch_size=64, lr=2e-3, seed=5, augment=False, precision="fp32",
                     example=ExampleLevel(keep=0.75, swap=0.1, period_epochs=1), token=TokenLevel(0.7))
# soft: epoch 1 presents everything (no losses yet), epoch 2 skips half the well-learned examples
SOFT = CONFIG.replace(epochs=2, example=ExampleLevel(mode="soft", keep=0.5, anneal=0.0))


def train_once(out_dir: Path, config: TrainConfig = CONFIG) -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = load_dataset("fashion-mnist", "train").subset(256, seed=1)
    return fit(create_model("vit_nano_patch4_28"), data, config, out_dir)


def test_two_process_ddp_matches_single_process_bookkeeping(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               __file__, str(tmp_path / "ddp")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [np.load(tmp_path / "ddp" / f"rank{r}.npz") for r in (0, 1)]
    for key in ranks[0].files:  # all-gathered statistics agree across ranks
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
    steps_per_epoch = 192 // 64
    assert ranks[0]["presentations"].sum() == CONFIG.epochs * steps_per_epoch * 64  # both ranks' examples counted
    single = train_once(tmp_path / "single")
    state = load_train_state(tmp_path / "single" / TRAIN_STATE_FILE)
    np.testing.assert_array_equal(ranks[0]["presentations"], state["stats"]["presentations"].numpy())
    ddp_state = load_train_state(tmp_path / "ddp" / TRAIN_STATE_FILE)  # rank 0 wrote the checkpoint
    assert ddp_state["epoch"] == CONFIG.epochs
    assert ddp_state["history"][-1]["images"] == single.history[-1]["images"]
    # Same global batches and gradients (mean over the two halves) as one process, up to float summation order.
    for key, value in state["model"].items():
        torch.testing.assert_close(ddp_state["model"][key], value, rtol=2e-3, atol=2e-4, msg=key)

    # soft mode: every rank holds every example's latest loss, the same as one process (up to float order),
    # so every rank draws the same epoch-2 subset
    soft = [np.load(tmp_path / "ddp" / "soft" / f"rank{r}.npz") for r in (0, 1)]
    np.testing.assert_array_equal(soft[0]["loss"], soft[1]["loss"])
    single_soft = train_once(tmp_path / "single_soft", SOFT)
    np.testing.assert_allclose(soft[0]["loss"], single_soft.forgetting.loss, rtol=2e-3, atol=2e-4)
    ddp_soft = load_train_state(tmp_path / "ddp" / "soft" / TRAIN_STATE_FILE)["history"]
    assert [h["skipped_examples"] for h in ddp_soft] == [h["skipped_examples"] for h in single_soft.history]
    assert ddp_soft[1]["skipped_examples"] > 0


if __name__ == "__main__":  # one rank, launched by the test through torch.distributed.run
    import torch.distributed as dist

    out = Path(sys.argv[1])
    result = train_once(out)
    stats = result.forgetting
    np.savez(out / f"rank{os.environ['RANK']}.npz", presentations=stats.presentations, forgets=stats.forgets,
             last_correct=stats.last_correct, learned=stats.learned, active=result.pool.active)
    soft = train_once(out / "soft", SOFT)
    np.savez(out / "soft" / f"rank{os.environ['RANK']}.npz", loss=soft.forgetting.loss)
    dist.destroy_process_group()
