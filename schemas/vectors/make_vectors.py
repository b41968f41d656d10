"""Regenerates the shared test vectors from independent reference formulas (numpy), not from vitsdk.

Run: `python schemas/vectors/make_vectors.py`. Python (tests/test_bench_vectors.py), Kotlin
(android_app/benchcore) and Swift ports are all tested against the JSON files this writes.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
TOL = 1e-9  # relative tolerance every port must meet


def stats_case(name, samples, cv_max=0.1, drift_max=0.05):
    x = np.asarray(samples, dtype=np.float64)
    s = np.sort(x)
    n = len(x)
    cut = n // 10
    std = float(np.std(x, ddof=1)) if n > 1 else 0.0
    mean = float(x.mean())
    third = n // 3
    drift = None
    if n >= 3:
        med = float(np.median(x))
        drift = 0.0 if med == 0 else (float(np.median(x[n - third:])) - float(np.median(x[:third]))) / med
    cv = std / mean if mean > 0 else 0.0
    return {"name": name, "samples_ms": samples, "cv_max": cv_max, "drift_max": drift_max, "expected": {
        "runs": n, "min_ms": float(s[0]), "median_ms": float(np.percentile(x, 50)), "mean_ms": mean,
        "p90_ms": float(np.percentile(x, 90)), "p99_ms": float(np.percentile(x, 99)), "max_ms": float(s[-1]),
        "std_ms": std, "trimmed_mean_ms": float(s[cut:n - cut].mean()), "cv": cv, "drift": drift,
        "stable": bool(n >= 3 and cv <= cv_max and drift is not None and abs(drift) <= drift_max)}}


def power_trace(t, p):
    t, p = np.asarray(t, float), np.asarray(p, float)
    e = float(np.trapezoid(p, t))
    return e, float(t[-1] - t[0]), p


def counter_trace(t, c, max_range):
    t, c = np.asarray(t, float), np.asarray(c, float)
    d = np.diff(c)
    d = np.where(d < 0, d + (max_range or 0), d)
    return float(d.sum() * 1e-6), float(t[-1] - t[0]), d * 1e-6 / np.diff(t)


def trace_expect(e, dur, samples):
    n = len(samples)
    se = float(np.std(samples, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return {"energy_j": e, "duration_s": dur, "mean_power_w": e / dur, "standard_error_w": se,
            "count": n, "min_w": float(samples.min()), "max_w": float(samples.max()),
            "std_w": float(np.std(samples, ddof=1)) if n > 1 else 0.0}


def energy_cases():
    rng = np.random.default_rng(6)
    cases = []
    t = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    p = [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    cases.append({"name": "constant_2w", "kind": "power", "t_s": t, "power_w": p,
                  "expected": trace_expect(*power_trace(t, p))})
    t = [0.0, 0.1, 0.25, 0.3, 0.5, 0.8]
    p = [1.0, 3.0, 2.5, 4.0, 1.5, 2.0]
    cases.append({"name": "uneven_times", "kind": "power", "t_s": t, "power_w": p,
                  "expected": trace_expect(*power_trace(t, p))})
    t = [round(0.05 * i, 6) for i in range(41)]
    p = [round(3.0 + 0.5 * math.sin(i / 3) + float(rng.normal(0, 0.1)), 6) for i in range(41)]
    cases.append({"name": "noisy_sine", "kind": "power", "t_s": t, "power_w": p,
                  "expected": trace_expect(*power_trace(t, p))})
    t = [0.0, 0.5, 1.0, 1.5, 2.0]
    c = [1000.0, 1001000.0, 2101000.0, 3001000.0, 4000000.0]
    cases.append({"name": "counter", "kind": "counter", "t_s": t, "counter_uj": c, "max_range_uj": None,
                  "expected": trace_expect(*counter_trace(t, c, None))})
    max_range = 262143328850.0
    c = [max_range - 1500000.0, max_range - 500000.0, 600000.0, 1700000.0]
    t = [0.0, 0.5, 1.0, 1.5]
    cases.append({"name": "counter_wraps", "kind": "counter", "t_s": t, "counter_uj": c, "max_range_uj": max_range,
                  "expected": trace_expect(*counter_trace(t, c, max_range))})

    def per_inf(name, at, ap, it, ip, runs):
        ea, da, sa = power_trace(at, ap)
        ei, di, si = power_trace(it, ip)
        ta, ti = trace_expect(ea, da, sa), trace_expect(ei, di, si)
        net = ta["mean_power_w"] - ti["mean_power_w"]
        scale = da / runs * 1000
        return {"name": name, "kind": "per_inference", "runs": runs,
                "active": {"t_s": at, "power_w": ap}, "idle": {"t_s": it, "power_w": ip},
                "expected": {"energy_mj": net * scale,
                             "uncertainty_mj": math.hypot(ta["standard_error_w"], ti["standard_error_w"]) * scale,
                             "power_w": ta["mean_power_w"], "idle_power_w": ti["mean_power_w"], "net_power_w": net}}

    at = [round(0.1 * i, 6) for i in range(21)]
    ap = [round(4.0 + float(rng.normal(0, 0.2)), 6) for _ in at]
    it = [round(0.1 * i, 6) for i in range(11)]
    ip = [round(1.0 + float(rng.normal(0, 0.05)), 6) for _ in it]
    cases.append(per_inf("phone_like", at, ap, it, ip, 100))
    cases.append(per_inf("exact", [0.0, 1.0, 2.0], [5.0, 5.0, 5.0], [0.0, 1.0], [2.0, 2.0], 30))
    return cases


def battery_cases():
    def case(name, current, voltage, plugged, unit, sign, vunit):
        return {"name": name, "current_raw": current, "voltage_raw": voltage, "plugged": plugged,
                "expected": {"current_unit": unit, "discharge_sign": sign, "voltage_unit": vunit,
                             "usable": unit != "unknown" and sign != 0 and vunit != "unknown"}}

    def watts(c, v, unit, sign, vunit):
        return [ci * {"uA": 1e-6, "mA": 1e-3}[unit] * sign * vi * {"V": 1, "mV": 1e-3, "uV": 1e-6}[vunit]
                for ci, vi in zip(c, v)]

    cases = [
        case("documented_uA_negative", [-450000, -520000, -610000, -480000], [3850, 3849, 3848, 3848], False, "uA", -1, "mV"),
        case("samsung_mA_negative", [-450, -520, -610, -480], [3850, 3849, 3848, 3848], False, "mA", -1, "mV"),
        case("mediatek_mA_positive", [450, 520, 610, 480], [3.85, 3.849, 3.848, 3.848], False, "mA", 1, "V"),
        case("uA_positive_uV", [450000, 520000, 610000, -5000, 480000], [3850000, 3849000, 3848000, 3848000, 3848000], False, "uA", 1, "uV"),
        case("plugged_in", [300000, 310000, 290000], [4200, 4200, 4200], True, "uA", 0, "mV"),
        case("unsupported_zero", [0, 0, 0], [3900, 3900, 3900], False, "unknown", 0, "mV"),
        case("bad_voltage", [-450000, -500000], [38, 38], False, "uA", -1, "unknown"),
    ]
    for c in cases:
        e = c["expected"]
        c["expected"]["power_w"] = (watts(c["current_raw"], c["voltage_raw"], e["current_unit"], e["discharge_sign"],
                                          e["voltage_unit"]) if e["usable"] else None)
    return cases


def schedule_cases():
    """A simulated clock: each inference takes the next of `run_seconds` (cycled); reading the clock is free."""
    def case(name, protocol, run_seconds):
        i = 0
        now = 0.0

        def run():
            nonlocal i, now
            now += run_seconds[i % len(run_seconds)]
            i += 1
        t0 = now; run(); first = now - t0
        w0 = now; warm = 0
        while not (warm >= protocol["warmup_runs"] and now - w0 >= protocol["warmup_seconds"]):
            run(); warm += 1
        start = now; runs = 0

        def done():
            if protocol.get("max_runs") is not None and runs >= protocol["max_runs"]:
                return True
            if protocol.get("max_seconds") is not None and now - start >= protocol["max_seconds"]:
                return True
            return runs >= protocol["min_runs"] and now - start >= protocol["min_seconds"]
        while not done():
            run(); runs += 1
        return {"name": name, "protocol": protocol, "run_seconds": run_seconds,
                "expected": {"first_ms": first * 1e3, "warmup_runs": warm, "runs": runs,
                             "duration_s": now - start}}

    base = {"warmup_runs": 3, "warmup_seconds": 0.0, "min_runs": 10, "min_seconds": 0.0,
            "max_runs": None, "max_seconds": None, "cooldown_seconds": 0, "power_sample_period_ms": 100}
    return [
        case("runs_bound", base, [0.01]),
        case("seconds_bound", {**base, "warmup_seconds": 0.5, "min_seconds": 2.0}, [0.125]),
        case("max_runs_caps", {**base, "min_runs": 1000, "max_runs": 25}, [0.25]),
        case("max_seconds_caps", {**base, "min_runs": 1000, "max_seconds": 1.0}, [0.25, 0.5]),
        case("no_warmup", {**base, "warmup_runs": 0}, [0.5]),
    ]


def main() -> None:
    stats = [
        stats_case("ten_sorted", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
        stats_case("single", [4.25]),
        stats_case("two", [3.0, 5.0]),
        stats_case("steady_noise", [10.0 + 0.1 * math.sin(i) for i in range(30)]),
        stats_case("throttling", [10.0 + 0.05 * i for i in range(30)]),
        stats_case("outliers", [5.0, 5.1, 4.9, 5.0, 50.0, 5.2, 4.8, 5.0, 5.1, 5.0, 4.9, 5.05, 0.5]),
        stats_case("unsorted_odd", [7.5, 3.25, 9.0, 1.5, 4.0, 6.75, 2.0]),
    ]
    out = {"stats.json": stats, "energy.json": energy_cases(), "battery_units.json": battery_cases(),
           "schedule.json": schedule_cases(), "results_examples.json": results_cases()}
    for name, cases in out.items():
        doc = {"tolerance": TOL, "cases": cases}
        (HERE / name).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {name}: {len(cases)} cases")


def _host_result() -> dict:
    return {
        "schema": "vitsdk.results/1", "run_id": "demo-20261125T0900", "created_utc": "2026-11-25T09:00:00Z",
        "status": "complete", "error": None, "tool": {"name": "vitsdk", "version": "0.1.0"},
        "device": {"platform": "host", "name": "devbox", "manufacturer": None, "model": None,
                   "soc": "Intel(R) Xeon(R) CPU", "os": "linux", "os_version": "6.1.0", "api_level": None,
                   "cpu_cores": 2, "memory_bytes": 24000000000, "serial": None},
        "runtime": {"name": "executorch", "version": "1.5.1", "delegate": "xnnpack", "threads": 2},
        "model": {"name": "vit_nano_patch4_28", "file": "model_fp32.pte", "format": "pte",
                  "sha256": "0" * 64, "size_bytes": 123456, "precision": "fp32", "macs": 1234567,
                  "input_shape": [1, 1, 28, 28], "manifest_sha256": "1" * 64},
        "protocol": {"warmup_runs": 10, "warmup_seconds": 1.0, "min_runs": 50, "min_seconds": 5.0,
                     "max_runs": None, "max_seconds": 60.0, "cooldown_seconds": 2.0,
                     "power_sample_period_ms": 100.0},
        "latency": {"load_ms": 3.2, "first_ms": 1.9, "warmup_runs": 10, "warmup_s": 1.0, "runs": 50,
                    "duration_s": 5.0, "min_ms": 0.5, "median_ms": 0.6, "mean_ms": 0.62, "p90_ms": 0.7,
                    "p99_ms": 0.9, "max_ms": 1.0, "std_ms": 0.05, "trimmed_mean_ms": 0.61, "cv": 0.08,
                    "stability": {"stable": True, "drift": 0.01, "cv_max": 0.1, "drift_max": 0.05}},
        "energy": {"status": "measured", "method": "rapl", "reason": None, "source": "intel-rapl:0 (package-0)",
                   "energy_mj": 12.5, "uncertainty_mj": 0.8, "power_w": 25.0, "idle_power_w": 5.0,
                   "net_power_w": 20.0, "samples": {"count": 50, "period_ms": 100.0, "duration_s": 5.0,
                                                     "min_w": 20.0, "mean_w": 25.0, "max_w": 30.0, "std_w": 2.0}},
        "thermal": {"before": {"state": None, "temperature_c": 45.0}, "after": {"state": None, "temperature_c": 51.0}},
        "numerics": {"status": "pass", "reason": None, "max_abs_diff": 1e-5, "tolerance": 1e-3, "top1_agree": 1.0},
    }


def results_cases():
    import copy
    host = _host_result()
    unavailable = copy.deepcopy(host)
    unavailable["energy"] = {"status": "unavailable", "method": "none",
                             "reason": "no readable RAPL counters under /sys/class/powercap", "energy_mj": None}
    android = copy.deepcopy(host)
    android["device"] = {"platform": "android", "name": "Pixel 8", "manufacturer": "Google", "model": "Pixel 8",
                         "soc": "Tensor G3", "os": "android", "os_version": "15", "api_level": 35,
                         "cpu_cores": 9, "memory_bytes": 8000000000, "serial": "38101FDJH00ABC"}
    android["runtime"] = {"name": "litert", "version": "1.4.0", "delegate": "xnnpack", "threads": 4}
    android["energy"] = {"status": "measured", "method": "battery_current_voltage", "reason": None,
                         "source": "BatteryManager CURRENT_NOW x EXTRA_VOLTAGE", "energy_mj": 3.1,
                         "uncertainty_mj": 0.4, "power_w": 2.9, "idle_power_w": 1.1, "net_power_w": 1.8,
                         "samples": {"count": 120, "period_ms": 100.0, "duration_s": 12.0, "idle_count": 50,
                                     "idle_duration_s": 5.0, "min_w": 2.1, "mean_w": 2.9, "max_w": 3.6, "std_w": 0.3},
                         "battery": {"current_unit": "uA", "discharge_sign": -1, "voltage_unit": "mV",
                                     "plugged": False, "note": None}}
    android["thermal"] = {"before": {"state": "none", "temperature_c": 31.0},
                          "after": {"state": "light", "temperature_c": 36.5}}
    partial = copy.deepcopy(android)
    partial["status"] = "partial"
    partial["error"] = "device disconnected after 37 of 50 runs"
    ios = copy.deepcopy(host)
    ios["device"] = {"platform": "ios", "name": "iPhone 15", "manufacturer": "Apple", "model": "iPhone15,4",
                     "soc": "A16", "os": "ios", "os_version": "18.1"}
    ios["runtime"] = {"name": "coreml", "version": None, "delegate": None, "threads": None, "compute_units": "all"}
    ios["model"].update(file="model.mlpackage", format="mlpackage")
    ios["energy"] = {"status": "unavailable", "method": "none",
                     "reason": "iOS has no public instantaneous power API; run longer for a battery-level delta"}
    ios["thermal"] = {"before": {"state": "nominal"}, "after": {"state": "fair"}}
    ios["numerics"] = {"status": "skipped", "reason": "reference outputs not bundled"}
    fpga = copy.deepcopy(host)
    fpga["device"] = {"platform": "fpga", "name": "ZCU104", "manufacturer": "AMD Xilinx", "model": "ZCU104",
                      "soc": "xczu7ev-ffvc1156-2-e", "os": "pynq", "os_version": "3.0.1", "clock_mhz": 200.0}
    fpga["runtime"] = {"name": "fpga", "version": None, "delegate": "rtl", "threads": None}
    fpga["model"].update(file="fpga/vit.xclbin", format="xclbin", precision="fixed16")
    fpga["energy"] = {"status": "estimated", "method": "analytical_model", "reason": "no board attached",
                      "source": None, "energy_mj": 4.2, "uncertainty_mj": None, "power_w": 6.5,
                      "model_parameters": {"formula": "static + dynamic(DSP, BRAM, DDR)", "dsp_count": 1024,
                                           "clock_mhz": 200.0, "static_power_w": 3.1, "pj_per_mac": 1.2}}
    browser = copy.deepcopy(host)
    ua = ("Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
          "Mobile Safari/537.36")
    browser["device"] = {"platform": "browser", "name": "Google Chrome 131.0.6778.81 on android",
                         "manufacturer": None, "model": "Pixel 8", "soc": None, "os": "android", "os_version": "15",
                         "api_level": None, "cpu_cores": 8, "memory_bytes": None, "serial": None, "user_agent": ua}
    browser["runtime"] = {"name": "litert.js", "version": "2.5.3", "delegate": "wasm", "threads": 1,
                          "extra": {"accelerator": "wasm", "cross_origin_isolated": False, "wasm_threads": False,
                                    "timer_resolution_ms": 0.1, "accelerators_unavailable": None}}
    browser["model"].update(file="model_fp32.tflite", format="tflite")
    browser["energy"] = {"status": "measured", "method": "battery_level_delta", "source": "navigator.getBattery() level",
                         "reason": "coarse: whole-phone battery level in 1% steps, idle subtracted, capacity 15 Wh "
                                   "passed by the user", "energy_mj": 5.0, "uncertainty_mj": 1.2, "power_w": 1.5,
                         "idle_power_w": 0.3, "net_power_w": 1.2,
                         "model_parameters": {"battery_capacity_wh": 15.0, "level_step": 0.01, "inferences": 90000}}
    browser["thermal"] = {"before": {"state": None}, "after": {"state": None}}
    failed = copy.deepcopy(android)
    failed.update(status="failed", error="model failed to load: Error 0x20 (NotSupported)", latency=None)
    failed["energy"] = {"status": "unavailable", "method": "none", "reason": "model failed to load"}
    failed["numerics"] = {"status": "skipped", "reason": "model failed to load"}

    def bad(name, base, path, value, error_path):
        doc = copy.deepcopy(base)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if value is _DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
        return {"name": name, "valid": False, "error_path": error_path, "document": doc}

    valid = [("host_rapl", host), ("host_unavailable", unavailable), ("android_battery", android),
             ("android_partial", partial), ("ios_coreml", ios), ("fpga_estimated", fpga), ("android_failed", failed),
             ("browser_battery", browser)]
    cases = [{"name": n, "valid": True, "error_path": None, "document": d} for n, d in valid]
    cases += [
        bad("unavailable_with_number", unavailable, ["energy", "energy_mj"], 12.5, "/energy/energy_mj"),
        bad("measured_without_number", host, ["energy", "energy_mj"], None, "/energy/energy_mj"),
        bad("estimated_without_parameters", fpga, ["energy", "model_parameters"], _DELETE, "/energy"),
        bad("unknown_platform", host, ["device", "platform"], "windows", "/device/platform"),
        bad("extra_field", host, ["latency", "median_us"], 600.0, "/latency"),
        bad("bad_sha", host, ["model", "sha256"], "abc", "/model/sha256"),
        bad("negative_latency", host, ["latency", "median_ms"], -1.0, "/latency/median_ms"),
        bad("missing_thermal", host, ["thermal"], _DELETE, "/"),
    ]
    return cases


_DELETE = object()


if __name__ == "__main__":
    main()
