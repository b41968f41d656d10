"""Example-level sparsity: which training examples an epoch presents, in two modes.

`forgetting` (the Tri-Level reference, hard): a forgetting event (Toneva et al., ICLR 2019) is a
correct -> incorrect transition of one example between two presentations. Every period the
least-forgotten active examples leave the active set and the same number come back from the held-out
pool, so the active set keeps its size and the partition stays exact. Raw cumulative counts favour
removing the examples just put back: they had one period to be forgotten, against the whole run for
the others, and they carry the low counts that got them removed before (in a simulation with
per-example Bernoulli correctness, 94% of each swap's removals were the previous swap's put-backs,
where a uniform choice gives 5%). So a swap compares every active example on the same evidence: its
forgetting *rate* over the transitions since the previous swap (a put-back's first presentation is
not a transition from its presentation before it left), shrunk towards the population's rate by
`PRIOR_TRANSITIONS` pseudo-transitions (the posterior mean under a Beta prior). Little evidence scores
near the average, never the minimum; an example never presented scores exactly the average.

`soft` (InfoBatch, Qin et al., ICLR 2024): every epoch, each well-learned example (its loss at its
latest presentation below the mean) is skipped with probability 1 - keep, and the kept ones' losses
are scaled by 1 / keep, so each example's expected contribution to the epoch's gradient is unchanged.

The state is plain numpy arrays, so it is checkpointed and compared exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vitsdk.errors import UserError
from vitsdk.training import distributed
from vitsdk.training.config import TrainConfig

PRIOR_TRANSITIONS = 8.0  # pseudo-transitions at the population's forgetting rate (see the module docstring)


@dataclass
class ForgettingStats:
    """Per-example presentation history, updated with each presentation's correctness."""

    presentations: np.ndarray  # int32 (N,)
    forgets: np.ndarray  # int32 (N,): correct -> incorrect transitions
    last_correct: np.ndarray  # bool (N,): correctness at the latest presentation
    learned: np.ndarray  # bool (N,): classified correctly at least once
    attn_var: np.ndarray  # float32 (N,): variance of the last-block CLS attention at the latest presentation
    window_transitions: np.ndarray  # int32 (N,): transitions since the last swap (the scored window)
    window_forgets: np.ndarray  # int32 (N,): forgetting events since the last swap
    returned: np.ndarray  # bool (N,): put back and not presented since (the next presentation is no transition)

    @classmethod
    def empty(cls, n: int) -> "ForgettingStats":
        return cls(np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, bool), np.zeros(n, bool),
                   np.full(n, np.nan, np.float32), np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, bool))

    def __len__(self) -> int:
        return len(self.presentations)

    def update(self, index: np.ndarray, correct: np.ndarray, attn_var: np.ndarray | None = None) -> None:
        """Records one presentation of each example in `index` (each at most once per call)."""
        index = np.asarray(index, np.int64)
        correct = np.asarray(correct, bool)
        if len(np.unique(index)) != len(index):
            raise ValueError("update() takes each example at most once; split repeated presentations")
        transition = (self.presentations[index] > 0) & ~self.returned[index]
        forgot = transition & self.last_correct[index] & ~correct
        self.forgets[index] += forgot.astype(np.int32)
        self.window_forgets[index] += forgot.astype(np.int32)
        self.window_transitions[index] += transition.astype(np.int32)
        self.returned[index] = False
        self.last_correct[index] = correct
        self.learned[index] |= correct
        self.presentations[index] += 1
        if attn_var is not None:
            self.attn_var[index] = attn_var

    def scores(self) -> np.ndarray:
        """Forgetting rate per transition since the last swap, shrunk to the population's rate; never-learned
        examples (presented, never correct) are inf.

        rate_i = (forgets_i + P * m) / (transitions_i + P) over the window, m = all the window's forgets /
        all its transitions, P = `PRIOR_TRANSITIONS`. An example without transitions scores m.
        """
        total = float(self.window_transitions.sum())
        mean = float(self.window_forgets.sum()) / total if total > 0 else 0.0
        score = (self.window_forgets + PRIOR_TRANSITIONS * mean) / (self.window_transitions + PRIOR_TRANSITIONS)
        score[(self.presentations > 0) & ~self.learned] = np.inf
        return score

    def new_window(self, returned: np.ndarray) -> None:
        """Starts the next scoring window; `returned` (just put back) restart their transition chain."""
        self.window_transitions[:] = 0
        self.window_forgets[:] = 0
        self.returned[returned] = True

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(getattr(self, name).copy()) for name in
                ("presentations", "forgets", "last_correct", "learned", "attn_var", "window_transitions",
                 "window_forgets", "returned")}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "ForgettingStats":
        return cls(**{name: tensor.numpy().copy() for name, tensor in state.items()})


@dataclass
class ExamplePool:
    """Which examples are active (trained on) and which are held out; always an exact partition."""

    active: np.ndarray  # bool (N,)

    @classmethod
    def start(cls, n: int, keep: float, rng: np.random.Generator) -> "ExamplePool":
        """A random `keep` fraction active, the rest held out (reference: 80% / 20%)."""
        count = max(1, round(n * keep))
        active = np.zeros(n, bool)
        active[rng.permutation(n)[:count]] = True
        return cls(active)

    @property
    def active_index(self) -> np.ndarray:
        return np.flatnonzero(self.active)

    @property
    def held_out_index(self) -> np.ndarray:
        return np.flatnonzero(~self.active)

    def swap(self, stats: ForgettingStats, count: int, rng: np.random.Generator,
             tie_break: str = "none") -> tuple[np.ndarray, np.ndarray]:
        """Removes the `count` least-forgotten active examples and puts back `count` random held-out ones.

        The examples put back are drawn from the pool as it was before this removal, so an example is
        never removed and restored in the same swap; `stats` starts its next window. Returns (removed,
        restored) indices.
        """
        active, held = self.active_index, self.held_out_index
        count = int(min(count, len(held), len(active)))
        if count <= 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        score = stats.scores()[active]
        if tie_break == "cls_attn_var":
            secondary = np.nan_to_num(stats.attn_var[active], nan=np.inf)
        else:
            secondary = rng.random(len(active))
        order = np.lexsort((secondary, score))  # by score, then by the tie-break key, ascending
        removed = np.sort(active[order[:count]])
        restored = np.sort(rng.choice(held, size=count, replace=False))
        self.active[removed] = False
        self.active[restored] = True
        stats.new_window(restored)
        return removed, restored

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"active": torch.from_numpy(self.active.copy())}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "ExamplePool":
        return cls(state["active"].numpy().copy())


@dataclass
class LossScores:
    """Soft mode: each example's training loss at its latest presentation (NaN: never presented)."""

    loss: np.ndarray  # float32 (N,)

    @classmethod
    def empty(cls, n: int) -> "LossScores":
        return cls(np.full(n, np.nan, np.float32))

    def __len__(self) -> int:
        return len(self.loss)

    def update(self, index: np.ndarray, loss: np.ndarray) -> None:
        self.loss[np.asarray(index, np.int64)] = np.asarray(loss, np.float32)

    def select(self, keep: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's (presented indices, loss weight of every example (N,)).

        Well-learned examples (loss below the mean of the presented-so-far ones) are kept with
        probability `keep` and weighted 1 / keep; the rest (and the never-presented) are always kept,
        weighted 1. So E[kept_i * weight_i] = 1 for every example: the epoch's expected gradient is
        the full data's.
        """
        seen = ~np.isnan(self.loss)
        well = np.zeros(len(self.loss), bool)
        if seen.any():
            well[seen] = self.loss[seen] < self.loss[seen].mean()
        kept = ~well | (rng.random(len(self.loss)) < keep)
        weight = np.where(well, 1.0 / keep, 1.0).astype(np.float32)
        return np.flatnonzero(kept), weight

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"loss": torch.from_numpy(self.loss.copy())}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "LossScores":
        return cls(state["loss"].numpy().copy())


def check_partition(pool: ExamplePool, n: int, active_count: int) -> None:
    """Raises if the pool is not an exact partition of `n` examples with `active_count` active."""
    if pool.active.shape != (n,) or int(pool.active.sum()) != active_count:
        raise UserError(f"example pool broken: {int(pool.active.sum())} active of {pool.active.shape}, "
                        f"expected {active_count} of {n}")


def weighted_loss(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None,
                  label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch loss, per-example loss): the mean of the per-example cross-entropies times `weight`.

    The per-example losses (unweighted) are the soft mode's statistics; `weight` None means all 1.
    """
    per_example = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing, reduction="none")
    weighted = per_example if weight is None else per_example * weight
    return weighted.mean(), per_example


@dataclass
class SeenExamples:
    """What one rank's epoch presented: per step the example indices, correctness, CLS-attention variance, loss."""

    active: int  # examples the epoch drew from
    index: list[torch.Tensor] = field(default_factory=list)
    correct: list[torch.Tensor] = field(default_factory=list)
    attn_var: list[torch.Tensor] = field(default_factory=list)
    loss: list[torch.Tensor] = field(default_factory=list)


@dataclass
class ExampleState:
    """Example-level state: the mode, per-example statistics and (hard mode) the active / held-out pool."""

    count: int
    soft: bool
    hard: bool
    active_count: int  # examples trained on per epoch in hard mode (all of them otherwise)
    stats: ForgettingStats | LossScores | None
    pool: ExamplePool | None

    @classmethod
    def start(cls, n: int, config: TrainConfig, world: int) -> "ExampleState":
        soft = config.example is not None and config.example.mode == "soft"
        hard = config.example is not None and not soft
        active_count = max(1, round(n * config.example.keep)) if hard else n
        if config.batch_size % world:
            raise UserError(f"batch size {config.batch_size} is not divisible by the {world} processes")
        if active_count < config.batch_size:
            what = f"{active_count} active examples ({n} x keep {config.example.keep})" if hard else \
                f"{n} examples"
            raise UserError(f"the training set has {what}, fewer than one batch of {config.batch_size}; "
                            f"use a smaller --batch-size or more data")
        stats = (LossScores if soft else ForgettingStats).empty(n) if config.example else None
        pool = ExamplePool.start(n, config.example.keep, np.random.default_rng([config.seed, 7919])) if hard else None
        return cls(n, soft, hard, active_count, stats, pool)

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.state_dict() if self.stats is not None else None,
                "pool": self.pool.state_dict() if self.pool is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.stats is not None:
            self.stats = type(self.stats).from_state_dict(state["stats"])
        if self.pool is not None:
            self.pool = ExamplePool.from_state_dict(state["pool"])

    def for_epoch(self, epoch: int, config: TrainConfig) -> tuple[np.ndarray, torch.Tensor | None]:
        """The examples an epoch draws from and, in soft mode, their loss weights (None: unweighted)."""
        active = self.pool.active_index if self.pool is not None else np.arange(self.count)
        if self.soft and config.example.prunes(epoch, config.epochs):
            kept, weights = self.stats.select(config.example.keep,
                                              np.random.default_rng([config.seed, epoch, 15485863]))
            if len(kept) >= config.batch_size:
                return kept, torch.from_numpy(weights)
        return active, None

    def update(self, epoch: int, seen: SeenExamples, record: dict[str, Any], config: TrainConfig,
               ctx: distributed.Dist) -> None:
        """The example-pool update after an epoch, from every rank's (index, loss) or (index, correct) pairs;
        in hard mode, every `period` epochs, the most-learned active examples swap with held-out ones."""
        if self.stats is None:
            return
        all_index = distributed.all_gather_cat(ctx, torch.cat(seen.index)).numpy()
        if self.soft:
            self.stats.update(all_index, distributed.all_gather_cat(ctx, torch.cat(seen.loss)).numpy())
            record["skipped_examples"] = self.count - seen.active
            return
        all_correct = distributed.all_gather_cat(ctx, torch.cat(seen.correct)).numpy()
        all_var = distributed.all_gather_cat(ctx, torch.cat(seen.attn_var)).numpy() if seen.attn_var else None
        self.stats.update(all_index, all_correct, all_var)
        record["forgetting_events"] = int(self.stats.forgets.sum())
        record["never_learned"] = int(((self.stats.presentations > 0) & ~self.stats.learned).sum())
        if (epoch + 1) % config.example.period(config.epochs) == 0 and epoch + 1 < config.epochs:
            swap_rng = np.random.default_rng([config.seed, epoch, 104729])
            removed, _ = self.pool.swap(self.stats, config.example.swap_count(self.active_count), swap_rng,
                                        config.example.tie_break)
            check_partition(self.pool, self.count, self.active_count)
            record["swapped"] = len(removed)
