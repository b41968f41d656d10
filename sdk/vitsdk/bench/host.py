"""The host runner: every model file of a bundle in the real runtimes here, with the shared protocol.

Energy comes from the RAPL counters when readable (idle baseline measured the same way first and
subtracted), otherwise it is `unavailable` with the reason. One results file per model file.
"""
from __future__ import annotations

import contextlib
import os
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitsdk.atomic import write_json
from vitsdk.bench import rapl
from vitsdk.bench.energy import PowerTrace, per_inference
from vitsdk.bench.numerics import check_outputs
from vitsdk.bench.protocol import Protocol, Timings, latency_block, measure
from vitsdk.bench.runtimes import HOST_RUNTIMES
from vitsdk.errors import UserError
from vitsdk.formats import results as R
from vitsdk.formats.manifest import Bundle, ModelFile, load_bundle
from vitsdk.formats.results import (RESULTS, model_block, new_run_id, results_document, skipped_numerics,
                                    unavailable_energy)
from vitsdk.hashing import file_sha256


@dataclass(frozen=True)
class HostOptions:
    """Args:
        threads: CPU threads for every runtime; None: the runtime's default.
        runtimes: only these runtimes (None: every host runtime in the bundle).
        run_id: names the run (default: bundle name + UTC time).
        powercap: where RAPL lives (tests point it at a recorded fake tree).
    """

    threads: int | None = None
    runtimes: tuple[str, ...] | None = None
    run_id: str | None = None
    powercap: Path = rapl.POWERCAP
    thermal: Path = rapl.THERMAL

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise UserError("--threads must be >= 1")


def host_device() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"platform": "host", "name": socket.gethostname(), "manufacturer": None, "model": platform.machine(),
            "soc": cpu, "os": platform.system().lower(), "os_version": platform.release(), "api_level": None,
            "cpu_cores": os.cpu_count(), "memory_bytes": memory, "serial": None}


def timing_input(bundle: Bundle, shape: tuple[int, ...] | None, dtype: np.dtype) -> np.ndarray:
    """The first reference input (what the model was verified on), else zeros of the model's input shape."""
    shape = shape or tuple(bundle.input_shape or ())
    if not shape:
        raise ValueError("the model's input shape is unknown (not in the runtime metadata nor the manifest)")
    ref = bundle.reference()
    if ref is not None and ref[0].shape[1:] == shape[1:] and len(ref[0]) >= shape[0]:
        return np.ascontiguousarray(ref[0][:shape[0]].astype(dtype))
    return np.zeros(shape, dtype=dtype)


def _energy(sampler: rapl.RaplSampler | None, unavailable: str | None, idle: tuple[float, float] | None,
            timings: Timings | None, protocol: Protocol) -> dict:
    """The results' energy block; numbers only when both windows were really measured."""
    if sampler is None:
        return unavailable_energy(unavailable or "no energy source")
    if timings is None or not timings.samples_ms:
        return unavailable_energy("nothing was timed")
    if idle is None:
        return unavailable_energy("no idle baseline was measured (protocol idle_baseline_seconds is 0)")
    at, ae = sampler.window(timings.t_start, timings.t_end)
    it, ie = sampler.window(*idle)
    if len(at) < 2 or len(it) < 2:
        return unavailable_energy("the timed phase or idle baseline was shorter than one RAPL sample period")
    active = PowerTrace.from_counter(at, ae)
    base = PowerTrace.from_counter(it, ie)
    result = per_inference(active, base, len(timings.samples_ms), timed_s=timings.duration_s)
    samples = active.summary()
    samples.update(period_ms=protocol.power_sample_period_ms, idle_count=len(base.samples_w),
                   idle_duration_s=base.duration_s)
    return {"status": "measured", "method": "rapl",
            "reason": "RAPL covers the whole CPU package (other processes included), not this model alone",
            "source": sampler.source, "energy_mj": result.energy_mj, "uncertainty_mj": result.uncertainty_mj,
            "power_w": result.power_w, "idle_power_w": result.idle_power_w, "net_power_w": result.net_power_w,
            "samples": samples}


def bench_model(bundle: Bundle, model: ModelFile, p: Protocol, options: HostOptions, run_id: str,
                sampler: rapl.RaplSampler | None, unavailable: str | None) -> dict:
    """Measures one model file with protocol `p`; a failure is captured in the result, never raised."""
    from vitsdk.bench import runtimes

    doc = results_document(
        run_id=run_id, device=host_device(),
        runtime={"name": model.runtime, "version": None, "delegate": model.delegate, "threads": options.threads},
        model=model_block(bundle, model), protocol=p.to_dict(), latency=None,
        energy=unavailable_energy("model was not run"),
        thermal={"before": rapl.thermal_state(options.thermal), "after": None},
        numerics=skipped_numerics("model was not run"))
    path = bundle.path_of(model)
    timings = None
    try:
        actual = file_sha256(path)
        if actual != model.sha256:
            raise ValueError(f"{model.path}: sha256 {actual[:12]}... does not match the manifest ({model.sha256[:12]}...)")
        idle = None
        if sampler is not None and p.idle_baseline_seconds > 0:
            t0 = sampler.mark()
            time.sleep(p.idle_baseline_seconds)
            idle = (t0, sampler.mark())
        runtimes.require_runtime(model.runtime)
        t0 = time.perf_counter()
        loaded = runtimes.load(model.runtime, path, options.threads, model.delegate)
        load_ms = (time.perf_counter() - t0) * 1e3
        doc["runtime"].update(version=loaded.version, delegate=loaded.delegate, threads=loaded.threads)
        x = timing_input(bundle, loaded.input_shape, loaded.input_dtype)
        run = loaded.run
        # The input is converted once, outside the timed calls; the sampler reads RAPL at the timed edges.
        timings = measure(loaded.bind(x), p, clock=sampler.clock if sampler is not None else time.perf_counter,
                          edge=sampler.mark if sampler is not None else None)
        doc["latency"] = latency_block(load_ms, timings, p)
        doc["numerics"] = check_outputs(bundle, model, run, loaded.input_shape, loaded.input_dtype)
        doc["energy"] = _energy(sampler, unavailable, idle, timings, p)
        if timings.stopped:
            doc.update(status="partial" if timings.samples_ms else "failed", error=timings.stopped)
    except Exception as exc:  # noqa: BLE001 - the failure goes into the results; the other models still run
        doc.update(status="failed", error=f"{type(exc).__name__}: {exc}".strip())
        doc["energy"] = unavailable_energy("the model failed to run")
        doc["numerics"] = skipped_numerics("the model failed to run")
    doc["thermal"]["after"] = rapl.thermal_state(options.thermal)
    return doc


def run_host(bundle_path: str | os.PathLike, out_dir: str | os.PathLike, protocol: Protocol = Protocol(),
             options: HostOptions = HostOptions(), progress: Callable[[str], None] | None = None,
             ) -> list[tuple[Path, dict]]:
    """Benchmarks every host-runnable model file of the bundle with `protocol`; returns (results path,
    document) pairs."""
    bundle = load_bundle(bundle_path)
    wanted = options.runtimes or HOST_RUNTIMES
    models = [m for m in bundle.files if m.runtime in HOST_RUNTIMES and m.runtime in wanted]
    skipped = [m for m in bundle.files if m not in models]
    if progress:
        for m in skipped:
            progress(f"skip {m.path}: runtime '{m.runtime}' does not run on this host")
    if not models:
        have = sorted({m.runtime for m in bundle.files})
        raise UserError(f"bundle '{bundle.root}' has no model for the host runtimes {', '.join(wanted)} "
                        f"(it has: {', '.join(have)})")
    run_id = options.run_id or new_run_id(bundle.root.resolve().name)
    sampler, unavailable = None, None
    try:
        zones = rapl.find_zones(options.powercap)
        sampler = rapl.RaplSampler(zones, protocol.power_sample_period_ms / 1e3)
    except rapl.RaplUnavailable as exc:
        unavailable = str(exc)
    out = []
    with sampler if sampler is not None else contextlib.nullcontext():
        for i, model in enumerate(models):
            if i and protocol.cooldown_seconds:
                time.sleep(protocol.cooldown_seconds)
            if progress:
                progress(f"run {model.path} ({model.runtime})")
            doc = bench_model(bundle, model, protocol, options, run_id, sampler, unavailable)
            problems = RESULTS.errors(doc)
            if problems:  # a bug here, not a user mistake: never write a file that fails the schema
                raise AssertionError(f"host results for {model.path} fail the schema: {problems[0]}")
            path = Path(out_dir) / R.results_name(model.path, model.runtime, "host")
            write_json(path, doc)
            out.append((path, doc))
    return out
