"""Example-level sparsity: forgetting-event statistics and the active / held-out partition of the data.

A forgetting event (Toneva et al., ICLR 2019) is a correct -> incorrect transition of one example
between two presentations. Examples never classified correctly count as the maximum. Every period the
least-forgotten active examples (the ones the model has mastered) leave the active set and the same
number come back from the held-out pool, so the active set keeps its size and the partition stays exact.
The state is plain numpy arrays, so it is checkpointed and compared exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitsdk.errors import UserError

NEVER_LEARNED = np.iinfo(np.int32).max  # the score of an example never classified correctly


@dataclass
class ForgettingStats:
    """Per-example presentation history, updated with each presentation's correctness."""

    presentations: np.ndarray  # int32 (N,)
    forgets: np.ndarray  # int32 (N,): correct -> incorrect transitions
    last_correct: np.ndarray  # bool (N,): correctness at the latest presentation
    learned: np.ndarray  # bool (N,): classified correctly at least once
    attn_var: np.ndarray  # float32 (N,): variance of the last-block CLS attention at the latest presentation

    @classmethod
    def empty(cls, n: int) -> "ForgettingStats":
        return cls(np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, bool), np.zeros(n, bool),
                   np.full(n, np.nan, np.float32))

    def __len__(self) -> int:
        return len(self.presentations)

    def update(self, index: np.ndarray, correct: np.ndarray, attn_var: np.ndarray | None = None) -> None:
        """Records one presentation of each example in `index` (each at most once per call)."""
        index = np.asarray(index, np.int64)
        correct = np.asarray(correct, bool)
        if len(np.unique(index)) != len(index):
            raise ValueError("update() takes each example at most once; split repeated presentations")
        seen = self.presentations[index] > 0
        forgot = seen & self.last_correct[index] & ~correct
        self.forgets[index] += forgot.astype(np.int32)
        self.last_correct[index] = correct
        self.learned[index] |= correct
        self.presentations[index] += 1
        if attn_var is not None:
            self.attn_var[index] = attn_var

    def scores(self) -> np.ndarray:
        """Forgetting counts, with never-learned (presented, never correct) examples at the maximum."""
        score = self.forgets.astype(np.int64)
        score[(self.presentations > 0) & ~self.learned] = NEVER_LEARNED
        return score

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(getattr(self, name).copy()) for name in
                ("presentations", "forgets", "last_correct", "learned", "attn_var")}

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
        never removed and restored in the same swap. Returns (removed, restored) indices.
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
        return removed, restored

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"active": torch.from_numpy(self.active.copy())}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "ExamplePool":
        return cls(state["active"].numpy().copy())


def check_partition(pool: ExamplePool, n: int, active_count: int) -> None:
    """Raises if the pool is not an exact partition of `n` examples with `active_count` active."""
    if pool.active.shape != (n,) or int(pool.active.sum()) != active_count:
        raise UserError(f"example pool broken: {int(pool.active.sum())} active of {pool.active.shape}, "
                        f"expected {active_count} of {n}")
