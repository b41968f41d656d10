"""Block pruning as real speed: DeiT-S through ExecuTorch+XNNPACK and LiteRT, and accuracy on Fashion-MNIST.

Speed: every variant shares one set of random DeiT-S weights (fine for speed), is compacted, exported
with the project's converters (`vitsdk.converters`) and timed in the real runtimes round-robin in one
run, so machine noise hits all alike. Variants: dense; dense keep 0.7; 50% block-pruned in each
compaction mode (mask = zeros only, remove = whole hidden units/heads removed, gather = block-compact
matmuls) and a few block shapes; the best pruned layout + keep 0.7. Columns: MACs, weight bytes (the
exported file), median latency, speedup over dense, MAC ratio and speedup / MAC ratio.

Accuracy: a small ViT on real Fashion-MNIST, same training budget: dense for E epochs vs dense for
E - F epochs, 50% block pruning, F epochs of masked fine-tuning; top-1 on the test set.

Writes benchmarks/results/pruning.json. Run it alone (`flock /tmp/vitsdk-bench.lock ...`): the
machine's cores are shared.

    python benchmarks/pruning.py [--threads 1] [--rounds 20] [--variants a,b] [--skip-accuracy] [--quick]
    python benchmarks/pruning.py --skip-speed --skip-accuracy --profile "32x32 cols gather,fullx32 cols gather"
    python benchmarks/pruning.py --phones --model vit_micro_patch4_28 --threads-list 1,2   # the phone matrix

The phone matrix (`--phones`, issue 18): dense vs 16x16, 32x32 and fullx32 at the ratio, each with and
without keep 0.7, compacted as `vitsdk prune` loads them ('auto'); fp32 on both runtimes (LiteRT pruned
files both block-sparse and dense-stored), int8 for dense and the best layout (ExecuTorch static and
dynamic int8, LiteRT static int8); at each thread count of --threads-list, round-robin in one run.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from vitsdk.models import count, create_model
from vitsdk.sparsity import BlockPruneConfig, compact, prune_

RESULTS = Path(__file__).parent / "results"
console = Console(width=150)


@dataclass
class Variant:
    label: str
    block: str | None = None  # None: dense
    direction: str = "columns"
    mode: str = "gather"
    keep_rate: float = 1.0


VARIANTS = [
    Variant("dense"),
    Variant("dense keep0.7", keep_rate=0.7),
    Variant("32x32 cols mask", "32x32", mode="mask"),
    Variant("32x32 cols remove", "32x32", mode="remove"),
    Variant("32x32 cols gather", "32x32"),
    Variant("128x32 cols gather", "128x32"),
    Variant("32x32 rows gather", "32x32", direction="rows"),
    Variant("fullx32 cols remove", "fullx32", mode="remove"),
    Variant("fullx32 cols gather", "fullx32"),
    Variant("fullx32 cols gather keep0.7", "fullx32", keep_rate=0.7),
]


@dataclass
class Built:
    variant: Variant
    macs: int
    params: int
    files: dict[str, Path] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    export_s: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    reference: np.ndarray | None = None


def variant_model(base: torch.nn.Module, model_name: str, v: Variant, ratio: float) -> torch.nn.Module:
    """The variant of `base` (shared random weights): its token keep rate, and for a pruned variant its block
    pruning at `ratio` compacted in its mode."""
    model = create_model(model_name, keep_rate=v.keep_rate).eval()
    model.load_state_dict(base.state_dict())
    if v.block is not None:
        prune_(model, BlockPruneConfig(block_shape=v.block, ratio=ratio, direction=v.direction))
        model = compact(model, v.mode)
    return model


def build(variants: list[Variant], model_name: str, ratio: float, runtimes: list[str], folder: Path,
          x: torch.Tensor) -> list[Built]:
    from vitsdk.converters.executorch import to_pte
    from vitsdk.converters.litert import to_tflite

    torch.manual_seed(0)
    base = create_model(model_name).eval()
    built = []
    for i, v in enumerate(variants):
        model = variant_model(base, model_name, v, ratio)
        acc = count(model)
        b = Built(v, acc.macs, acc.params)
        with torch.no_grad():
            b.reference = model(x).numpy()
        for runtime in runtimes:
            path = folder / f"v{i}.{'pte' if runtime == 'executorch' else 'tflite'}"
            start = time.perf_counter()
            try:
                if runtime == "executorch":
                    to_pte(model, (x,), path)
                else:
                    to_tflite(model, (x,), path)
                b.files[runtime] = path
                b.sizes[runtime] = path.stat().st_size
            except Exception as exc:  # one variant failing to export must not lose the others
                b.errors[runtime] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                traceback.print_exc()
            b.export_s[runtime] = time.perf_counter() - start
            console.print(f"[dim]{v.label:30s} {runtime:10s} export {b.export_s[runtime]:6.1f} s "
                          f"{b.sizes.get(runtime, 0) / 2**20:7.2f} MiB {b.errors.get(runtime, '')}[/dim]")
        built.append(b)
    return built


def round_robin(files: dict, data: np.ndarray, rounds: int, threads: int, warmup: int) -> dict:
    """Round-robin timing: `files` maps a key to (runtime, path, reference output); every round runs each file
    once, so machine noise hits all alike. Returns {"times": {key: [ms]}, "max_err": {key: max |out - ref|}}."""
    from vitsdk.bench.runtimes import load

    runners, max_err = {}, {}
    for key, (runtime, path, reference) in files.items():
        run = load(runtime, path, threads).predict   # ExecuTorch: sets its thread pool to `threads`
        max_err[key] = float(np.abs(run(data) - reference).max())
        for _ in range(warmup):
            run(data)
        runners[key] = run
    times: dict = {key: [] for key in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            start = time.perf_counter()
            run(data)
            times[key].append((time.perf_counter() - start) * 1e3)
    return {"times": times, "max_err": max_err}


def measure(built: list[Built], runtimes: list[str], x: torch.Tensor, rounds: int, threads: int) -> dict:
    """Round-robin timing of every (variant, runtime) file; also checks outputs."""
    files = {(i, runtime): (runtime, path, b.reference) for i, b in enumerate(built) for runtime, path in b.files.items()}
    return round_robin(files, x.numpy(), rounds, threads, warmup=2)


PHONE_VARIANTS = [Variant("dense", mode="auto"), Variant("dense keep0.7", mode="auto", keep_rate=0.7)] + [
    Variant(f"{block}{' keep0.7' if keep < 1 else ''}", block, mode="auto", keep_rate=keep)
    for block in ("16x16", "32x32", "fullx32") for keep in (1.0, 0.7)]
# (runtime, precision, weight storage) per file; int8 only for --int8-variants (export time on a shared machine)
PHONE_FILES = [("executorch", "fp32", None), ("litert", "fp32", "auto"), ("litert", "fp32", "dense")]
PHONE_INT8 = [("executorch", "int8-dynamic", None), ("executorch", "int8", None), ("litert", "int8", "auto")]


def _fail(message: str) -> None:
    """A usage mistake: one `error:` line, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def phones(args) -> dict:
    """The issue-18 matrix: file bytes and latency of every (variant, runtime, precision, storage, threads)."""
    if not args.files:
        with tempfile.TemporaryDirectory(prefix="vitsdk-phones-") as tmp:
            return _phones_in(args, Path(tmp))
    folder = Path(args.files)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot use --files {folder}: {exc.strerror}; pass a writable folder")
    return _phones_in(args, folder)


def _phones_in(args, folder: Path) -> dict:
    rows, files = export_phone_files(args, folder)
    if not rows:
        _fail(f"--variants {args.variants!r} names no variant of the matrix "
                 f"({', '.join(v.label for v in PHONE_VARIANTS)})")
    if args.export_only:
        console.print(f"exported {len(rows)} files to {folder}; time them with --files {folder}")
        return {"model": args.model, "ratio": args.ratio, "exported": len(rows)}
    return time_phone_files(args, rows, files, folder)


def export_phone_files(args, folder: Path) -> tuple[list[dict], dict]:
    """Exports (or, with --files, reuses from an earlier run) every file of the matrix, with its row."""
    from vitsdk.converters.executorch import to_pte
    from vitsdk.converters.litert import convert_float, to_tflite

    c = create_model(args.model).config
    torch.manual_seed(1)
    x = torch.randn(1, c.in_chans, c.img_size, c.img_size)
    calibration = torch.randn(16, c.in_chans, c.img_size, c.img_size)  # speed only: ranges need not be real
    torch.manual_seed(0)
    base = create_model(args.model).eval()
    np.save(folder / "input.npy", x.numpy())
    rows, files = [], {}
    names = set(args.variants.split(",")) if args.variants else None
    for i, v in enumerate(PHONE_VARIANTS):
        if names is not None and v.label not in names:
            continue
        model = None
        int8 = [f for f in PHONE_INT8 if f[0] != "executorch" or f[1] in args.executorch_int8.split(",")]
        wanted = PHONE_FILES + (int8 if v.label in args.int8_variants.split(",") else [])
        float_tflite = None
        for runtime, precision, storage in wanted:
            if v.block is None and storage == "dense":
                continue  # a dense model's file is the same either way
            if runtime == "executorch" and v.label in args.litert_only.split(","):
                continue
            stem = f"v{i}-{runtime}-{precision}-{storage}"
            path = folder / f"{stem}.{'pte' if runtime == 'executorch' else 'tflite'}"
            saved = folder / f"{stem}.json"
            key = (i, runtime, precision, storage or "dense")
            if saved.exists() and path.exists():  # exported by an earlier --files run of the same matrix
                row = json.loads(saved.read_text())
                made = tuple(row.get(k) for k in ("model", "ratio", "variant", "block", "keep_rate"))
                if made != (args.model, args.ratio if v.block else 0.0, v.label, v.block, v.keep_rate):
                    _fail(f"{saved} was exported for another matrix {made}; use another --files folder")
                row.update(key=key, reference=np.load(folder / f"{stem}.npy"))
                rows.append(row)
                files[key] = path
                continue
            if model is None:
                model = variant_model(base, args.model, v, args.ratio)
                with torch.no_grad():
                    reference = model(x).numpy()
                macs = count(model).macs
            start = time.perf_counter()
            if runtime == "executorch":
                info = to_pte(model, (x,), path, precision, calibration=calibration)
            else:
                float_tflite = float_tflite or convert_float(model, (x,))
                info = to_tflite(model, (x,), path, precision, calibration=calibration, float_model=float_tflite,
                                 weight_storage=storage)
            row = {"model": args.model, "variant": v.label, "storage_requested": storage, "block": v.block, "keep_rate": v.keep_rate,
                   "ratio": args.ratio if v.block else 0.0, "runtime": runtime, "precision": precision,
                   "weight_storage": (info.weight_storage or {}).get("storage", "dense"),
                   "file_bytes": info.size_bytes, "gmacs": macs / 1e9,
                   "subgraphs": (info.delegation or {}).get("subgraphs"),
                   "export_s": round(time.perf_counter() - start, 1)}
            np.save(folder / f"{stem}.npy", reference)
            saved.write_text(json.dumps(row) + "\n")
            rows.append({**row, "key": key, "reference": reference})
            files[key] = path
            console.print(f"[dim]{v.label:22s} {runtime:10s} {precision:12s} {storage or '':5s} "
                          f"{info.size_bytes / 2**20:7.3f} MiB export {row['export_s']:6.1f} s[/dim]")
    return rows, files


def time_phone_files(args, rows: list[dict], files: dict, folder: Path) -> dict:
    """Round-robin timing of every exported file at each thread count of --threads-list."""
    data = np.load(folder / "input.npy")
    out_rows = []
    for threads in [int(t) for t in args.threads_list.split(",")]:
        timing = round_robin({r["key"]: (r["runtime"], files[r["key"]], r["reference"]) for r in rows}, data,
                             args.rounds, threads, warmup=3)
        for r in rows:
            t = timing["times"][r["key"]]
            out_rows.append({**{k: v for k, v in r.items() if k not in ("reference", "key")}, "threads": threads,
                             "median_ms": statistics.median(t), "p10_ms": float(np.percentile(t, 10)),
                             "p90_ms": float(np.percentile(t, 90)), "max_abs_err": timing["max_err"][r["key"]]})
    for r in out_rows:  # speedup over the dense model on the same runtime, precision and thread count
        base_row = next(b for b in out_rows if b["variant"] == "dense" and b["runtime"] == r["runtime"]
                        and b["precision"] == r["precision"] and b["threads"] == r["threads"])
        r["speedup"] = base_row["median_ms"] / r["median_ms"]
        r["mac_ratio"] = base_row["gmacs"] / r["gmacs"]
        r["file_ratio"] = r["file_bytes"] / base_row["file_bytes"]
        fp32 = next((b for b in out_rows if b["variant"] == r["variant"] and b["runtime"] == r["runtime"]
                     and b["precision"] == "fp32" and b["threads"] == r["threads"]), None)
        r["speedup_over_fp32"] = fp32["median_ms"] / r["median_ms"] if fp32 else None
    table = Table(title=f"{args.model} batch 1, {args.ratio:.0%} block pruning ('auto' compaction), {args.rounds} "
                        f"round-robin runs per file (2 shared cores: noisy)")
    for col in ("variant", "runtime", "prec", "weights", "thr", "KiB", "file/dense", "median ms", "p10-p90",
                "speedup", "MAC ratio", "vs fp32"):
        table.add_column(col, justify="left" if col in ("variant", "runtime", "prec", "weights") else "right")
    for r in out_rows:
        table.add_row(r["variant"], r["runtime"], r["precision"],
                      r["weight_storage"] + (" (asked dense)" if r["storage_requested"] == "dense" else ""), str(r["threads"]),
                      f"{r['file_bytes'] / 1024:.0f}", f"{r['file_ratio']:.2f}", f"{r['median_ms']:.2f}",
                      f"{r['p10_ms']:.2f}-{r['p90_ms']:.2f}", f"{r['speedup']:.2f}x", f"{r['mac_ratio']:.2f}x",
                      "" if r["speedup_over_fp32"] is None or r["precision"] == "fp32" else f"{r['speedup_over_fp32']:.2f}x")
    console.print(table)
    return {"model": args.model, "ratio": args.ratio, "rounds": args.rounds, "rows": out_rows}


def speed(args) -> dict:
    names = set(args.variants.split(",")) if args.variants else None
    variants = [v for v in VARIANTS if names is None or v.label in names]
    if args.quick:
        variants = [v for v in VARIANTS if v.label in ("dense", "32x32 cols gather", "fullx32 cols gather",
                                                       "fullx32 cols gather keep0.7")]
        variants = [Variant(v.label.replace("32x32", "16x16").replace("fullx32", "fullx16"),
                            v.block and v.block.replace("32", "16"), v.direction, v.mode, v.keep_rate) for v in variants]
    runtimes = args.runtimes.split(",")
    c = create_model(args.model).config
    x = torch.randn(1, c.in_chans, c.img_size, c.img_size)
    with tempfile.TemporaryDirectory() as tmp:
        built = build(variants, args.model, args.ratio, runtimes, Path(tmp), x)
        timing = measure(built, runtimes, x, args.rounds, args.threads)
    dense = built[0]
    rows = []
    for i, b in enumerate(built):
        for runtime in runtimes:
            times = timing["times"].get((i, runtime))
            row = {"variant": b.variant.label, "runtime": runtime, "block": b.variant.block,
                   "direction": b.variant.direction, "compaction": b.variant.mode if b.variant.block else None,
                   "keep_rate": b.variant.keep_rate, "ratio": args.ratio if b.variant.block else 0.0,
                   "gmacs": b.macs / 1e9, "params": b.params, "file_bytes": b.sizes.get(runtime),
                   "export_s": round(b.export_s.get(runtime, 0.0), 2), "error": b.errors.get(runtime)}
            if times:
                base = timing["times"].get((0, runtime))
                median = statistics.median(times)
                mac_ratio = dense.macs / b.macs
                row.update(median_ms=median, min_ms=min(times), p90_ms=float(np.percentile(times, 90)),
                           max_abs_err=timing["max_err"][(i, runtime)], mac_ratio=mac_ratio)
                if base:
                    row["speedup"] = statistics.median(base) / median
                    row["speedup_over_mac_ratio"] = row["speedup"] / mac_ratio
            rows.append(row)
    table = Table(title=f"{args.model} batch 1, {args.ratio:.0%} block pruning, {args.threads} thread(s), "
                        f"{args.rounds} round-robin runs (shared, noisy machine)")
    for col in ("variant", "runtime", "GMACs", "MiB", "median ms", "p90 ms", "speedup", "MAC ratio", "speedup/MACr",
                "max err"):
        table.add_column(col, justify="left" if col in ("variant", "runtime") else "right")
    for r in rows:
        if "median_ms" not in r:
            table.add_row(r["variant"], r["runtime"], f"{r['gmacs']:.3f}", "-", "failed", "", "", "", "",
                          (r["error"] or "")[:40])
            continue
        table.add_row(r["variant"], r["runtime"], f"{r['gmacs']:.3f}", f"{(r['file_bytes'] or 0) / 2**20:.1f}",
                      f"{r['median_ms']:.1f}", f"{r['p90_ms']:.1f}", f"{r.get('speedup', float('nan')):.2f}x",
                      f"{r['mac_ratio']:.2f}x", f"{r.get('speedup_over_mac_ratio', float('nan')):.2f}",
                      f"{r['max_abs_err']:.1e}")
    console.print(table)
    return {"model": args.model, "rows": rows}


def accuracy(args) -> dict:
    """Dense for E epochs vs dense E-F epochs + 50% block pruning + F epochs of fine-tuning (same budget),
    once per pruning method (criterion:schedule), all starting from the same E-F epoch model."""
    import copy

    from vitsdk.data import load_dataset
    from vitsdk.sparsity.finetune import FinetuneSettings, finetune_pruned
    from vitsdk.training import TrainConfig, evaluate, fit

    train = load_dataset("fashion-mnist", "train").subset(args.acc_train, seed=0)
    test = load_dataset("fashion-mnist", "test").subset(args.acc_test, seed=0)
    E, F = args.acc_epochs, args.acc_finetune

    def recipe(epochs):
        return TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=0)

    results = {"model": args.acc_model, "train_examples": len(train), "test_examples": len(test),
               "epochs": E, "finetune_epochs": F, "block": args.acc_block, "ratio": args.ratio, "methods": {}}
    torch.manual_seed(0)
    dense = create_model(args.acc_model)
    start = time.perf_counter()
    fit(dense, train, recipe(E))
    results["dense_top1"] = evaluate(dense, test)
    results["dense_train_s"] = time.perf_counter() - start
    torch.manual_seed(0)
    early = create_model(args.acc_model)
    fit(early, train, recipe(E - F))
    results["before_prune_top1"] = evaluate(early, test)
    settings = FinetuneSettings(epochs=F, train_examples=args.acc_train, eval_examples=args.acc_test, batch_size=128,
                                lr=5e-4, seed=0)
    for method in args.acc_methods.split(","):
        criterion, schedule = method.split(":")
        config = BlockPruneConfig(block_shape=args.acc_block, ratio=args.ratio, criterion=criterion, schedule=schedule)
        model = copy.deepcopy(early)
        start = time.perf_counter()
        summary = finetune_pruned(model, config, settings, progress=False)
        compacted = compact(model, "gather")
        results["methods"][method] = {
            "pruned_no_finetune_top1": summary["top1_before"], "pruned_finetuned_top1": summary["top1_after"],
            "compacted_top1": evaluate(compacted, test), "finetune_s": time.perf_counter() - start,
            "gmacs": count(compacted).macs / 1e9,
            "loss_points": 100 * (results["dense_top1"] - summary["top1_after"])}
    results["dense_gmacs"] = count(dense).macs / 1e9
    table = Table(title=f"{args.acc_model} on Fashion-MNIST ({len(train)} train / {len(test)} test), same budget of "
                        f"{E} epochs: dense, or {E - F} dense + prune {args.acc_block} {args.ratio:.0%} + {F} fine-tune")
    for col in ("model", "GMACs", "top-1 at fine-tune start", "top-1", "compacted top-1", "loss vs dense (points)"):
        table.add_column(col, justify="right")
    table.add_row(f"dense {E} ep", f"{results['dense_gmacs']:.4f}", "", f"{100 * results['dense_top1']:.2f}%", "", "")
    table.add_row(f"dense {E - F} ep", f"{results['dense_gmacs']:.4f}", "", f"{100 * results['before_prune_top1']:.2f}%",
                  "", "")
    for method, r in results["methods"].items():
        before = r["pruned_no_finetune_top1"]
        table.add_row(f"pruned {method}", f"{r['gmacs']:.4f}", "-" if before is None else f"{100 * before:.2f}%",
                      f"{100 * r['pruned_finetuned_top1']:.2f}%", f"{100 * r['compacted_top1']:.2f}%",
                      f"{r['loss_points']:.2f} (target <= 1.0)")
    console.print(table)
    return results


def profile(args) -> dict:
    """Where the time goes in each variant's compact model: torch.profiler op totals (eager PyTorch,
    same ops as the exported graphs; XNNPACK's kernels differ, the op mix does not)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    names = args.profile.split(",")
    torch.manual_seed(0)
    base = create_model(args.model).eval()
    c = base.config
    x = torch.randn(1, c.in_chans, c.img_size, c.img_size)
    out = {}
    for v in (v for v in VARIANTS if v.label in names):
        model = variant_model(base, args.model, v, args.ratio)
        with torch.inference_mode():
            for _ in range(2):
                model(x)
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(5):
                    model(x)
        events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        total = sum(e.self_cpu_time_total for e in events)
        top = [{"op": e.key, "share": e.self_cpu_time_total / total, "ms_per_run": e.self_cpu_time_total / 5e3,
                "calls_per_run": e.count // 5} for e in events[:8]]
        out[v.label] = {"ms_per_run": total / 5e3, "top": top}
        table = Table(title=f"profile: {v.label} (eager, {args.threads} thread(s)), {total / 5e3:.1f} ms per run")
        for col in ("op", "share", "ms/run", "calls/run"):
            table.add_column(col, justify="left" if col == "op" else "right")
        for t in top:
            table.add_row(t["op"], f"{100 * t['share']:.1f}%", f"{t['ms_per_run']:.1f}", str(t["calls_per_run"]))
        console.print(table)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deit_small_patch16_224")
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--runtimes", default="executorch,litert")
    parser.add_argument("--variants", default="", help="comma list of variant labels (default: all)")
    parser.add_argument("--rounds", type=int, default=20, help="timed runs per variant and runtime (round-robin)")
    parser.add_argument("--threads", type=int, default=1,
                        help="runtime threads (1 by default: on a contended 2-core machine 2 threads were slower and noisier)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--acc-model", default="vit_nano_patch4_28")
    parser.add_argument("--acc-block", default="16x16")
    parser.add_argument("--acc-train", type=int, default=20000)
    parser.add_argument("--acc-test", type=int, default=10000)
    parser.add_argument("--acc-epochs", type=int, default=6)
    parser.add_argument("--acc-finetune", type=int, default=2)
    parser.add_argument("--acc-methods", default="l2:one_shot,l2:gradual", help="criterion:schedule list to compare")
    parser.add_argument("--profile", default="", help="comma list of variant labels to profile (op time shares)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (vit_nano, 4 variants, small data)")
    parser.add_argument("--phones", action="store_true", help="the phone matrix only (see the module docstring)")
    parser.add_argument("--threads-list", default="1,2", help="thread counts for --phones, timed in one run")
    parser.add_argument("--litert-only", default="", help="--phones variants exported to LiteRT only (comma "
                        "list; ExecuTorch lowering takes minutes per file on a shared 2-core machine)")
    parser.add_argument("--executorch-int8", default="int8-dynamic,int8", help="ExecuTorch int8 precisions for --phones")
    parser.add_argument("--files", default="", help="--phones: keep the exported files in this folder, and reuse "
                        "the ones an earlier run left there (export under load, time later on an idle machine)")
    parser.add_argument("--export-only", action="store_true", help="--phones: export the files, time nothing")
    parser.add_argument("--int8-variants", default="dense,fullx32 keep0.7", help="--phones variants also exported "
                        "in int8 (comma list; '' for none)")
    args = parser.parse_args()
    if args.quick:
        args.model, args.rounds = "vit_nano_patch4_28", 5
        args.acc_train, args.acc_test, args.acc_epochs, args.acc_finetune = 1024, 512, 2, 1
    torch.set_num_threads(args.threads)
    report = {"benchmark": "pruning", "quick": args.quick, "host": platform.platform(),
              "machine_note": "2 cores shared with other jobs: latencies are noisy; compare within this run only",
              "threads": args.threads, "rounds": args.rounds, "torch": torch.__version__}
    if args.phones:
        report["phones"] = phones(args)
        args.skip_speed = args.skip_accuracy = True
    if args.profile:
        report["profile"] = profile(args)
    if not args.skip_speed:
        report["speed"] = speed(args)
    if not args.skip_accuracy:
        report["accuracy"] = accuracy(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    parts = [part for part, ran in (("speed", "speed" in report), ("accuracy", "accuracy" in report),
                                    ("profile", "profile" in report), ("phones", "phones" in report)) if ran]
    name = "pruning" + ("_quick" if args.quick else "") + ("" if parts == ["speed", "accuracy"] else
                                                             "_" + "_".join(parts)) + ".json"
    if args.phones:
        name = f"pruning_phones_{args.model}" + ("_exported" if args.export_only else "") + ".json"
    (RESULTS / name).write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
