"""Token keep rate vs MACs and measured eager latency (DeiT-S on this CPU by default).

All variants share one model's weights and are timed round-robin in one run, so machine noise hits
them alike. `ideal` is the speedup the MAC ratio promises; `measured / ideal` says how much of it
eager PyTorch turns into time. Writes benchmarks/results/tokens.json.

    python benchmarks/tokens.py [--model deit_small_patch16_224] [--batch 1] [--rounds 30] [--quick]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from vitsdk.models import count, create_model

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deit_small_patch16_224")
    parser.add_argument("--keep-rates", default="1.0,0.9,0.7,0.5")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30, help="timed runs per variant (round-robin)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (vit_micro, 5 rounds)")
    args = parser.parse_args()
    if args.quick:
        args.model, args.rounds = "vit_micro_patch4_28", 5
    torch.set_num_threads(args.threads)

    rates = [float(r) for r in args.keep_rates.split(",")]
    variants = [(f"keep {r}", dict(keep_rate=r)) for r in rates]
    variants += [(f"keep {r} fused", dict(keep_rate=r, fuse_token=True)) for r in rates if r < 1.0]
    base = create_model(args.model).eval()
    models = []
    for label, overrides in variants:
        model = create_model(args.model, **overrides).eval()
        model.load_state_dict(base.state_dict())
        models.append((label, model, count(model)))
    c = base.config
    x = torch.randn(args.batch, c.in_chans, c.img_size, c.img_size)

    times: dict[str, list[float]] = {label: [] for label, _, _ in models}
    with torch.inference_mode():
        for _, model, _ in models:  # warm-up
            for _ in range(3):
                model(x)
        for _ in range(args.rounds):
            for label, model, _ in models:
                start = time.perf_counter()
                model(x)
                times[label].append((time.perf_counter() - start) * 1e3)

    dense_macs = models[0][2].macs
    dense_ms = statistics.median(times[models[0][0]])
    rows = []
    for label, model, acc in models:
        median = statistics.median(times[label])
        ideal = dense_macs / acc.macs
        measured = dense_ms / median
        rows.append({"variant": label, "keep_rate": model.config.keep_rate, "fuse_token": model.config.fuse_token,
                     "gmacs": acc.macs / 1e9, "tokens_per_block": [b.tokens_mlp for b in acc.blocks],
                     "median_ms": median, "min_ms": min(times[label]), "ideal_speedup": ideal,
                     "measured_speedup": measured, "measured_over_ideal": measured / ideal})

    table = Table(title=f"{args.model}, batch {args.batch}, eager PyTorch, {args.threads} threads, "
                        f"{args.rounds} round-robin runs")
    for col in ("variant", "GMACs", "median ms", "min ms", "ideal x", "measured x", "measured/ideal"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["variant"], f"{r['gmacs']:.3f}", f"{r['median_ms']:.2f}", f"{r['min_ms']:.2f}",
                      f"{r['ideal_speedup']:.2f}", f"{r['measured_speedup']:.2f}", f"{r['measured_over_ideal']:.2f}")
    Console().print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("tokens_quick.json" if args.quick else "tokens.json")
    out.write_text(json.dumps({"benchmark": "tokens", "model": args.model, "batch": args.batch,
                               "threads": args.threads, "rounds": args.rounds, "torch": torch.__version__,
                               "machine": platform.machine(), "processor": platform.processor(),
                               "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
