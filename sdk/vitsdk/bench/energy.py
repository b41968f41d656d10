"""Energy from power samples or cumulative energy counters, and energy per inference above idle.

Definitions (schemas/README.md, vectors in `schemas/vectors/energy.json`, mirrored by the apps):
- power samples (t_s, power_w): energy is the trapezoid integral; sample statistics are over the samples.
- a cumulative counter (t_s, counter in uJ, wrapping at max_range): energy is the sum of the deltas
  (a negative delta means the counter wrapped: add max_range); the "samples" are the interval powers.
- per inference: energy_mj = (mean active power - mean idle power) * timed duration / runs,
  uncertainty_mj = sqrt(se_active^2 + se_idle^2) * timed duration / runs, se = std(n-1) / sqrt(n)
  (the timed duration is the active window's unless the caller passes the timed runs' own).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vitsdk.bench.stats import sample_std


@dataclass(frozen=True)
class PowerTrace:
    """Energy over a window plus the power samples it came from."""

    energy_j: float
    duration_s: float
    samples_w: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError("a power trace needs a positive duration (at least two samples at different times)")

    @property
    def mean_power_w(self) -> float:
        """Time-weighted average power: energy / duration."""
        return self.energy_j / self.duration_s

    @property
    def standard_error_w(self) -> float:
        n = len(self.samples_w)
        return sample_std(self.samples_w) / math.sqrt(n) if n >= 2 else 0.0

    @classmethod
    def from_power(cls, t_s: Sequence[float], power_w: Sequence[float]) -> "PowerTrace":
        """Instantaneous power samples at times t_s (seconds, increasing)."""
        _check_times(t_s, len(power_w))
        energy = sum((t_s[i + 1] - t_s[i]) * (power_w[i] + power_w[i + 1]) / 2 for i in range(len(t_s) - 1))
        return cls(energy, t_s[-1] - t_s[0], tuple(float(p) for p in power_w))

    @classmethod
    def from_counter(cls, t_s: Sequence[float], counter_uj: Sequence[float],
                     max_range_uj: float | None = None) -> "PowerTrace":
        """A cumulative energy counter in microjoules (RAPL energy_uj, Android power monitors in uW*s)."""
        _check_times(t_s, len(counter_uj))
        deltas = []
        for i in range(len(counter_uj) - 1):
            d = counter_uj[i + 1] - counter_uj[i]
            if d < 0:
                if not max_range_uj:
                    raise ValueError("energy counter went backwards and its wrap range is unknown")
                d += max_range_uj
            deltas.append(d)
        powers = tuple(d * 1e-6 / (t_s[i + 1] - t_s[i]) for i, d in enumerate(deltas))
        return cls(sum(deltas) * 1e-6, t_s[-1] - t_s[0], powers)

    def summary(self) -> dict:
        s = self.samples_w
        return {"count": len(s), "duration_s": self.duration_s, "min_w": min(s), "mean_w": self.mean_power_w,
                "max_w": max(s), "std_w": sample_std(s)}


def _check_times(t_s: Sequence[float], n_values: int) -> None:
    if len(t_s) != n_values:
        raise ValueError(f"{len(t_s)} times but {n_values} values")
    if len(t_s) < 2:
        raise ValueError("need at least two samples to integrate")
    if any(b <= a for a, b in zip(t_s, t_s[1:])):
        raise ValueError("sample times must increase")


@dataclass(frozen=True)
class EnergyPerInference:
    energy_mj: float
    uncertainty_mj: float
    power_w: float
    idle_power_w: float
    net_power_w: float


def per_inference(active: PowerTrace, idle: PowerTrace, runs: int, timed_s: float | None = None) -> EnergyPerInference:
    """Energy per inference above the idle baseline, with one standard error.

    `timed_s` is the duration of the timed runs when the power window does not coincide with it exactly
    (samples fall on a sampling grid); the mean powers are then scaled by the runs' own duration.
    """
    if runs < 1:
        raise ValueError("energy per inference needs at least one run")
    net = active.mean_power_w - idle.mean_power_w
    scale = (active.duration_s if timed_s is None else timed_s) / runs * 1000.0
    err = math.hypot(active.standard_error_w, idle.standard_error_w)
    return EnergyPerInference(energy_mj=net * scale, uncertainty_mj=err * scale, power_w=active.mean_power_w,
                              idle_power_w=idle.mean_power_w, net_power_w=net)
