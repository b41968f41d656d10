"""Tri-Level sparse training vs dense on Fashion-MNIST: wall time, img/s and top-1 per sparsity level.

Variants (same model, epochs, seed and recipe): dense; each level alone (examples in the reference's
forgetting mode and in the soft InfoBatch mode, tokens, attention); all three with either example
mode. They run round-robin one epoch at a time (each pauses after its epoch and resumes from its
checkpoint, which the tests show is exact), so machine noise from other work on the shared CPU hits
every variant alike. Training time is the time inside the training loop (no evaluation or
checkpointing), as wall clock and as process CPU time; top-1 is measured on the full 10k test set with
the final model at its trained sparsity (and, for reference, with the sparsity switched off). With
--eval-every-epoch the dense run is also evaluated after every epoch, which gives the fair comparison for
short runs: how long dense took to reach each variant's final top-1 (time-to-accuracy). A second
table times the attention level's two implementations (mask vs gather) at the target rates.

    flock /tmp/vitsdk-bench.lock python benchmarks/training.py [--epochs 3] [--model vit_nano_patch4_28] [--quick]

With --seeds 0,1 each seed runs in its own process (--jobs at a time, one thread each) and the results
are combined: per variant the mean and spread of top-1 and time over the seeds, and the top-1 vs
training-time curve (mean over seeds) drawn as an SVG beside the JSON.

Writes benchmarks/results/training.json (training_TAG.json with --tag, _quick with --quick).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from vitsdk.atomic import atomic_path, write_json, write_text
from vitsdk.data import load_dataset
from vitsdk.models import count, create_model
from vitsdk.training import AttentionLevel, ExampleLevel, TokenLevel, TrainConfig, evaluate, fit
from vitsdk.models.checkpoint import MODEL_FILE
from vitsdk.training.trainer import cpu_has_bf16

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("dense", "examples", "examples-soft", "tokens", "attention", "tri-level", "tri-level-soft")


class Pause(Exception):
    """Raised from on_epoch to hand the CPU to the next variant (the run resumes from its checkpoint)."""


def level_config(variant: str, base: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    example = ExampleLevel(keep=args.keep_examples)
    soft = ExampleLevel(mode="soft", keep=args.soft_keep)
    token = TokenLevel(args.keep_rate)
    attention = AttentionLevel(args.attn_keep, mode="mask")
    levels = {"dense": {}, "examples": {"example": example}, "examples-soft": {"example": soft},
              "tokens": {"token": token}, "attention": {"attention": attention},
              "tri-level": {"example": example, "token": token, "attention": attention},
              "tri-level-soft": {"example": soft, "token": token, "attention": attention}}[variant]
    return base.replace(**levels)


def dense_time_to(history: list[dict], top1: float) -> float | None:
    """Training seconds the dense run needed to reach `top1` on the test set, interpolated linearly between
    its per-epoch evaluations (from 0 s at chance, 10%); None without per-epoch evaluations or if dense
    never got there."""
    if any(record.get("eval_top1") is None for record in history):
        return None
    return time_to(mean_curve([history]), top1)


def new_model(args: argparse.Namespace):
    torch.manual_seed(args.seed)
    return create_model(args.model, fuse_token=True)


def time_attention_modes(args: argparse.Namespace, steps: int) -> list[dict]:
    """Training-step throughput of the attention level's implementations at the target keep rates."""
    rows = []
    x = torch.randn(args.batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch_size,))
    settings = [("dense", 1.0, 1.0, "mask"), ("tokens only", args.keep_rate, 1.0, "mask"),
                ("tokens + attn mask", args.keep_rate, args.attn_keep, "mask"),
                ("tokens + attn gather", args.keep_rate, args.attn_keep, "gather"),
                ("attn mask only", 1.0, args.attn_keep, "mask"), ("attn gather only", 1.0, args.attn_keep, "gather")]
    models = {}
    for label, keep, attn, mode in settings:
        model = new_model(args)
        model.config = model.config.replace(keep_rate=keep, attn_keep=attn, attn_mode=mode)
        models[label] = (model, torch.optim.AdamW(model.parameters(), 1e-3))
    times = {label: 0.0 for label in models}

    bf16 = args.precision == "bf16" or (args.precision == "auto" and cpu_has_bf16())

    def train_step(model, optimizer):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for label, (model, opt) in models.items():
        train_step(model, opt)  # warm-up
    for _ in range(steps):  # round-robin
        for label, (model, opt) in models.items():
            start = time.perf_counter()
            train_step(model, opt)
            times[label] += time.perf_counter() - start
    for label, (model, _) in models.items():
        acct = count(model)
        rows.append({"variant": label, "attn_mode": model.config.attn_mode, "macs_forward": acct.macs,
                     "attn_macs_saved": acct.attn_macs_saved,
                     "img_per_s": steps * args.batch_size / times[label]})
    return rows


def run_seeds(args: argparse.Namespace) -> None:
    """Runs each seed of --seeds as its own process of this script, then combines their JSON files."""
    seeds = [int(x) for x in args.seeds.split(",")]
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg in ("--seeds", "--jobs", "--seed", "--tag"):
            skip = True
        elif not arg.startswith(("--seeds=", "--jobs=", "--seed=", "--tag=")):
            argv.append(arg)
    tag = args.tag or "seeds"
    suffix = "_quick" if args.quick else ""
    pending = [(seed, [sys.executable, __file__, *argv, "--seed", str(seed), "--tag", f"{tag}_s{seed}"]) for seed in seeds]
    running: list[subprocess.Popen] = []
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            running.append(subprocess.Popen(pending.pop(0)[1]))
        running[0].wait()
        done = running.pop(0)
        if done.returncode != 0:
            for proc in running:
                proc.terminate()
            raise SystemExit(f"a seed's run failed (exit {done.returncode}): {' '.join(done.args)}")
    runs = [json.loads((RESULTS / f"training_{tag}_s{seed}{suffix}.json").read_text()) for seed in seeds]
    combined = combine(runs)
    out = RESULTS / f"training_{tag}{suffix}.json"
    plot = out.with_suffix(".svg")
    write_text(plot, curve_svg(combined))
    combined["plot"] = plot.name
    write_json(out, combined)
    print_summary(combined)
    print(f"wrote {out} and {plot}")


def mean_curve(histories: list[list[dict]]) -> list[tuple[float, float]]:
    """(cumulative training seconds, test top-1) per epoch, averaged over seeds."""
    curves = []
    for history in histories:
        elapsed, points = 0.0, []
        for record in history:
            elapsed += record["seconds"]
            points.append((elapsed, record["eval_top1"]))
        curves.append(points)
    return [(sum(c[i][0] for c in curves) / len(curves), sum(c[i][1] for c in curves) / len(curves))
            for i in range(min(len(c) for c in curves))]


def time_to(curve: list[tuple[float, float]], top1: float) -> float | None:
    """Seconds along `curve` to reach `top1`, linear between points (from 0 s at chance, 10%)."""
    t_prev, acc_prev = 0.0, 0.1
    for t, acc in curve:
        if acc >= top1:
            return t if acc == acc_prev else t_prev + (t - t_prev) * max(0.0, top1 - acc_prev) / (acc - acc_prev)
        t_prev, acc_prev = t, acc
    return None


def combine(runs: list[dict]) -> dict:
    """One payload from per-seed payloads: per variant mean/spread over seeds, curves and the equal-top-1 speedup."""
    variants = [row["variant"] for row in runs[0]["variants"]]
    rows = []
    for variant in variants:
        per_seed = [next(r for r in run["variants"] if r["variant"] == variant) for run in runs]
        top1 = [r["top1"] for r in per_seed]
        seconds = [r["train_seconds"] for r in per_seed]
        mean = sum(top1) / len(top1)
        rows.append({"variant": variant, "seeds": [run["seed"] for run in runs], "top1": top1, "top1_mean": mean,
                     "top1_spread_pt": 100 * (max(top1) - min(top1)),
                     "top1_std_pt": 100 * (sum((t - mean) ** 2 for t in top1) / max(1, len(top1) - 1)) ** 0.5,
                     "train_seconds": seconds, "train_seconds_mean": sum(seconds) / len(seconds),
                     "img_per_s_mean": sum(r["img_per_s"] for r in per_seed) / len(per_seed),
                     "images_seen_mean": sum(r["images_seen"] for r in per_seed) / len(per_seed),
                     "curve": mean_curve([r["history"] for r in per_seed]) if "eval_top1" in per_seed[0]["history"][0]
                     else None})
    dense = next((r for r in rows if r["variant"] == "dense"), None)
    if dense is not None:
        for row in rows:
            row["time_saved"] = 1.0 - row["train_seconds_mean"] / dense["train_seconds_mean"]
            row["top1_delta_pt"] = 100 * (row["top1_mean"] - dense["top1_mean"])
            same = time_to(dense["curve"], row["top1_mean"]) if dense["curve"] else None
            row["dense_seconds_to_same_top1"] = same
            row["speedup_at_equal_top1"] = same / row["train_seconds_mean"] if same is not None else None
        if dense["curve"] and len(dense["curve"]) > 1:
            dense["last_epoch_gain_pt"] = 100 * (dense["curve"][-1][1] - dense["curve"][-2][1])
    settings = {k: v for k, v in runs[0].items() if k not in ("variants", "seed", "attention_modes", "load_average_before",
                                                             "load_average_after")}
    return {**settings, "seeds": [run["seed"] for run in runs], "summary": rows,
            "attention_modes": [run["attention_modes"] for run in runs], "runs": runs}


def print_summary(combined: dict) -> None:
    table = Table(title=f"Tri-Level training, {combined['model']}, {combined['train_images']} train / "
                        f"{combined['test_images']} test images, {combined['epochs']} epochs, seeds {combined['seeds']}")
    for col in ("variant", "train s", "img/s", "time saved", "top-1 % (mean)", "spread pt", "vs dense pt",
                "dense s to same top-1", "x at equal top-1"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for r in combined["summary"]:
        same, speedup = r.get("dense_seconds_to_same_top1"), r.get("speedup_at_equal_top1")
        table.add_row(r["variant"], f"{r['train_seconds_mean']:.1f}", f"{r['img_per_s_mean']:.0f}",
                      f"{100 * r.get('time_saved', 0):.1f}%", f"{100 * r['top1_mean']:.2f}", f"{r['top1_spread_pt']:.2f}",
                      f"{r.get('top1_delta_pt', 0):+.2f}", "n/a" if same is None else f"{same:.1f}",
                      "n/a" if speedup is None else f"{speedup:.2f}")
    Console(width=160).print(table)


def curve_svg(combined: dict, width: int = 760, height: int = 460) -> str:
    """Top-1 vs training time per variant (mean over seeds), as a standalone SVG line chart."""
    from vitsdk.report.svg import FONT, Scale, esc, tick_text

    rows = [r for r in combined["summary"] if r["curve"]]
    points = [p for r in rows for p in r["curve"]]
    left, right, top, bottom = 70, width - 190, 40, height - 50
    xs = Scale.fit([p[0] for p in points], left, right)
    ys = Scale.fit([100 * p[1] for p in points], bottom, top, zero=False)
    dashes = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4 1 4")
    colours = ("#222222", "#1f5f99", "#2a7a3b", "#b35900", "#6d3f9e", "#a3123a", "#0f7f7f")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" style="{FONT};font-size:12px">',
           '<rect width="100%" height="100%" fill="#fff"/>',
           f'<text x="{left}" y="22" font-size="14">{esc(combined["model"])}: test top-1 vs training time '
           f'(mean of seeds {esc(combined["seeds"])}; one point per epoch)</text>',
           f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#000"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#000"/>',
           f'<text x="{(left + right) / 2}" y="{height - 12}" text-anchor="middle">training-loop time (s)</text>',
           f'<text x="16" y="{(top + bottom) / 2}" transform="rotate(-90 16 {(top + bottom) / 2})" '
           f'text-anchor="middle">top-1 (%)</text>']
    for t in xs.ticks():
        out.append(f'<text x="{xs(t):.1f}" y="{bottom + 16}" text-anchor="middle">{tick_text(t)}</text>')
    for t in ys.ticks():
        out.append(f'<line x1="{left}" y1="{ys(t):.1f}" x2="{right}" y2="{ys(t):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{ys(t) + 4:.1f}" text-anchor="end">{tick_text(t)}</text>')
    for i, r in enumerate(rows):
        colour, dash = colours[i % len(colours)], dashes[i % len(dashes)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{xs(t):.1f},{ys(100 * a):.1f}" for j, (t, a) in enumerate(r["curve"]))
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.8" stroke-dasharray="{dash}"/>')
        t, a = r["curve"][-1]
        out.append(f'<circle cx="{xs(t):.1f}" cy="{ys(100 * a):.1f}" r="3" fill="{colour}"/>')
        y = top + 18 * i
        out.append(f'<line x1="{right + 12}" y1="{y}" x2="{right + 42}" y2="{y}" stroke="{colour}" stroke-width="1.8" '
                   f'stroke-dasharray="{dash}"/><text x="{right + 48}" y="{y + 4}">{esc(r["variant"])} '
                   f'{100 * r["top1_mean"]:.2f}%</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_nano_patch4_28")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=None, help="seeded subset of the 60k training images")
    parser.add_argument("--test-size", type=int, default=None, help="seeded subset of the 10k test images")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup-epochs", type=float, default=None, help="LR warm-up (default: 5/300 of the run)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                        help="random flip and +-2 px shift (--no-augment: off)")
    parser.add_argument("--keep-examples", type=float, default=0.8, help="forgetting mode: active fraction")
    parser.add_argument("--soft-keep", type=float, default=0.5,
                        help="soft mode: probability a well-learned example is kept in an epoch")
    parser.add_argument("--keep-rate", type=float, default=0.7)
    parser.add_argument("--attn-keep", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None,
                        help="comma list: run each seed in its own process and combine (mean, spread, curve plot)")
    parser.add_argument("--jobs", type=int, default=2, help="with --seeds: processes at a time")
    parser.add_argument("--precision", default="auto", help="auto (bf16 autocast on CPUs with AMX/AVX512-BF16) | fp32 | bf16")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on this shared 2-core machine one thread per process times steadier)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--tag", default="", help="suffix of the results file: training_TAG.json")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs on 2,048 images, 1,000 test images")
    parser.add_argument("--eval-every-epoch", action="store_true",
                        help="test top-1 after every epoch (outside the timed loop), for the equal-accuracy column: "
                             "how long dense took to reach each variant's final top-1")
    parser.add_argument("--keep-checkpoints", type=Path, default=None, metavar="DIR",
                        help="copy each variant's final model.safetensors to DIR/VARIANT.safetensors "
                             "(e.g. for benchmarks/export.py --checkpoint)")
    args = parser.parse_args()
    if args.seeds is not None:
        return run_seeds(args)
    test_size = args.test_size
    if args.quick:
        args.epochs, args.train_size, test_size = 2, 2048, 1000
    torch.set_num_threads(args.threads)
    console = Console(width=160)
    variants = args.variants.split(",")
    train = load_dataset("fashion-mnist", "train").subset(args.train_size, args.seed)
    test = load_dataset("fashion-mnist", "test").subset(test_size, args.seed)
    base = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, precision=args.precision,
                       warmup_epochs=args.warmup_epochs, augment=args.augment)
    load_before = os.getloadavg()
    console.print(f"{args.model}, {len(train)} train / {len(test)} test images, {args.epochs} epochs, batch "
                  f"{args.batch_size}, {args.threads} thread(s), precision {args.precision} (bf16 hardware: {cpu_has_bf16()}); load average {load_before[0]:.1f}")

    work = Path(tempfile.mkdtemp(prefix="vitsdk-bench-training-"))
    results: dict[str, dict] = {}
    try:
        for round_epoch in range(1, args.epochs + 1):
            for variant in variants:
                def pause(record, stop=round_epoch):
                    if record["epoch"] == stop and stop < args.epochs:
                        raise Pause

                try:
                    result = fit(new_model(args), train, level_config(variant, base, args), work / variant,
                                 eval_data=test if args.eval_every_epoch else None, on_epoch=pause)
                except Pause:
                    continue
                results[variant] = {"result": result}
                if args.keep_checkpoints is not None:
                    args.keep_checkpoints.mkdir(parents=True, exist_ok=True)
                    with atomic_path(args.keep_checkpoints / f"{variant}.safetensors") as tmp:
                        shutil.copyfile(work / variant / MODEL_FILE, tmp)
            console.print(f"round {round_epoch}/{args.epochs} done "
                          f"(load average {os.getloadavg()[0]:.1f})")
        rows = []
        for variant in variants:
            result = results[variant]["result"]
            model = result.model
            top1 = evaluate(model, test)
            trained = (model.config.keep_rate, model.config.attn_keep)
            model.set_sparsity(keep_rate=1.0, attn_keep=1.0)
            top1_dense_inference = evaluate(model, test)
            model.set_sparsity(keep_rate=trained[0], attn_keep=trained[1])
            history = result.history
            rows.append({
                "variant": variant, "epochs": args.epochs,
                "train_seconds": sum(h["seconds"] for h in history),
                "train_cpu_seconds": sum(h["cpu_seconds"] for h in history),
                "images_seen": result.images_seen,
                "img_per_s": result.images_seen / sum(h["seconds"] for h in history),
                "top1": top1, "top1_dense_inference": top1_dense_inference,
                "active_examples": history[-1]["active_examples"], "final_keep_rate": trained[0],
                "final_attn_keep": trained[1], "tokens_kept_final": history[-1]["tokens_kept"],
                "history": history})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    dense = next((r for r in rows if r["variant"] == "dense"), None)
    for row in rows:
        if dense is not None:
            row["time_saved"] = 1.0 - row["train_seconds"] / dense["train_seconds"]
            row["cpu_time_saved"] = 1.0 - row["train_cpu_seconds"] / dense["train_cpu_seconds"]
            row["top1_delta_pt"] = 100 * (row["top1"] - dense["top1"])
            row["dense_seconds_to_same_top1"] = dense_time_to(dense["history"], row["top1"])
            same = row["dense_seconds_to_same_top1"]
            row["speedup_at_equal_top1"] = same / row["train_seconds"] if same is not None else None
    table = Table(title=f"Tri-Level training, {args.model} on Fashion-MNIST ({len(train)} train, {len(test)} test), "
                        f"{args.epochs} epochs, seed {args.seed}")
    for col in ("variant", "train s", "CPU s", "img/s", "time saved", "CPU saved", "top-1 %", "vs dense pt",
                "top-1 dense inf. %", "active ex.", "tokens kept", "dense s to same top-1", "x at equal top-1"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for r in rows:
        table.add_row(r["variant"], f"{r['train_seconds']:.1f}", f"{r['train_cpu_seconds']:.1f}",
                      f"{r['img_per_s']:.0f}", f"{100 * r.get('time_saved', 0):.1f}%",
                      f"{100 * r.get('cpu_time_saved', 0):.1f}%", f"{100 * r['top1']:.2f}",
                      f"{r.get('top1_delta_pt', 0):+.2f}", f"{100 * r['top1_dense_inference']:.2f}",
                      str(r["active_examples"]), f"{100 * r['tokens_kept_final']:.0f}%",
                      "n/a" if r.get("dense_seconds_to_same_top1") is None else f"{r['dense_seconds_to_same_top1']:.1f}",
                      "n/a" if r.get("speedup_at_equal_top1") is None else f"{r['speedup_at_equal_top1']:.2f}")
    console.print(table)

    console.print("timing the attention level's implementations (training steps, round-robin)...")
    modes = time_attention_modes(args, steps=3 if args.quick else 12)
    mode_table = Table(title=f"attention level at keep {args.attn_keep}: mask vs gather "
                             f"(batch {args.batch_size}, training steps)")
    for col in ("setting", "forward MACs (M)", "attn MACs saved (M)", "img/s"):
        mode_table.add_column(col, justify="left" if col == "setting" else "right")
    for m in modes:
        mode_table.add_row(m["variant"], f"{m['macs_forward'] / 1e6:.2f}", f"{m['attn_macs_saved'] / 1e6:.3f}",
                           f"{m['img_per_s']:.0f}")
    console.print(mode_table)

    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "training" + (f"_{args.tag}" if args.tag else "") + ("_quick" if args.quick else "")
    out = RESULTS / f"{name}.json"
    payload = {"benchmark": "training", "model": args.model, "train_images": len(train), "test_images": len(test),
               "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
               "warmup_epochs": args.warmup_epochs, "augment": args.augment, "soft_keep": args.soft_keep,
               "threads": args.threads, "precision": args.precision, "cpu_bf16": cpu_has_bf16(),
               "keep_examples": args.keep_examples, "keep_rate": args.keep_rate,
               "attn_keep": args.attn_keep, "attn_mode": "mask",
               "timing": "measured: time.perf_counter (wall) and time.process_time (CPU) inside the training loop; "
                         "variants interleaved one epoch at a time",
               "equal_accuracy": "dense_seconds_to_same_top1: dense training time to the variant's final test top-1, "
                                 "linear between per-epoch test evaluations (--eval-every-epoch); speedup_at_equal_top1 "
                                 "= that / the variant's training time",
               "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "machine": {"python": platform.python_version(), "torch": torch.__version__,
                           "cpu_count": os.cpu_count(), "platform": platform.platform()},
               "variants": rows, "attention_modes": modes}
    write_json(out, payload)
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
