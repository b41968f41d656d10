"""Trainer tests on real Fashion-MNIST with the 4-block vit_nano model (small subsets, a few seconds each)."""
from __future__ import annotations

import errno
import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vitsdk.data import load_dataset
from vitsdk.errors import UserError
from vitsdk.models import create_model
from vitsdk.resolve import resolve_model
from vitsdk.training import (AttentionLevel, ExampleLevel, ExamplePool, ForgettingStats, LossScores, TokenLevel,
                             TrainConfig, TrainingDiverged, evaluate, fit)
from vitsdk.training.train_state import TRAIN_STATE_FILE, load_train_state
from vitsdk.training.examples import PRIOR_TRANSITIONS, weighted_loss


@pytest.fixture(scope="module")
def tiny_train():
    return load_dataset("fashion-mnist", "train").subset(256, seed=1)


@pytest.fixture(scope="module")
def tiny_test():
    return load_dataset("fashion-mnist", "test").subset(128, seed=1)


def nano(seed: int = 0):
    torch.manual_seed(seed)
    return create_model("vit_nano_patch4_28")


def tiny_config(**overrides) -> TrainConfig:
    base = dict(epochs=2, batch_size=64, lr=2e-3, seed=3,
                example=ExampleLevel(keep=0.75, swap=0.1, period_epochs=1, tie_break="cls_attn_var"),
                token=TokenLevel(0.7, warmup_epochs=0.25, decay_epochs=1.0),
                attention=AttentionLevel(0.5, warmup_epochs=0.25, decay_epochs=1.0))
    base.update(overrides)
    return TrainConfig(**base)


# --- example level -------------------------------------------------------------------------------------------

def test_forgetting_events_on_a_hand_made_sequence():
    stats = ForgettingStats.empty(5)
    sequence = [  # correctness of examples 0..3 at each presentation (example 4 is never presented)
        [True, False, True, False],
        [False, False, True, True],
        [True, False, True, False],
        [False, False, True, True],
    ]
    for row in sequence:
        stats.update(np.arange(4), np.array(row))
    assert stats.forgets.tolist() == [2, 0, 0, 1, 0]  # ex0 C I C I, ex3 I C I C
    assert stats.presentations.tolist() == [4, 4, 4, 4, 0]
    scores = stats.scores()
    mean, prior = 3 / 12, PRIOR_TRANSITIONS  # 3 forgetting events in 4 x 3 transitions
    assert scores[1] == np.inf  # never classified correctly counts as the maximum
    assert scores[[0, 2, 3]] == pytest.approx([(f + prior * mean) / (3 + prior) for f in (2, 0, 1)])
    assert scores[4] == pytest.approx(mean)  # never presented: the average, not "least forgotten"
    assert scores[4] > scores[2]


def test_forgetting_update_rejects_repeated_examples():
    with pytest.raises(ValueError):
        ForgettingStats.empty(3).update(np.array([1, 1]), np.array([True, False]))


def test_swap_keeps_the_partition_exact_and_removes_the_least_forgotten():
    rng = np.random.default_rng(0)
    n = 1000
    pool = ExamplePool.start(n, 0.8, rng)
    assert pool.active.sum() == 800
    stats = ForgettingStats.empty(n)
    for _ in range(6):
        stats.update(pool.active_index, rng.random(800) < 0.6)
        before = pool.active.copy()
        scores = stats.scores()
        removed, restored = pool.swap(stats, 50, rng)
        assert len(removed) == len(restored) == 50
        assert before[removed].all() and not before[restored].any()  # removed were active, restored held out
        assert not set(removed) & set(restored)
        assert pool.active.sum() == 800 and (pool.active ^ ~pool.active).all()
        assert set(pool.active_index) | set(pool.held_out_index) == set(range(n))
        kept_scores = scores[before & pool.active]
        assert scores[removed].max() <= kept_scores.min()  # least forgotten leave first


def test_swaps_do_not_preferentially_remove_the_examples_just_put_back():
    """The issue's simulation, exchangeable examples (each correct with p=0.8 at every presentation, so no
    example is truly easier than another): raw forgetting counts made ~40-90% of each swap's removals the
    previous swap's put-backs (fewer presentations, stale low counts); a uniform choice gives 5%."""
    rng = np.random.default_rng(0)
    n, period, level = 3000, 5, ExampleLevel()
    pool = ExamplePool.start(n, level.keep, rng)
    stats = ForgettingStats.empty(n)
    count = level.swap_count(int(pool.active.sum()))
    assert count == round(0.05 * 2400)  # 5% of the active set, not of the whole set
    put_back, shares = np.empty(0, np.int64), []
    for _ in range(6):
        for _ in range(period):
            index = pool.active_index
            stats.update(index, rng.random(len(index)) < 0.8)
        removed, put_back_now = pool.swap(stats, count, rng)
        if len(put_back):
            shares.append(np.isin(removed, put_back).mean())
        put_back = put_back_now
    assert max(shares) <= 1.5 * count / 2400, shares


def test_soft_mode_expected_gradient_equals_the_full_data_gradient(monkeypatch):
    """Constructed case: 12 examples through a linear classifier, the well-learned ones (loss below the mean)
    each kept with probability 0.5. Averaging the epoch gradient over every equally likely keep/skip
    combination gives the exact expectation: it must equal the full data's gradient. Without the 1 / keep
    rescaling it falls short by half the well-learned examples' gradient."""
    torch.manual_seed(0)
    x, y = torch.randn(12, 5), torch.arange(12) % 3
    model = torch.nn.Linear(5, 3)
    scores = LossScores.empty(12)
    with torch.no_grad():
        scores.update(np.arange(12), F.cross_entropy(model(x), y, reduction="none").numpy())
    well = np.flatnonzero(scores.loss < scores.loss.mean())
    assert 2 <= len(well) <= 10

    def epoch_gradient(index, weight):
        model.zero_grad()
        loss, _ = weighted_loss(model(x[index]), y[index], weight, label_smoothing=0.1)
        (loss * len(index)).backward()  # the sum over the epoch's batches of (batch mean x batch size)
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    class Draw:  # the uniform draws of one combination: 0.25 keeps a well-learned example, 0.75 skips it
        def __init__(self, kept):
            self.kept = kept

        def random(self, n):
            return np.where(np.isin(np.arange(n), self.kept), 0.25, 0.75)

    combinations = [well[[bool(bits >> j & 1) for j in range(len(well))]] for bits in range(2 ** len(well))]
    total = torch.zeros_like(epoch_gradient(torch.arange(12), None))
    for kept in combinations:
        index, weight = scores.select(0.5, Draw(kept))
        assert len(index) == 12 - len(well) + len(kept)
        total += epoch_gradient(torch.from_numpy(index), torch.from_numpy(weight[index]))
    torch.testing.assert_close(total / len(combinations), epoch_gradient(torch.arange(12), None), rtol=1e-5, atol=1e-6)


def test_training_attention_path_equals_the_plain_ops_path():
    """Training runs attention through the fused SDPA kernel (mask included), eval through plain matmuls
    (what export traces): same outputs and gradients with token and attention sparsity on."""
    torch.manual_seed(0)
    model = create_model("vit_micro_patch4_28", keep_rate=0.7, attn_keep=0.3)
    x = torch.randn(4, 1, 28, 28)
    outputs, grads = [], []
    for train in (True, False):
        model.train(train)
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        outputs.append(out)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-5)


def test_cls_attention_variance_breaks_ties():
    stats = ForgettingStats.empty(6)
    stats.update(np.arange(6), np.ones(6, bool), attn_var=np.array([0.5, 0.1, 0.3, 0.2, 0.9, 0.05], np.float32))
    pool = ExamplePool(np.array([True, True, True, True, True, False]))
    removed, restored = pool.swap(stats, 1, np.random.default_rng(0), tie_break="cls_attn_var")
    assert removed.tolist() == [1] and restored.tolist() == [5]  # equal counts: lowest variance leaves


# --- schedules -----------------------------------------------------------------------------------------------

def test_schedules_at_given_steps():
    token = TokenLevel(0.7).schedule(epochs=30)  # the reference 10 + 100 of 300, scaled: 1 + 10 of 30
    assert token(0.0) == 1.0 and token(0.99) == 1.0
    assert token(6.0) == pytest.approx(0.85)  # half-way through the cosine
    assert token(11.0) == pytest.approx(0.7) and token(29.9) == pytest.approx(0.7)
    attn = AttentionLevel(0.3, warmup_epochs=2, decay_epochs=4).schedule(epochs=10)
    assert attn(1.0) == 1.0 and attn(4.0) == pytest.approx(0.65) and attn(6.0) == pytest.approx(0.3)
    cfg = TrainConfig(epochs=60, lr=1e-3, min_lr=1e-5)  # LR warm-up: 5 of 300 -> 1 of 60
    assert cfg.lr_at(0.0) == 0.0 and cfg.lr_at(0.5) == pytest.approx(5e-4)
    assert cfg.lr_at(1.0) == pytest.approx(1e-3)
    assert cfg.lr_at(30.5) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)
    assert cfg.lr_at(60.0) == pytest.approx(1e-5)
    assert TrainConfig(batch_size=256).peak_lr == pytest.approx(2.5e-4)  # DeiT: 5e-4 x batch / 512
    assert ExampleLevel().period(300) == 30 and ExampleLevel().period(100) == 10 and ExampleLevel().period(4) == 1


# --- the trainer ---------------------------------------------------------------------------------------------

def test_fit_trains_all_three_levels_and_writes_a_loadable_run(tmp_path, tiny_train, tiny_test):
    calls = {"reg": 0, "after": 0}

    def regularizer(model):
        calls["reg"] += 1
        return 1e-4 * model.head.weight.pow(2).sum()

    def after_step(model):
        calls["after"] += 1

    result = fit(nano(), tiny_train, tiny_config(ema_decay=0.9), tmp_path / "run", regularizer, after_step, tiny_test)
    steps = 2 * (192 // 64)
    assert calls == {"reg": steps, "after": steps}
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert all(h["active_examples"] == 192 for h in result.history)
    assert result.history[-1]["keep_rate"] == pytest.approx(0.7) and result.history[-1]["attn_keep"] == 0.5
    assert result.history[-1]["tokens_kept"] < 1.0
    assert result.eval_top1 == result.history[-1]["eval_top1"] == evaluate(result.model, tiny_test)  # the EMA model
    assert [h.get("swapped") for h in result.history] == [round(192 * 0.1), None]  # 10% of the active set, once
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    loaded = resolve_model(str(tmp_path / "run"))  # what prune/export read
    assert loaded.config.keep_rate == pytest.approx(0.7) and loaded.config.attn_keep == 0.5
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_seeded_runs_are_identical(tiny_train):
    a = fit(nano(), tiny_train, tiny_config(epochs=1))
    b = fit(nano(), tiny_train, tiny_config(epochs=1))
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key


@pytest.mark.parametrize("mode", ["forgetting", "soft"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, tiny_train, tiny_test, mode):
    config = tiny_config(epochs=3, ema_decay=0.9)
    if mode == "soft":  # skips well-learned examples in epochs 1-2 (epoch 1 has no losses yet), all data in epoch 3
        config = config.replace(example=ExampleLevel(mode="soft", keep=0.5, anneal=0.3))
    straight = fit(nano(), tiny_train, config, tmp_path / "straight", eval_data=tiny_test)

    class Interrupt(Exception):
        pass

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(nano(), tiny_train, config, tmp_path / "resumed", eval_data=tiny_test, on_epoch=stop_after_first)
    assert load_train_state(tmp_path / "resumed" / TRAIN_STATE_FILE)["epoch"] == 1
    resumed = fit(nano(seed=99), tiny_train, config, tmp_path / "resumed", eval_data=tiny_test)
    assert resumed.start_epoch == 1
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    timing = ("seconds", "cpu_seconds", "img_per_s")
    strip = [[{k: v for k, v in h.items() if k not in timing} for h in r.history] for r in (straight, resumed)]
    assert strip[0] == strip[1]
    a = load_train_state(tmp_path / "straight" / TRAIN_STATE_FILE)
    b = load_train_state(tmp_path / "resumed" / TRAIN_STATE_FILE)
    if mode == "soft":
        assert [h["skipped_examples"] > 0 for h in resumed.history] == [False, True, False]
    for part in ("stats", "pool"):
        assert (a[part] is None) == (b[part] is None) == (mode == "soft" and part == "pool")
        for key, value in (a[part] or {}).items():
            torch.testing.assert_close(value, b[part][key], rtol=0, atol=0, equal_nan=True, msg=f"{part}.{key}")


# --- bad input -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: ExampleLevel(keep=0.0), lambda: ExampleLevel(keep=1.2), lambda: TokenLevel(keep_rate=0.0),
    lambda: TokenLevel(keep_rate=-0.5), lambda: AttentionLevel(keep=1.01), lambda: AttentionLevel(mode="sparse"),
    lambda: TrainConfig(precision="fp8"), lambda: TrainConfig(epochs=0),
])
def test_bad_settings_are_user_errors(make):
    with pytest.raises(UserError):
        make()


def test_dataset_smaller_than_a_batch_is_refused(tiny_train):
    with pytest.raises(UserError, match="fewer than one batch of 512"):
        fit(nano(), tiny_train, TrainConfig(epochs=1, batch_size=512))
    with pytest.raises(UserError, match="active examples"):  # 256 x 0.5 = 128 active < 192
        fit(nano(), tiny_train, TrainConfig(epochs=1, batch_size=192, example=ExampleLevel(keep=0.5)))


def test_resume_from_another_config_or_model_is_refused_with_the_difference(tmp_path, tiny_train):
    run = tmp_path / "run"
    fit(nano(), tiny_train, tiny_config(epochs=1), run)
    with pytest.raises(UserError, match=r"train\.lr: 0\.002 \(checkpoint\) vs 0\.001 \(now\)"):
        fit(nano(), tiny_train, tiny_config(epochs=1, lr=1e-3), run)
    with pytest.raises(UserError, match=r"model\.embed_dim: 32 \(checkpoint\) vs 64 \(now\)"):
        fit(create_model("vit_micro_patch4_28"), tiny_train, tiny_config(epochs=1), run)
    with pytest.raises(UserError, match="already holds a training checkpoint"):
        fit(nano(), tiny_train, tiny_config(epochs=1), run, resume=False)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny_train):
    run = tmp_path / "run"
    steps = {"n": 0}

    def poisoned(model):  # NaN from the 2nd step of epoch 2 on (3 steps per epoch)
        steps["n"] += 1
        return model.head.bias.sum() * (math.nan if steps["n"] >= 5 else 0.0)

    with pytest.raises(TrainingDiverged, match=r"epoch 2 step 2/3 \(global step 5\).*epoch 1\) is kept.*--lr"):
        fit(nano(), tiny_train, tiny_config(epochs=3), run, regularizer=poisoned)
    state = load_train_state(run / TRAIN_STATE_FILE)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (run / "model.safetensors").exists()


def test_full_disk_leaves_no_corrupt_checkpoint(tmp_path, tiny_train, monkeypatch):
    """The 2nd epoch's checkpoint write fails half-way with ENOSPC (simulated: this machine's disk is not
    full); the epoch-1 checkpoint stays byte-identical and no temporary file is left behind."""
    run = tmp_path / "run"
    saved = {}

    def fill_disk_after_first(record):
        saved["bytes"] = (run / TRAIN_STATE_FILE).read_bytes()

        def full_disk(obj, path, *args, **kwargs):
            with open(path, "wb") as f:
                f.write(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(torch, "save", full_disk)

    with pytest.raises(UserError, match="no space left on the device; the previous checkpoint is intact"):
        fit(nano(), tiny_train, tiny_config(epochs=2), run, on_epoch=fill_disk_after_first)
    monkeypatch.undo()
    assert (run / TRAIN_STATE_FILE).read_bytes() == saved["bytes"]
    assert load_train_state(run / TRAIN_STATE_FILE)["epoch"] == 1
    assert sorted(p.name for p in run.iterdir()) == ["metrics.jsonl", TRAIN_STATE_FILE]
