"""Training configs: the recipe (`TrainConfig`) and one dataclass per Tri-Level sparsity level.

Defaults follow the DeiT recipe and the Tri-Level reference, with the epoch-based parts (LR warm-up,
keep-rate warm-up/decay, example remove/put-back period) scaled to the run's number of epochs, so a
10-epoch run keeps the proportions of the reference's 300.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from vitsdk.errors import UserError, check_choice
from vitsdk.saved_config import checked_config_dict
from vitsdk.models import KeepRateSchedule
from vitsdk.models.config import ATTN_MODES, check_fraction

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TIE_BREAKS = ("none", "cls_attn_var")
EXAMPLE_MODES = ("forgetting", "soft")
TRAIN_CONFIG_VERSION = 1
REFERENCE_EPOCHS = 300  # the Tri-Level / DeiT schedule length the defaults are proportions of


@dataclass(frozen=True)
class ExampleLevel:
    """Example-level sparsity, hard (the reference's forgetting events) or soft (InfoBatch).

    Args:
        mode: 'forgetting' (Tri-Level reference: train on a changing subset; every period the
            least-forgotten active examples leave and as many return from a held-out pool) or 'soft'
            (InfoBatch: every epoch skip a random share of the well-learned examples, loss below the
            mean, and scale the kept ones' loss by 1 / keep so the gradient stays unbiased).
        keep: in (0, 1]. forgetting: fraction of the training set active at any time, the rest starts
            in a random held-out pool (reference 0.8, the default). soft: probability that a
            well-learned example is kept in an epoch (InfoBatch prunes 0.5 of them: default 0.5).
        swap: forgetting: fraction of the *active* set removed (least forgotten first) and put back
            from the held-out pool at each swap (reference ~0.05).
        period_epochs: forgetting: epochs between swaps; None scales the reference 30 of 300 to the
            run (at least 1 epoch).
        tie_break: forgetting: 'none' (random among equal scores) or 'cls_attn_var': among equal
            scores, remove first the examples whose last-block CLS attention has the lowest variance
            (a flat, unfocused attention map marks an example the model gains little from).
        anneal: soft: the final fraction of the epochs trained on all the data (InfoBatch: 0.125).
    """

    mode: str = "forgetting"
    keep: float | None = None
    swap: float = 0.05
    period_epochs: int | None = None
    tie_break: str = "none"
    anneal: float = 0.125

    def __post_init__(self) -> None:
        check_choice("example mode", self.mode, EXAMPLE_MODES)
        if self.keep is None:
            object.__setattr__(self, "keep", 0.8 if self.mode == "forgetting" else 0.5)
        check_fraction("keep_examples", self.keep)
        if not 0.0 <= self.swap <= 1.0:
            raise UserError(f"example swap fraction must be in [0, 1], got {self.swap}")
        if self.period_epochs is not None and self.period_epochs < 1:
            raise UserError(f"example period_epochs must be >= 1, got {self.period_epochs}")
        check_choice("tie_break", self.tie_break, TIE_BREAKS)
        if self.mode == "soft" and self.tie_break != "none":
            raise UserError("tie_break applies to example mode 'forgetting' only; drop it for mode 'soft'")
        if not 0.0 <= self.anneal <= 1.0:
            raise UserError(f"example anneal fraction must be in [0, 1], got {self.anneal}")

    def period(self, epochs: int) -> int:
        """Epochs between swaps for a run of `epochs` (reference: 30 of 300)."""
        if self.period_epochs is not None:
            return self.period_epochs
        return max(1, round(epochs * 30 / REFERENCE_EPOCHS))

    def swap_count(self, active: int) -> int:
        """Examples removed (and put back) at each swap: `swap` of the active set."""
        return round(active * self.swap)

    def prunes(self, epoch: int, epochs: int) -> bool:
        """Soft mode: whether 0-indexed `epoch` skips well-learned examples (not in the annealing tail)."""
        return epoch < math.floor(epochs * (1.0 - self.anneal) + 1e-9)


@dataclass(frozen=True)
class TokenLevel:
    """Token-level sparsity: the keep rate at the model's pruning blocks follows a per-iteration schedule.

    Args:
        keep_rate: the target keep fraction, in (0, 1] (EViT/Tri-Level: 0.7).
        warmup_epochs: epochs at keep 1.0; None scales the reference 10 of 300.
        decay_epochs: epochs of cosine decay to the target; None scales the reference 100 of 300.
    """

    keep_rate: float = 0.7
    warmup_epochs: float | None = None
    decay_epochs: float | None = None

    def __post_init__(self) -> None:
        check_fraction("keep_rate", self.keep_rate)

    def schedule(self, epochs: int) -> KeepRateSchedule:
        return _schedule(self.keep_rate, self.warmup_epochs, self.decay_epochs, epochs)


@dataclass(frozen=True)
class AttentionLevel:
    """Attention-level sparsity: top-k keys per query row after each pruning block, same schedule shape.

    Args:
        keep: the target fraction of keys kept per row, in (0, 1] (reference: 0.3).
        mode: 'mask' (dense masked softmax, what the reference does: no compute saved) or 'gather'
            (computes only the kept keys: fewer MACs, but a gather per block).
        warmup_epochs / decay_epochs: as in `TokenLevel`.
    """

    keep: float = 0.3
    mode: str = "mask"
    warmup_epochs: float | None = None
    decay_epochs: float | None = None

    def __post_init__(self) -> None:
        check_fraction("attn_keep", self.keep)
        check_choice("attention mode", self.mode, ATTN_MODES)

    def schedule(self, epochs: int) -> KeepRateSchedule:
        return _schedule(self.keep, self.warmup_epochs, self.decay_epochs, epochs)


def _schedule(target: float, warmup: float | None, decay: float | None, epochs: int) -> KeepRateSchedule:
    scaled = KeepRateSchedule.scaled(target, epochs)
    return KeepRateSchedule(target, scaled.warmup_epochs if warmup is None else warmup,
                            scaled.decay_epochs if decay is None else decay)


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (DeiT defaults) plus the optional Tri-Level sparsity levels.

    Args:
        epochs: passes over the (active) training set.
        batch_size: images per optimizer step, across all ranks.
        lr: peak learning rate; None means the DeiT rule 5e-4 * batch_size / 512.
        min_lr: learning rate at the end of the cosine decay.
        weight_decay: AdamW decoupled weight decay (not applied to norms, biases, tokens, pos_embed).
        warmup_epochs: linear LR warm-up; None scales the reference 5 of 300 epochs.
        label_smoothing: cross-entropy label smoothing.
        grad_clip: max global gradient norm; None disables clipping.
        ema_decay: keep an exponential moving average of the weights (evaluated and saved instead of
            the raw weights); None disables it.
        precision: 'auto' (bf16 autocast where the hardware has bf16 matmul: CUDA GPUs that support it,
            CPUs with AMX or AVX512-BF16; fp32 elsewhere), 'fp32', 'bf16' or 'fp16' (CUDA only).
        augment: random horizontal flip and +-2 px random shift, done on the whole batch tensor.
        seed: seeds the model init (when fit builds nothing, the caller seeds), sampling and augmentation.
        eval_batch_size: batch size of the evaluation pass.
        example / token / attention: the Tri-Level sparsity levels; None switches a level off.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float | None = None
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    warmup_epochs: float | None = None
    label_smoothing: float = 0.1
    grad_clip: float | None = 1.0
    ema_decay: float | None = None
    precision: str = "auto"
    augment: bool = True
    seed: int = 0
    eval_batch_size: int = 512
    example: ExampleLevel | None = None
    token: TokenLevel | None = None
    attention: AttentionLevel | None = None
    version: int = field(default=TRAIN_CONFIG_VERSION)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise UserError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise UserError("batch sizes must be >= 1")
        if self.lr is not None and not self.lr > 0:
            raise UserError(f"lr must be > 0, got {self.lr}")
        if self.min_lr < 0 or self.weight_decay < 0:
            raise UserError("min_lr and weight_decay must be >= 0")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UserError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise UserError(f"grad_clip must be > 0 (or None to disable), got {self.grad_clip}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise UserError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.warmup_epochs is not None and self.warmup_epochs < 0:
            raise UserError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        check_choice("precision", self.precision, PRECISIONS)

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else 5e-4 * self.batch_size / 512

    @property
    def lr_warmup_epochs(self) -> float:
        return self.warmup_epochs if self.warmup_epochs is not None else self.epochs * 5 / REFERENCE_EPOCHS

    def lr_at(self, epoch: float) -> float:
        """Linear warm-up to `peak_lr`, then cosine decay to `min_lr` at the last epoch."""
        warm = self.lr_warmup_epochs
        if epoch < warm:
            return self.peak_lr * epoch / warm
        progress = min(1.0, (epoch - warm) / max(1e-9, self.epochs - warm))
        return self.min_lr + (self.peak_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def replace(self, **overrides: Any) -> "TrainConfig":
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        data = checked_config_dict(cls, data, "train config", TRAIN_CONFIG_VERSION)
        for key, level in (("example", ExampleLevel), ("token", TokenLevel), ("attention", AttentionLevel)):
            if data.get(key) is not None:
                data[key] = level(**checked_config_dict(level, data[key], f"train config '{key}'", TRAIN_CONFIG_VERSION))
        return cls(**data)

    @classmethod
    def tri_level(cls, **overrides: Any) -> "TrainConfig":
        """All three levels at the reference settings (keep 80% of examples, keep rate 0.7, attn keep 0.3)."""
        defaults = {"example": ExampleLevel(), "token": TokenLevel(), "attention": AttentionLevel()}
        defaults.update(overrides)
        return cls(**defaults)
