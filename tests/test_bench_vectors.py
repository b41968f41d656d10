"""The Python bench core against the shared vectors in schemas/vectors (the apps are tested against the same files)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vitsdk.bench import battery
from vitsdk.bench.energy import PowerTrace, per_inference
from vitsdk.bench.protocol import Protocol, measure
from vitsdk.bench.stats import LatencyStats
from vitsdk.formats.results import RESULTS
from vitsdk.formats.run_spec import RUN_SPEC

VECTORS = Path(__file__).resolve().parents[1] / "schemas" / "vectors"


def cases(name: str) -> list[dict]:
    return json.loads((VECTORS / name).read_text())["cases"]


def close(got, want, tol=1e-9) -> bool:
    if want is None or got is None:
        return got is want
    return math.isclose(got, want, rel_tol=tol, abs_tol=1e-12)


@pytest.mark.parametrize("case", cases("stats.json"), ids=lambda c: c["name"])
def test_stats(case):
    got = LatencyStats.of(case["samples_ms"], case["cv_max"], case["drift_max"])
    for key, want in case["expected"].items():
        assert close(getattr(got, key), want) if not isinstance(want, bool) else getattr(got, key) is want, key


def test_stats_rejects_empty():
    with pytest.raises(ValueError):
        LatencyStats.of([])


@pytest.mark.parametrize("case", cases("energy.json"), ids=lambda c: c["name"])
def test_energy(case):
    want = case["expected"]
    if case["kind"] == "per_inference":
        active = PowerTrace.from_power(case["active"]["t_s"], case["active"]["power_w"])
        idle = PowerTrace.from_power(case["idle"]["t_s"], case["idle"]["power_w"])
        got = per_inference(active, idle, case["runs"])
        for key, value in want.items():
            assert close(getattr(got, key), value), key
        return
    if case["kind"] == "power":
        trace = PowerTrace.from_power(case["t_s"], case["power_w"])
    else:
        trace = PowerTrace.from_counter(case["t_s"], case["counter_uj"], case["max_range_uj"])
    summary = trace.summary()
    assert close(trace.energy_j, want["energy_j"])
    assert close(trace.duration_s, want["duration_s"])
    assert close(trace.mean_power_w, want["mean_power_w"])
    assert close(trace.standard_error_w, want["standard_error_w"])
    assert summary["count"] == want["count"]
    for key in ("min_w", "max_w", "std_w"):
        assert close(summary[key], want[key]), key


def test_energy_rejects_bad_traces():
    with pytest.raises(ValueError, match="increase"):
        PowerTrace.from_power([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="wrap range"):
        PowerTrace.from_counter([0.0, 1.0], [10.0, 5.0])
    with pytest.raises(ValueError, match="two samples"):
        PowerTrace.from_power([0.0], [1.0])


@pytest.mark.parametrize("case", cases("battery_units.json"), ids=lambda c: c["name"])
def test_battery_units(case):
    conv = battery.detect(case["current_raw"], case["voltage_raw"], case["plugged"])
    want = case["expected"]
    assert (conv.current_unit, conv.discharge_sign, conv.voltage_unit, conv.usable) == \
        (want["current_unit"], want["discharge_sign"], want["voltage_unit"], want["usable"])
    if want["power_w"] is None:
        with pytest.raises(ValueError):
            battery.power_w(case["current_raw"][0], case["voltage_raw"][0], conv)
    else:
        got = [battery.power_w(c, v, conv) for c, v in zip(case["current_raw"], case["voltage_raw"])]
        assert all(close(g, w) for g, w in zip(got, want["power_w"]))


@pytest.mark.parametrize("case", cases("schedule.json"), ids=lambda c: c["name"])
def test_schedule(case):
    """The protocol loop on a simulated clock: each inference advances it by the next run time."""
    state = {"now": 0.0, "i": 0}
    durations = case["run_seconds"]

    def run_once():
        state["now"] += durations[state["i"] % len(durations)]
        state["i"] += 1

    timings = measure(run_once, Protocol.from_dict(case["protocol"]), clock=lambda: state["now"])
    want = case["expected"]
    assert timings.warmup_runs == want["warmup_runs"]
    assert len(timings.samples_ms) == want["runs"]
    assert close(timings.first_ms, want["first_ms"])
    assert close(timings.duration_s, want["duration_s"])


def test_measure_keeps_partial_samples_when_the_runtime_fails():
    calls = {"n": 0}

    def run_once():
        calls["n"] += 1
        if calls["n"] > 6:
            raise RuntimeError("delegate lost")

    t = measure(run_once, Protocol(warmup_runs=2, warmup_seconds=0, min_runs=10, min_seconds=0))
    assert len(t.samples_ms) == 3 and "delegate lost" in t.stopped


def test_measure_marks_the_timed_edges_with_the_edge_callback():
    """The RAPL sampler reads its counters at exactly the timed phase's edges (so its window is never empty
    when the runtime holds the GIL); the timings use the times the edge callback recorded."""
    state = {"now": 0.0, "edges": []}

    def clock():
        return state["now"]

    def run_once():
        state["now"] += 0.01

    def edge():
        state["now"] += 0.001
        state["edges"].append(state["now"])
        return state["now"]

    t = measure(run_once, Protocol(warmup_runs=1, warmup_seconds=0, min_runs=5, min_seconds=0), clock=clock, edge=edge)
    assert len(t.samples_ms) == 5 and state["edges"] == [t.t_start, t.t_end]
    assert t.duration_s == pytest.approx(5 * 0.01 + 0.001)


@pytest.mark.parametrize("case", cases("results_examples.json"), ids=lambda c: c["name"])
def test_results_examples(case):
    problems = RESULTS.errors(case["document"])
    if case["valid"]:
        assert problems == []
    else:
        assert problems and problems[0].split(":")[0] == case["error_path"], problems


def test_protocol_defaults_fit_the_run_spec_schema():
    spec = {"schema": RUN_SPEC.tag, "run_id": "r1", "bundle": "/data/local/tmp/b",
            "models": [{"file": "m.pte", "runtime": "executorch", "delegate": None, "threads": 4}],
            "protocol": Protocol().to_dict()}
    assert RUN_SPEC.errors(spec) == []
    spec["protocol"]["min_runs"] = 0
    assert RUN_SPEC.errors(spec)[0].startswith("/protocol/min_runs")
    with pytest.raises(ValueError, match="min_runs"):
        Protocol(min_runs=0)


def test_energy_per_inference_scales_by_the_timed_duration():
    """Runners pass the timed runs' own duration when the sample grid does not match it exactly."""
    active = PowerTrace.from_power([0.0, 1.0, 2.0], [5.0, 5.0, 5.0])
    idle = PowerTrace.from_power([0.0, 1.0], [2.0, 2.0])
    assert per_inference(active, idle, 30).energy_mj == pytest.approx(3.0 * 2.0 / 30 * 1e3)
    assert per_inference(active, idle, 30, timed_s=2.5).energy_mj == pytest.approx(3.0 * 2.5 / 30 * 1e3)
