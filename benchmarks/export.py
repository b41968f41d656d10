"""Export benchmark: per target and precision, export time, file size, parity with PyTorch, top-1,
host latency (median of a warm run) and the speedup of quantized files over fp32, for a dense, a
token-dropped and a block-pruned ViT trained briefly on Fashion-MNIST. Everything in one run.

    flock /tmp/vitsdk-bench.lock .venv/bin/python benchmarks/export.py           # vit_micro, 1,000 test images
    flock /tmp/vitsdk-bench.lock .venv/bin/python benchmarks/export.py --quick   # vit_nano, smoke run
    .venv/bin/python benchmarks/export.py --checkpoint CKPT --targets executorch --precisions fp32,int8-dynamic \
        --variants dense --name export_int8   # one slice of the table (exports take minutes each)

Writes benchmarks/results/export.json (export_quick.json with --quick) and prints a table. Core ML
files are converted and validated but cannot run on Linux: their latency and accuracy are "n/a".
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vitsdk.atomic import write_json
from vitsdk.bench.runtimes import HOST_RUNTIMES, load
from vitsdk.converters import ExportOptions, export
from vitsdk.converters.quiet import quiet
from vitsdk.converters.targets import TARGETS
from vitsdk.errors import UserError

RESULTS = Path(__file__).resolve().parent / "results"
PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8", "int8-full")
FILE_TARGETS = tuple(TARGETS["all"].members)


def train_briefly(model: torch.nn.Module, steps: int, batch: int = 64, masks: bool = False) -> torch.nn.Module:
    """AdamW on Fashion-MNIST train images: enough for a meaningful top-1, not a good model."""
    from vitsdk.data import load_dataset

    c = model.config
    data = load_dataset("fashion-mnist", "train").subset(min(60000, steps * batch), seed=1)
    x = data.to_tensor(c.img_size, c.in_chans, c.mean, c.std)
    y = torch.from_numpy(data.labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(x), (batch,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if masks:
            from vitsdk.sparsity import apply_masks_

            apply_masks_(model)
    return model.eval()


def latency_ms(run, x: np.ndarray, min_runs: int, min_seconds: float, warmup: int) -> dict:
    """Median (and p90) of timed runs after a warm-up; runs until both minimums are met."""
    for _ in range(warmup):
        run(x)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))], "runs": len(times)}


def variants(quick: bool, work: Path, trained: Path | None = None) -> list[tuple[str, str, dict]]:
    """(label, model spec for export, overrides) for dense, token-dropped and block-pruned models.

    `trained`: a checkpoint to start from (e.g. one `benchmarks/training.py --keep-checkpoints` wrote)
    instead of training briefly here."""
    from vitsdk.models import create_model, load_model, save_checkpoint

    name = "vit_nano_patch4_28" if quick else "vit_micro_patch4_28"
    steps = 300 if quick else 600
    torch.manual_seed(0)
    if trained is not None:
        model = load_model(trained, keep_rate=1.0, attn_keep=1.0).eval()   # "dense": every token, every key
        print(f"using {trained} ({model.config.name})", flush=True)
    else:
        t = time.perf_counter()
        model = train_briefly(create_model(name), steps)
        print(f"trained {name} for {steps} steps in {time.perf_counter() - t:.0f} s", flush=True)
    checkpoint = save_checkpoint(model, work / "dense.safetensors")
    out = [("dense", str(checkpoint), {}), ("keep 0.7", str(checkpoint), {"keep_rate": 0.7})]
    try:
        from vitsdk.sparsity import BlockPruneConfig, prune_, save_pruned
    except ImportError:
        print("vitsdk.sparsity not available: no pruned variant", flush=True)
        return out
    block = (16, 16) if quick else (32, 32)
    prune_(model, BlockPruneConfig(block_shape=block, ratio=0.5))
    train_briefly(model, steps // 4, masks=True)  # short masked fine-tune
    folder = save_pruned(model, work / "pruned")
    out.append((f"pruned 50% {block[0]}x{block[1]}", str(folder), {}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="vit_nano, fewer images and runs (smoke test)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="start from this trained checkpoint instead of training briefly here")
    parser.add_argument("--targets", default=",".join(FILE_TARGETS), help="comma list of file targets")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma list of precisions")
    parser.add_argument("--variants", default="", help="comma list of variant labels (default: all)")
    parser.add_argument("--name", default="", help="results file name (default: export / export_quick)")
    args = parser.parse_args()
    quick = args.quick
    wanted = set(args.variants.split(",")) if args.variants else None
    accuracy_samples = 300 if quick else 1000
    min_runs, min_seconds, warmup = (20, 0.3, 5) if quick else (100, 2.0, 20)
    torch.set_num_threads(1)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, spec, overrides in variants(quick, work, args.checkpoint):
            if wanted is not None and label not in wanted:
                continue
            # One bundle per file target, so a target that refuses a model (the FPGA engine does not fuse
            # dropped tokens) is a row saying why instead of ending the benchmark.
            bundles = []
            for target in args.targets.split(","):
                precisions = tuple(p for p in args.precisions.split(",") if p in TARGETS[target].precisions)
                options = ExportOptions(target=target, precisions=precisions, calib_data="fashion-mnist",
                                        calib_samples=128, accuracy_data="fashion-mnist",
                                        accuracy_samples=accuracy_samples, allow_mismatch=True)
                t = time.perf_counter()
                try:
                    bundles.append(export(spec, output=work / f"bundle-{len(rows)}-{target}", options=options,
                                          log=lambda line: print("  " + line, flush=True), **overrides))
                except UserError as exc:
                    print(f"{label}: {target} refused: {exc}", flush=True)
                    rows.append({"variant": label, "target": target, "precision": None, "runtime": None,
                                 "refused": str(exc), "export_s": None, "size_bytes": None, "rel_diff": None,
                                 "top1": None, "top1_pytorch": None, "coverage": None, "latency": None, "macs": None})
                    continue
                print(f"{label}: {target} exported in {time.perf_counter() - t:.0f} s", flush=True)
            bundle = bundles[0]
            inputs, _ = bundle.reference()
            x = inputs[:1]
            from vitsdk.resolve import resolve_model

            model = resolve_model(spec, **overrides).eval()
            with torch.no_grad():
                eager = latency_ms(lambda a: model(torch.from_numpy(a)), x, min_runs, min_seconds, warmup)
            rows.append({"variant": label, "target": "pytorch", "precision": "fp32", "runtime": "torch eager",
                         "export_s": None, "size_bytes": None, "rel_diff": 0.0,
                         "top1": bundle.manifest["accuracy"]["top1"], "top1_pytorch": bundle.manifest["accuracy"]["top1"],
                         "coverage": None, "latency": eager, "macs": bundle.manifest["accounting"]["macs"]})
            for bundle in bundles:
                for f in bundle.entries():
                    v = f["verification"]
                    row = {"variant": label, "target": f["target"], "precision": f["precision"], "runtime": f["runtime"],
                           "export_s": f["export_s"], "size_bytes": f["size_bytes"],
                           "rel_diff": v.get("rel_diff"), "parity_status": v["status"],
                           "top1": (f.get("accuracy") or {}).get("top1"),
                           "top1_pytorch": (f.get("accuracy") or {}).get("top1_pytorch"),
                           "top1_agreement": (f.get("accuracy") or {}).get("top1_agreement"),
                           "coverage": (f.get("delegation") or {}).get("coverage"),
                           "non_delegated_ops": (f.get("delegation") or {}).get("non_delegated_ops"),
                           "latency": None, "macs": f["macs"]}
                    if v.get("executed") and f["runtime"] in HOST_RUNTIMES:   # fpga ran in RTL simulation: no latency
                        with quiet():
                            predict = load(f["runtime"], bundle.inside(f["path"])).predict
                            row["latency"] = latency_ms(predict, x, min_runs, min_seconds, warmup)
                    rows.append(row)
    for row in rows:  # speedup of each precision over the same target's fp32 file
        base = next((r for r in rows if r["variant"] == row["variant"] and r["target"] == row["target"]
                     and r["precision"] == "fp32"), None)
        ok = base and base["latency"] and row["latency"]
        row["speedup_vs_fp32"] = base["latency"]["median_ms"] / row["latency"]["median_ms"] if ok else None
    print_table(rows)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ((args.name or ("export_quick" if quick else "export")) + ".json")
    meta = {"benchmark": "export", "quick": quick, "checkpoint": str(args.checkpoint) if args.checkpoint else None, "threads": 1, "machine": platform.machine(),
            "python": platform.python_version(), "accuracy_samples": accuracy_samples,
            "latency_protocol": f"warm-up {warmup} runs, then >= {min_runs} runs and >= {min_seconds} s; batch 1; "
                                f"1 thread (torch.set_num_threads(1); runtimes at their defaults)",
            "parity_metric": "max |runtime - pytorch| / max |pytorch| on 8 reference inputs",
            "note": "Core ML files are converted and validated, not executed (needs macOS); all figures measured. "
                    "export_s of tflite fp16/int8* excludes the fp32 conversion they share (counted in the fp32 row). "
                    "top-1 of the 'keep 0.7' variant: the dense-trained model run with token dropping (no fine-tune)."}
    write_json(path, {"meta": meta, "rows": rows})
    print(f"wrote {path}")


def print_table(rows: list[dict]) -> None:
    header = (f"{'variant':<18} {'target':<10} {'precision':<12} {'export s':>8} {'size KiB':>9} {'parity':>9} "
              f"{'top-1':>6} {'d top-1':>7} {'agree':>6} {'XNN cov':>7} {'median ms':>9} {'x fp32':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        if r.get("refused"):
            print(f"{r['variant']:<18} {r['target']:<10} refused: {r['refused']}")
            continue

        def f(value, fmt, width):
            return f"{value:{fmt}}".rjust(width) if value is not None else "n/a".rjust(width)
        delta = (r["top1"] - r["top1_pytorch"]) * 100 if r["top1"] is not None and r["top1_pytorch"] is not None else None
        size = r["size_bytes"] / 1024 if r["size_bytes"] else None
        latency = r["latency"]["median_ms"] if r["latency"] else None
        print(f"{r['variant']:<18} {r['target']:<10} {r['precision']:<12} {f(r['export_s'], '.1f', 8)} "
              f"{f(size, '.1f', 9)} {f(r['rel_diff'], '.1e', 9)} {f(r['top1'], '.4f', 6)} {f(delta, '+.1f', 7)} "
              f"{f(r.get('top1_agreement'), '.1%', 6)} {f(r['coverage'], '.0%', 7)} {f(latency, '.3f', 9)} {f(r['speedup_vs_fp32'], '.2f', 6)}")


if __name__ == "__main__":
    sys.exit(main())
