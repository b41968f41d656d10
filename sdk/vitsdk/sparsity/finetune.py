"""Fine-tuning after pruning: masks held through every optimizer step, reweighted group lasso, gradual ramp.

The training loop is `vitsdk.training.fit` (progress bars, checkpoints, resume from `out_dir`); this
module only adds what pruning needs through its two hooks: `regularizer(model)` (the group-lasso
penalty) and `after_step(model)` (re-apply masks; on the gradual schedule, prune a little further).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vitsdk.errors import UserError
from vitsdk.sparsity.config import BlockPruneConfig
from vitsdk.sparsity.masks import apply_masks_, prunable_layers, prune_, resolve_block
from vitsdk.training.loop import StepInfo

PhaseProgress = Callable[[str, int, StepInfo], None]  # (phase label, epochs of the phase, the step just done)


@dataclass(frozen=True)
class FinetuneSettings:
    """How to fine-tune a pruned model.

    Args:
        epochs: total fine-tuning epochs (group lasso spends `lasso_fraction` of them before pruning).
        data: dataset spec for `vitsdk.data.load_dataset` (fashion-mnist, an image folder, an .npz).
        train_examples: use a seeded subset of this many training examples (None: all).
        eval_examples: test examples for the before/after top-1 (None: all; 0: skip).
        batch_size: images per step.
        lr: peak learning rate (AdamW, cosine).
        seed: sampling seed.
    """

    epochs: int = 1
    data: str = "fashion-mnist"
    train_examples: int | None = None
    eval_examples: int | None = 2000
    batch_size: int = 128
    lr: float = 5e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise UserError(f"fine-tuning epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1 or not self.lr > 0:
            raise UserError("fine-tuning batch_size must be >= 1 and lr > 0")


class GroupLasso:
    """Reweighted group lasso over the pruning pieces: strength * mean_g (w_g * ||W_g||_2).

    w_g = 1 / (||W_g|| + eps), refreshed every `reweight_every` calls (Candes et al.'s reweighting,
    as in the BLK-REW line of work): pieces that are already small are pushed harder, so the penalty
    acts like a sparsity count rather than shrinking every weight alike.
    """

    def __init__(self, model: nn.Module, config: BlockPruneConfig, reweight_every: int = 50, eps: float = 1e-3) -> None:
        self.layers = prunable_layers(model, config)
        self.blocks = {name: resolve_block(name, (m.out_features, m.in_features), config.block_shape)
                       for name, m in self.layers}
        self.direction, self.strength = config.direction, config.lasso_strength
        self.reweight_every, self.eps = reweight_every, eps
        self.calls = 0
        self.weights: dict[str, torch.Tensor] = {}

    def norms(self, name: str, module: nn.Linear) -> torch.Tensor:
        out, inp = module.weight.shape
        br, bc = self.blocks[name]
        w = module.weight.reshape(out // br, br, inp // bc, bc)
        return (w.pow(2).sum(dim=1 if self.direction == "columns" else 3) + 1e-12).sqrt()

    def __call__(self, model: nn.Module) -> torch.Tensor:
        if self.calls % self.reweight_every == 0:
            with torch.no_grad():
                self.weights = {name: 1.0 / (self.norms(name, m) + self.eps) for name, m in self.layers}
        self.calls += 1
        terms = [(self.weights[name].to(m.weight.device) * self.norms(name, m)).mean() for name, m in self.layers]
        return self.strength * torch.stack(terms).sum()


class GradualPruner:
    """after_step hook: raises the prune fraction on a cubic ramp (Zhu & Gupta) at `prune_steps` points."""

    def __init__(self, config: BlockPruneConfig, total_steps: int, start_step: int = 0) -> None:
        self.config = config
        self.ramp = max(1, int(total_steps * config.gradual_fraction))
        self.points = [max(1, round(self.ramp * k / config.prune_steps)) for k in range(1, config.prune_steps + 1)]
        self.step = start_step
        self.done = sum(1 for p in self.points if p <= start_step)

    def fraction(self, k: int) -> float:
        return 1.0 - (1.0 - k / self.config.prune_steps) ** 3

    def restore(self, model: nn.Module) -> None:
        """Re-derives the masks of a resumed run from its checkpoint weights (pruned pieces are exactly 0)."""
        if self.done:
            prune_(model, self.config, fraction=self.fraction(self.done))

    def __call__(self, model: nn.Module) -> None:
        self.step += 1
        while self.done < len(self.points) and self.points[self.done] <= self.step:
            self.done += 1
            prune_(model, self.config, fraction=self.fraction(self.done))
        apply_masks_(model)


def finetune_pruned(model: nn.Module, config: BlockPruneConfig, settings: FinetuneSettings,
                    out_dir: str | Path | None = None, progress: PhaseProgress | None = None) -> dict:
    """Prunes `model` in place per `config` (criterion, schedule) and fine-tunes it; returns a summary.

    `progress(phase, phase_epochs, step_info)` is called after every optimizer step ('group lasso',
    'gradual pruning' or 'fine-tuning'; `vitsdk prune` draws its progress bar with it).

    Resumable: each phase checkpoints under `out_dir/<phase>` (vitsdk.training.fit) and a rerun with
    the same settings continues where it stopped.
    """
    from vitsdk.data import load_dataset
    from vitsdk.training import evaluate

    train = load_dataset(settings.data, "train").subset(settings.train_examples, seed=settings.seed)
    test = None
    if settings.eval_examples != 0:
        test = load_dataset(settings.data, "test").subset(settings.eval_examples, seed=settings.seed)
    score = (lambda: round(evaluate(model, test), 6)) if test is not None else (lambda: None)
    out_dir = Path(out_dir) if out_dir is not None else None
    summary = {"epochs": settings.epochs, "data": settings.data, "train_examples": len(train),
               "eval_examples": None if test is None else len(test), "top1_before": None, "top1_after": None}
    steps_per_epoch = len(train) // settings.batch_size  # fit drops the last partial batch
    epochs = settings.epochs
    if config.criterion == "group_lasso":
        lasso_epochs = max(1, round(epochs * config.lasso_fraction))
        if lasso_epochs >= epochs:
            raise UserError(f"group lasso needs epochs to regularise and epochs to recover after pruning: give "
                            f"--finetune-epochs >= 2 (lasso_fraction {config.lasso_fraction} of {epochs} leaves none)")
        _fit(model, train, settings, lasso_epochs, _phase(out_dir, "lasso"), "group lasso", progress,
             regularizer=GroupLasso(model, config), after_step=apply_masks_)
        epochs -= lasso_epochs
    if config.schedule == "gradual":
        summary["top1_before"] = score()
        phase = _phase(out_dir, "gradual")
        pruner = GradualPruner(config, epochs * steps_per_epoch, _restore_weights(model, phase) * steps_per_epoch)
        pruner.restore(model)
        _fit(model, train, settings, epochs, phase, "gradual pruning", progress, after_step=pruner)
        prune_(model, config)  # the target exactly, and recorded in the history
    else:
        phase = _phase(out_dir, "finetune")
        if _restore_weights(model, phase):
            prune_(model, config)  # the checkpoint's zeros are the masks: the same pieces are pruned again
        else:
            prune_(model, config)
            summary["top1_before"] = score()
        _fit(model, train, settings, epochs, phase, "fine-tuning", progress, after_step=apply_masks_)
    apply_masks_(model)
    summary["top1_after"] = score()
    return summary


def _restore_weights(model: nn.Module, out_dir: Path | None) -> int:
    """Loads the weights of a checkpoint in `out_dir` (which fit is about to resume) and returns its
    epoch count, 0 when there is none. Masks are derived from these weights, not from whatever the
    model was initialised with, so a resumed run prunes exactly the pieces the first run pruned."""
    from vitsdk.training.train_state import TRAIN_STATE_FILE, load_train_state

    if out_dir is None or not (out_dir / TRAIN_STATE_FILE).exists():
        return 0
    state = load_train_state(out_dir / TRAIN_STATE_FILE)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise UserError(f"cannot resume fine-tuning from '{out_dir}': its checkpoint is of another model; "
                        f"use another output folder") from None
    return int(state["epoch"])


def _phase(out_dir: Path | None, name: str) -> Path | None:
    return None if out_dir is None else out_dir / name


def _fit(model, train, settings: FinetuneSettings, epochs: int, out_dir: Path | None, label: str,
         progress: PhaseProgress | None, regularizer=None, after_step=None) -> None:
    """One `vitsdk.training.fit` phase; `progress(label, epochs, step_info)` after every optimizer step."""
    from vitsdk.training import TrainConfig, fit

    config = TrainConfig(epochs=epochs, batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed,
                         ema_decay=None)
    on_step = None if not progress else (lambda info: progress(label, epochs, info))
    fit(model, train, config, out_dir=out_dir, regularizer=regularizer, after_step=after_step, on_step=on_step)
