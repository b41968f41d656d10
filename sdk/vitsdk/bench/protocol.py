"""The measurement protocol every device follows (the `protocol` block of the run spec).

load -> first inference -> warm-up until both `warmup_runs` and `warmup_seconds` are met -> timed runs
until both `min_runs` and `min_seconds` are met, or `max_runs` / `max_seconds` is reached. The loop is
kept free of runtimes and clocks so the same schedule is tested against `schemas/vectors/schedule.json`
here and in the apps.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from vitsdk.bench.stats import CV_MAX, DRIFT_MAX, LatencyStats


@dataclass(frozen=True)
class Protocol:
    """Args mirror `run_spec.schema.json#/$defs/protocol` (seconds and milliseconds as named)."""

    warmup_runs: int = 10
    warmup_seconds: float = 1.0
    min_runs: int = 50
    min_seconds: float = 5.0
    max_runs: int | None = None
    max_seconds: float | None = 60.0
    cooldown_seconds: float = 2.0
    power_sample_period_ms: float = 100.0
    idle_baseline_seconds: float = 5.0
    require_unplugged: bool = True
    stability_cv_max: float = CV_MAX
    stability_drift_max: float = DRIFT_MAX

    def __post_init__(self) -> None:
        for name in ("warmup_runs", "min_runs"):
            if getattr(self, name) < (1 if name == "min_runs" else 0):
                raise ValueError(f"protocol {name} must be {'>= 1' if name == 'min_runs' else '>= 0'}")
        for name in ("warmup_seconds", "min_seconds", "cooldown_seconds", "idle_baseline_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"protocol {name} must be >= 0")
        if self.power_sample_period_ms <= 0:
            raise ValueError("protocol power_sample_period_ms must be > 0")
        if self.max_runs is not None and self.max_runs < 1:
            raise ValueError("protocol max_runs must be >= 1")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError("protocol max_seconds must be > 0")

    @classmethod
    def from_dict(cls, data: dict) -> "Protocol":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def quick(cls) -> "Protocol":
        """A short protocol for smoke runs and tests."""
        return cls(warmup_runs=2, warmup_seconds=0.0, min_runs=5, min_seconds=0.0, max_seconds=10.0,
                   cooldown_seconds=0.0, idle_baseline_seconds=0.0, power_sample_period_ms=50.0)


@dataclass(frozen=True)
class Timings:
    first_ms: float
    warmup_runs: int
    warmup_s: float
    samples_ms: tuple[float, ...]
    duration_s: float
    t_start: float          # clock value when the timed phase started (for matching power samples)
    t_end: float
    stopped: str | None     # why the timed phase stopped early (an exception's message), else None


def warmup_done(p: Protocol, runs: int, elapsed_s: float) -> bool:
    return runs >= p.warmup_runs and elapsed_s >= p.warmup_seconds


def timing_done(p: Protocol, runs: int, elapsed_s: float) -> bool:
    if p.max_runs is not None and runs >= p.max_runs:
        return True
    if p.max_seconds is not None and elapsed_s >= p.max_seconds:
        return True
    return runs >= p.min_runs and elapsed_s >= p.min_seconds


def measure(run_once: Callable[[], object], protocol: Protocol,
            clock: Callable[[], float] = time.perf_counter,
            edge: Callable[[], float] | None = None) -> Timings:
    """Runs first inference, warm-up and the timed phase; each timed sample is one `run_once()` call.

    An exception during the timed phase stops it; the samples so far are kept and `stopped` says why,
    so a device that fails mid-run still yields partial results. `edge`, when given, is called right at
    the timed phase's start and end and returns the clock value it recorded there: the RAPL sampler reads
    its counters at both edges, so the energy window is exact even when the runtime holds the GIL and the
    sampling thread never runs during the timed phase.
    """
    t0 = clock()
    run_once()
    first_ms = (clock() - t0) * 1e3

    w0 = clock()
    warm = 0
    while not warmup_done(protocol, warm, clock() - w0):
        run_once()
        warm += 1
    warmup_s = clock() - w0

    samples: list[float] = []
    stopped = None
    start = edge() if edge is not None else clock()
    now = start
    while not timing_done(protocol, len(samples), now - start):
        before = clock()
        try:
            run_once()
        except Exception as exc:  # noqa: BLE001 - a failing runtime ends the run with partial results
            stopped = f"{type(exc).__name__}: {exc}"
            now = clock()
            break
        now = clock()
        samples.append((now - before) * 1e3)
    if edge is not None:
        now = edge()
    return Timings(first_ms, warm, warmup_s, tuple(samples), now - start, start, now, stopped)


def latency_block(load_ms: float, t: Timings, p: Protocol) -> dict:
    """The results' `latency` block of a measured run (the host runner and the FPGA board runner)."""
    block = {"status": "measured", "load_ms": load_ms, "first_ms": t.first_ms, "warmup_runs": t.warmup_runs, "warmup_s": t.warmup_s,
             "runs": len(t.samples_ms), "duration_s": t.duration_s}
    if t.samples_ms:
        block.update(LatencyStats.of(t.samples_ms, p.stability_cv_max, p.stability_drift_max).to_dict())
    else:
        block.update({k: None for k in ("min_ms", "median_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "std_ms",
                                        "trimmed_mean_ms", "cv")},
                     stability={"stable": False, "drift": None})
    block["samples_ms"] = list(t.samples_ms)
    return block
