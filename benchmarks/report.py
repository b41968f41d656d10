"""How long `vitsdk report` takes on many results files (target: 100 files in under 2 seconds).

Makes N results files from the hand-made fixtures (tests/fixtures/report: host, Android, iOS, FPGA), each
with its own latency and energy, plus the two bundle manifests, then times each stage of the report in
one process: load + schema validation, figures, and rendering HTML / JSON / Markdown / CSV. It also times
the CLI end to end in a subprocess (that includes starting Python and importing vitsdk, which imports
torch). Prints a table and writes benchmarks/results/report.json.

    flock /tmp/vitsdk-bench.lock .venv/bin/python benchmarks/report.py            # 100 files
    flock /tmp/vitsdk-bench.lock .venv/bin/python benchmarks/report.py --quick    # 10 files, smoke run
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "report"
TARGET_S = 2.0


def make_results(folder: Path, count: int) -> None:
    """`count` results files cycling through the fixtures, each with scaled latency and energy."""
    shutil.copytree(FIXTURES / "bundles", folder / "bundles")
    sources = sorted((FIXTURES / "results").glob("*.json"))
    out = folder / "results"
    out.mkdir()
    for i in range(count):
        doc = json.loads(sources[i % len(sources)].read_text())
        scale = 1.0 + 0.01 * i
        doc["run_id"] = f"bench-{i:04d}"
        for key in ("min_ms", "median_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "trimmed_mean_ms"):
            doc["latency"][key] = round(doc["latency"][key] * scale, 6)
        if doc["energy"].get("energy_mj") is not None:
            doc["energy"]["energy_mj"] = round(doc["energy"]["energy_mj"] * scale, 6)
        (out / f"result_{i:04d}.json").write_text(json.dumps(doc, indent=2))


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of `repeats` calls (the first call's result is returned)."""
    times, result = [], None
    for r in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
        result = value if r == 0 else result
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 files, one repeat (smoke run)")
    parser.add_argument("--files", type=int, default=None, help="number of results files (default 100)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "report.json")
    args = parser.parse_args()
    count = args.files or (10 if args.quick else 100)
    repeats = 1 if args.quick else 5

    from vitsdk.report import FORMATS
    from vitsdk.report.compute import build
    from vitsdk.report.load import load

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_results(folder, count)
        out_dir = folder / "out"
        out_dir.mkdir()
        load_s, loaded = timed(lambda: load([folder]), repeats)
        assert len(loaded.results) == count and not loaded.problems, loaded.problems[:3]
        build_s, report = timed(lambda: build(loaded), repeats)
        rows.append(("load + validate", load_s))
        rows.append(("figures, groups, Pareto", build_s))
        sizes = {}
        for name, fmt in FORMATS.items():
            seconds, text = timed(lambda fmt=fmt: fmt.render(report, out_dir), repeats)
            sizes[name] = len(text)
            rows.append((f"render {name}", seconds))
        in_process = load_s + build_s + sum(s for n, s in rows if n in ("render html", "render json"))
        rows.append(("in process: html + report.json", in_process))
        start = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "vitsdk", "report", str(folder), "-o",
                              str(out_dir / "report.html")], capture_output=True, text=True)
        cli_s = time.perf_counter() - start
        assert cli.returncode == 0, cli.stderr
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import vitsdk.cli"], check=True)
        import_s = time.perf_counter() - start
        rows.append(("CLI end to end (subprocess)", cli_s))
        rows.append(("start Python + import vitsdk.cli (alone)", import_s))

    print(f"vitsdk report on {count} results files (median of {repeats} runs, {platform.processor() or 'cpu'})")
    print(f"{'stage':<46}{'seconds':>10}")
    for name, seconds in rows:
        print(f"{name:<46}{seconds:>10.3f}")
    verdict = "PASS" if in_process < TARGET_S else "FAIL"
    print(f"target: {count} files in under {TARGET_S} s in process -> {verdict} ({in_process:.3f} s); "
          f"HTML {sizes['html'] / 1e6:.2f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "report", "files": count, "repeats": repeats, "target_s": TARGET_S,
        "stages_s": {name.strip(): seconds for name, seconds in rows}, "in_process_s": in_process,
        "cli_s": cli_s, "import_s": import_s, "output_bytes": sizes, "pass": in_process < TARGET_S,
        "python": platform.python_version(), "machine": platform.machine(),
        "note": "measured wall time on this machine; the CLI figure includes starting Python and importing torch",
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
