"""Browser (LiteRT.js, WebAssembly) against native LiteRT (ai-edge-litert) latency on this machine.

For each model, one .tflite (fp32, the real exporter) is timed by `vitsdk bench --device host` (LiteRT's
Python runtime, XNNPACK) and by `vitsdk bench --device browser` (the same file in headless Chromium with
LiteRT.js on WebAssembly), at 1 thread and at every core, alternating host and browser in rounds so that
drift and other load on the machine hit both alike. Ratio = browser median / native median.

Run: nice -n 10 .venv/bin/python benchmarks/browser.py [--quick]
Writes benchmarks/results/browser.json and prints a table.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vitsdk.atomic import write_json
from vitsdk.bench.browser import BrowserOptions, litertjs_pin, run_browser
from vitsdk.bench.host import HostOptions, run_host
from vitsdk.bench.protocol import Protocol

RESULTS = Path(__file__).parent / "results" / "browser.json"
MODELS = ("vit_nano_patch4_28", "deit_tiny_patch16_224")


def export_bundle(name: str, folder: Path) -> Path:
    from vitsdk.converters import export

    out = folder / name
    export(name, target="tflite", output=out, precision="fp32", reference_samples=4)
    return out


def one(device: str, bundle: Path, threads: int, protocol: Protocol, out: Path) -> dict:
    if device == "native":
        (_, doc), = run_host(bundle, out, protocol, HostOptions(threads=threads, runtimes=("litert",)))
    else:
        (_, doc), = run_browser(bundle, out, protocol, BrowserOptions(threads=threads, accelerators=("wasm",),
                                                                      timeout_s=900))
    if doc["status"] != "complete" or doc["numerics"]["status"] != "pass":
        raise SystemExit(f"{device} {bundle.name}: {doc['status']} {doc['error']} numerics {doc['numerics']}")
    lat = doc["latency"]
    return {"median_ms": lat["median_ms"], "p90_ms": lat["p90_ms"], "cv": lat["cv"], "runs": lat["runs"],
            "threads": doc["runtime"]["threads"], "runtime": f"{doc['runtime']['name']} {doc['runtime']['version']}",
            "stable": lat["stability"]["stable"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="vit_nano only, short protocol (a smoke run)")
    parser.add_argument("--rounds", type=int, default=2, help="host/browser alternations per cell")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    models = MODELS[:1] if args.quick else MODELS
    protocol = Protocol(warmup_runs=5, warmup_seconds=0.5, min_runs=10 if args.quick else 30,
                        min_seconds=0.5 if args.quick else 3.0, max_seconds=30.0, cooldown_seconds=0.0,
                        idle_baseline_seconds=0.0)
    thread_counts = sorted({1, os.cpu_count() or 1})
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vitsdk-browser-bench-") as tmp:
        tmp = Path(tmp)
        for name in models:
            bundle = export_bundle(name, tmp)
            for threads in thread_counts:
                cell = {"native": [], "browser": []}
                for r in range(args.rounds):
                    order = ("native", "browser") if r % 2 == 0 else ("browser", "native")
                    for device in order:
                        cell[device].append(one(device, bundle, threads, protocol, tmp / f"out-{device}"))
                native = statistics.median(c["median_ms"] for c in cell["native"])
                browser = statistics.median(c["median_ms"] for c in cell["browser"])
                rows.append({"model": name, "threads": threads, "native_median_ms": native,
                             "browser_median_ms": browser, "ratio": browser / native, "rounds": cell})
                print(f"{name} threads={threads}: native {native:.3f} ms, browser {browser:.3f} ms "
                      f"({browser / native:.2f}x)", file=sys.stderr)
    doc = {"benchmark": "browser", "what": "median latency of one fp32 .tflite: native LiteRT (ai-edge-litert, "
                                           "vitsdk bench --device host) vs LiteRT.js wasm in headless Chromium "
                                           "(vitsdk bench --device browser), alternating rounds in one run",
           "litertjs": litertjs_pin()[1], "protocol": protocol.to_dict(), "quick": args.quick,
           "seconds": time.perf_counter() - start, "rows": rows}
    write_json(args.output, doc)
    print(f"{'model':<24}{'threads':>8}{'native ms':>12}{'browser ms':>12}{'browser/native':>16}")
    for row in rows:
        print(f"{row['model']:<24}{row['threads']:>8}{row['native_median_ms']:>12.3f}{row['browser_median_ms']:>12.3f}"
              f"{row['ratio']:>15.2f}x")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
