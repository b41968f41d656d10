"""Keep-rate schedules for training (EViT / Tri-Level): 1.0 during warm-up, cosine decay, then constant."""
from __future__ import annotations

import math
from dataclasses import dataclass

from vitsdk.errors import UserError
from vitsdk.models.config import check_fraction


@dataclass(frozen=True)
class KeepRateSchedule:
    """Keep fraction as a function of (fractional) epoch.

    Args:
        target: the final keep fraction, in (0, 1].
        warmup_epochs: epochs at keep 1.0 (reference: 10 of 300).
        decay_epochs: epochs of cosine decay from 1.0 to `target` (reference: 100 of 300); evaluate
            per iteration by passing a fractional epoch.
    """

    target: float
    warmup_epochs: float = 10.0
    decay_epochs: float = 100.0

    def __post_init__(self) -> None:
        check_fraction("target keep rate", self.target)
        if self.warmup_epochs < 0 or self.decay_epochs < 0:
            raise UserError("warmup_epochs and decay_epochs must be >= 0")

    @classmethod
    def scaled(cls, target: float, total_epochs: float) -> "KeepRateSchedule":
        """The reference proportions (10 warm-up + 100 decay of 300 epochs) scaled to `total_epochs`."""
        return cls(target, warmup_epochs=total_epochs * 10 / 300, decay_epochs=total_epochs * 100 / 300)

    def __call__(self, epoch: float) -> float:
        if epoch < self.warmup_epochs:
            return 1.0
        if self.decay_epochs == 0 or epoch >= self.warmup_epochs + self.decay_epochs:
            return self.target
        progress = (epoch - self.warmup_epochs) / self.decay_epochs
        return self.target + (1.0 - self.target) * 0.5 * (1.0 + math.cos(math.pi * progress))
