"""Latency statistics, defined once (schemas/README.md) and mirrored by the apps.

The definitions are checked against `schemas/vectors/stats.json`, which the Kotlin and Swift ports
are tested against too, so every device reports the same numbers for the same samples.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CV_MAX = 0.10      # a run is stable when its CV is at most this ...
DRIFT_MAX = 0.05   # ... and its last third's median is within this fraction of its first third's


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, R type 7); q in [0, 100]."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def trimmed_mean(sorted_values: Sequence[float], fraction: float = 0.1) -> float:
    """Mean of the middle values: floor(n * fraction) dropped at each end (middle 80% by default)."""
    cut = math.floor(len(sorted_values) * fraction)
    kept = sorted_values[cut:len(sorted_values) - cut]
    return sum(kept) / len(kept)


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for fewer than two values."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def drift(values: Sequence[float]) -> float | None:
    """(median of the last third - median of the first third) / overall median, in run order.

    Positive drift means the device got slower while running (thermal throttling). None below 3 runs.
    """
    n = len(values)
    if n < 3:
        return None
    third = n // 3
    first = sorted(values[:third])
    last = sorted(values[n - third:])
    overall = percentile(sorted(values), 50)
    if overall == 0:
        return 0.0
    return (percentile(last, 50) - percentile(first, 50)) / overall


@dataclass(frozen=True)
class LatencyStats:
    """Summary of timed runs in milliseconds (the `latency` block of the results schema, minus timing)."""

    runs: int
    min_ms: float
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    std_ms: float
    trimmed_mean_ms: float
    cv: float
    drift: float | None
    stable: bool
    cv_max: float
    drift_max: float

    @classmethod
    def of(cls, samples_ms: Sequence[float], cv_max: float = CV_MAX, drift_max: float = DRIFT_MAX) -> "LatencyStats":
        if not samples_ms:
            raise ValueError("no timed runs to summarise")
        s = sorted(float(v) for v in samples_ms)
        mean = sum(s) / len(s)
        std = sample_std(s)
        cv = std / mean if mean > 0 else 0.0
        d = drift([float(v) for v in samples_ms])
        stable = len(s) >= 3 and cv <= cv_max and d is not None and abs(d) <= drift_max
        return cls(runs=len(s), min_ms=s[0], median_ms=percentile(s, 50), mean_ms=mean,
                   p90_ms=percentile(s, 90), p99_ms=percentile(s, 99), max_ms=s[-1], std_ms=std,
                   trimmed_mean_ms=trimmed_mean(s), cv=cv, drift=d, stable=stable,
                   cv_max=cv_max, drift_max=drift_max)

    def to_dict(self) -> dict:
        """The statistics fields of the schema's `latency` block."""
        return {"min_ms": self.min_ms, "median_ms": self.median_ms, "mean_ms": self.mean_ms,
                "p90_ms": self.p90_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms, "std_ms": self.std_ms,
                "trimmed_mean_ms": self.trimmed_mean_ms, "cv": self.cv,
                "stability": {"stable": self.stable, "drift": self.drift,
                              "cv_max": self.cv_max, "drift_max": self.drift_max}}
