"""FPGA path benchmark: estimated latency / power / energy of DeiT-T and DeiT-S (dense, block-pruned,
block-pruned + token-dropped) on two board profiles, the HeatViT sanity check, and measured C-simulation
throughput plus int8-vs-fp32 Fashion-MNIST accuracy of the generated accelerator.

Every latency/energy figure of a board is `estimated` by `vitsdk.fpga.estimate` (an analytical model,
parameters in the JSON); C-sim throughput and accuracy are measured here. DeiT weights are random
(the estimate depends on shapes and zero patterns only); pruning is `vitsdk.sparsity.prune_` one-shot.

    flock /tmp/vitsdk-bench.lock .venv/bin/python benchmarks/fpga.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vitsdk.atomic import write_json
from vitsdk.fpga import EstimateConfig, estimate, export_fpga
from vitsdk.fpga import quant as Q
from vitsdk.fpga.extract import calibrate, extract
from vitsdk.fpga.hls import run_csim
from vitsdk.models import create_model, load_model

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ROOT / "tests" / "fixtures" / "fpga" / "vit_nano_fmnist.safetensors"
HEATVIT = {"board": "zcu102", "model": "deit_small_patch16_224", "keep_rate": 0.7, "latency_ms": 9.15, "power_w": 10.7}


def estimates(archs: list[str], boards: list[str], block: str, ratio: float, keep_rate: float) -> list[dict]:
    from vitsdk.sparsity import BlockPruneConfig, prune_
    rows = []
    for arch in archs:
        torch.manual_seed(0)
        model = create_model(arch)
        variants = [("dense", model, 1.0)]
        pruned = create_model(arch)
        pruned.load_state_dict(model.state_dict())
        prune_(pruned, BlockPruneConfig(block_shape=tuple(int(v) for v in block.split("x")), ratio=ratio))
        variants += [(f"pruned {ratio:g}", pruned, 1.0), (f"pruned {ratio:g} + keep {keep_rate:g}", pruned, keep_rate)]
        for label, m, kr in variants:
            m.set_sparsity(keep_rate=kr)
            for board in boards:
                e = estimate(m, board, block)
                rows.append({"model": arch, "variant": label, "board": board, "latency_ms": e.latency_ms,
                             "power_w": e.power_w, "energy_mj": e.energy_mj, "energy_total_mj": e.energy_total_mj,
                             "gmacs": e.macs / 1e9, "weights_mb": e.weight_bytes / 1e6,
                             "weights_on_chip": e.weights_on_chip, "status": "estimated",
                             "parameters": e.parameters})
            m.set_sparsity(keep_rate=1.0)
    return rows


def fit_sweep(arch: str, board: str, ratios: list[float], block: str) -> list[dict]:
    """Block pruning decides whether the weights fit on chip: weight bytes and latency against the ratio."""
    from vitsdk.sparsity import BlockPruneConfig, prune_
    rows = []
    for ratio in ratios:
        torch.manual_seed(0)
        model = create_model(arch)
        if ratio > 0:
            prune_(model, BlockPruneConfig(block_shape=tuple(int(v) for v in block.split("x")), ratio=ratio))
        e = estimate(model, board, block)
        rows.append({"model": arch, "board": board, "ratio": ratio, "weights_mb": e.weight_bytes / 1e6,
                     "budget_mb": e.on_chip_budget_bytes / 1e6, "weights_on_chip": e.weights_on_chip,
                     "latency_ms": e.latency_ms, "memory_ms": e.memory_ms, "energy_mj": e.energy_mj,
                     "status": "estimated"})
    return rows


def heatvit_check() -> dict:
    model = create_model(HEATVIT["model"], keep_rate=HEATVIT["keep_rate"])
    e = estimate(model, HEATVIT["board"])
    return {"published": HEATVIT, "estimated_latency_ms": e.latency_ms, "estimated_power_w": e.power_w,
            "latency_ratio": e.latency_ms / HEATVIT["latency_ms"], "power_ratio": e.power_w / HEATVIT["power_w"],
            "energy_ratio": e.energy_total_mj / (HEATVIT["latency_ms"] * HEATVIT["power_w"]),
            "compute_ms": e.compute_ms, "memory_ms": e.memory_ms, "nonlinear_ms": e.nonlinear_ms,
            "parameters": e.parameters}


def csim_and_accuracy(n_csim: int, n_acc: int, work: Path) -> list[dict]:
    from vitsdk.data import load_dataset
    from vitsdk.sparsity import BlockPruneConfig, prune_
    if TRAINED.exists():
        base, source = load_model(TRAINED), "trained fixture (tests/fixtures/fpga)"
    else:
        torch.manual_seed(0)
        base, source = create_model("vit_nano_patch4_28"), "random init (accuracy meaningless)"
    c = base.config
    test = load_dataset("fashion-mnist", "test")
    x_all = test.to_tensor(c.img_size, c.in_chans, c.mean, c.std)[:n_acc]
    y_all = test.labels[:n_acc]
    calib = load_dataset("fashion-mnist", "train").subset(256, seed=0).to_tensor(c.img_size, c.in_chans, c.mean, c.std)
    rows = []
    pruned = load_model(TRAINED) if TRAINED.exists() else create_model("vit_nano_patch4_28")
    pruned.load_state_dict(base.state_dict())
    prune_(pruned, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    for label, model, kr in [("dense", base, 1.0), ("dense + keep 0.7", base, 0.7),
                             ("pruned 0.5 (no finetune)", pruned, 1.0), ("pruned 0.5 + keep 0.7", pruned, 0.7)]:
        model.set_sparsity(keep_rate=kr)
        model.eval()
        start = time.perf_counter()
        ex = export_fpga(model, work / label.replace(" ", "_"), block_shape="16x16", calibration=calib,
                         reference=x_all[:8])
        export_s = time.perf_counter() - start
        patches = Q.quantize_input(ex.model, x_all.numpy())
        ref = np.concatenate([Q.forward_int(ex.model, patches[i:i + 500]) for i in range(0, len(patches), 500)])
        sim = run_csim(ex.path, patches[:n_csim])
        with torch.no_grad():
            fp32 = torch.cat([model(x_all[i:i + 500]) for i in range(0, len(x_all), 500)]).argmax(1).numpy()
        rows.append({"model": c.name, "variant": label, "weights": source, "images_acc": int(n_acc),
                     "fp32_acc": float(np.mean(fp32 == y_all)), "int8_acc": float(np.mean(ref.argmax(1) == y_all)),
                     "top1_agree": float(np.mean(ref.argmax(1) == fp32)),
                     "csim_images": sim.images, "csim_seconds": sim.seconds,
                     "csim_images_per_s": sim.images_per_second, "csim_bit_exact": bool(np.array_equal(sim.logits, ref[:n_csim])),
                     "compile_s": sim.compile_seconds or ex.csim.compile_seconds, "export_s": export_s,
                     "tokens_per_block": ex.project["tokens_per_block"], "status": "measured"})
        model.set_sparsity(keep_rate=1.0)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="DeiT-T only, one board, 64 C-sim / 500 accuracy images")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fpga.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    archs = ["deit_tiny_patch16_224"] if args.quick else ["deit_tiny_patch16_224", "deit_small_patch16_224"]
    boards = ["zcu102", "kv260"]
    t0 = time.perf_counter()
    est = estimates(archs, boards, "16x16", 0.5, 0.7)
    heat = heatvit_check()
    fit = fit_sweep("deit_tiny_patch16_224", "zcu104", [0.0, 0.5, 0.75], "16x16")
    with tempfile.TemporaryDirectory() as tmp:
        sims = csim_and_accuracy(64 if args.quick else 1000, 500 if args.quick else 10000, Path(tmp))
    print("\nEstimated (analytical model, vitsdk.fpga.estimate; block 16x16, one-shot L2 block pruning):")
    print(f"{'model':24} {'variant':22} {'board':7} {'GMACs':>6} {'wMB':>6} {'chip':>5} {'lat ms':>7} "
          f"{'P W':>6} {'E mJ':>7} {'E tot':>7}")
    for r in est:
        print(f"{r['model']:24} {r['variant']:22} {r['board']:7} {r['gmacs']:6.3f} {r['weights_mb']:6.2f} "
              f"{'yes' if r['weights_on_chip'] else 'no':>5} {r['latency_ms']:7.2f} {r['power_w']:6.2f} "
              f"{r['energy_mj']:7.2f} {r['energy_total_mj']:7.2f}")
    print("\nOn-chip fit (estimated): DeiT-T on ZCU104 (BRAM + URAM), block 16x16:")
    print(f"{'prune ratio':>11} {'weights MB':>10} {'budget MB':>9} {'on chip':>7} {'lat ms':>7} {'stream ms':>9} {'E mJ':>6}")
    for r in fit:
        print(f"{r['ratio']:11.2f} {r['weights_mb']:10.2f} {r['budget_mb']:9.2f} {'yes' if r['weights_on_chip'] else 'no':>7} "
              f"{r['latency_ms']:7.2f} {r['memory_ms']:9.2f} {r['energy_mj']:6.2f}")
    print(f"\nHeatViT sanity (ZCU102, int8, 300 MHz, DeiT-S keep 0.7): published 9.15 ms / 10.7 W; estimated "
          f"{heat['estimated_latency_ms']:.2f} ms ({heat['latency_ratio']:.2f}x) / {heat['estimated_power_w']:.2f} W "
          f"({heat['power_ratio']:.2f}x); energy {heat['energy_ratio']:.2f}x")
    print("\nMeasured: C simulation (g++ -O2, 1 thread) and int8 accuracy (numpy integer reference = C sim bit for bit):")
    print(f"{'variant':26} {'fp32 %':>7} {'int8 %':>7} {'drop':>6} {'agree':>6} {'csim img/s':>10} {'exact':>6} tokens")
    for r in sims:
        print(f"{r['variant']:26} {100 * r['fp32_acc']:7.2f} {100 * r['int8_acc']:7.2f} "
              f"{100 * (r['fp32_acc'] - r['int8_acc']):6.2f} {100 * r['top1_agree']:6.1f} "
              f"{r['csim_images_per_s']:10.1f} {str(r['csim_bit_exact']):>6} {r['tokens_per_block']}")
    print(f"(accuracy on {sims[0]['images_acc']} Fashion-MNIST test images; weights: {sims[0]['weights']})")
    write_json(args.out, {"benchmark": "fpga", "quick": args.quick, "seconds": time.perf_counter() - t0,
                          "estimates": est, "on_chip_fit": fit, "heatvit": heat, "csim": sims})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
