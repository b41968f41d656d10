"""FPGA benchmark: the engine vitsdk generates (fpga/rtl), sized per board, on DeiT-S and the demo's models.

Per row: cycles of one inference (SIMULATED by Verilator on the generated RTL and checked bit-exact against
the numpy integer reference, or, where marked `quick`, the quick mode `program.cycle_model` of the same design,
which the simulated rows show is equal to the simulation), latency at the stated clock (an assumption:
timing is not closed without Vivado), achieved MACs/cycle against the array's peak, DSP/LUT/FF/BRAM/URAM from
Yosys (datapath units and buffers synthesised once each and multiplied by their banks and copies, the
sequencer, vit_engine.v with those units as black boxes, once; see vitsdk.fpga.synth), DDR bytes per inference (weights streamed, double-buffered, when they do not fit), power and
energy ESTIMATED from the simulated activity (vitsdk.fpga.synth: Horowitz ISSCC 2014 x Kuon & Rose 2007,
plus the board's idle power). DeiT-S weights are fresh (random): latency depends on shapes and the block
pattern only; pruning is one-shot L2 block pruning 16x16 at 50%, token keep 0.7 at blocks 3/6/9 (dropped).

    nice -n 10 .venv/bin/python benchmarks/fpga.py [--simulate all|subset|demo|none]

DeiT-S rows: one whole DeiT-S inference is ~3 M cycles of a 1024-MAC engine, which Verilator did not finish
in 15 minutes on the shared 2-core machine. `--simulate subset` simulates a representative slice instead
and composes the whole (status `subset`, the `subset` block of each row): the slice is the patch embedding,
blocks 3, 6, 9 and 10 (pruned + keep 0.7: the three token-selecting blocks at 197, 139 and 98 tokens and a
block at 69) or block 0 (dense: every block has the same shapes), and the head, quantised and compiled on
the whole model's engine and with its weight placement: DeiT-S streams its weights from DDR on both boards,
so the slice streams too (vitsdk.fpga.quick_mode.slice_program), although its own weights would fit on chip;
the whole model's cycles, MAC-busy and stall cycles and DDR bytes are its quick-mode counts times the slice's
Verilator / quick-mode ratio (1 when the quick mode is exact, as it has been on every model simulated).
Otherwise DeiT-S rows are quick mode (`demo`, the default).
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
from vitsdk.fpga import quant as Q
from vitsdk.fpga import rtl
from vitsdk.fpga.engine import design_for
from vitsdk.fpga.program import Program, compile_program, cycle_model
from vitsdk.fpga.project import verified_files
from vitsdk.fpga.quick_mode import composed, slice_of, slice_program
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import get_board
from vitsdk.fpga.extract import calibrate, extract
from vitsdk.fpga.synth import estimate_power, fitted
from vitsdk.models import create_model

ROOT = Path(__file__).resolve().parents[1]
HEATVIT = {"board": "zcu102", "model": "deit_small_patch16_224", "keep_rate": 0.7, "latency_ms": 9.15, "power_w": 10.7}
BLOCK = BlockShape(16, 16)
# DeiT-S with --simulate subset: Verilator runs a slice of the model, the whole is composed from it (COMPOSITION).
# Pruned + keep 0.7: blocks 3, 6, 9 select tokens (197 -> 139 -> 98 -> 69, CLS included), so the slice
# 3, 6, 9, 10 runs one block at each of the four token counts, selections included. Dense: all 12 blocks have
# the same shapes.
SUBSETS = {0.7: [3, 6, 9, 10], 1.0: [0]}
COMPOSITION = ("cycles (and MAC-busy, stall cycles, DDR bytes) of the whole model = its quick-mode count x "
               "(Verilator count / quick-mode count) of the slice: patch embedding + the listed blocks + head, "
               "on the whole model's engine (same sizes) with the whole model's weight placement (the whole "
               "streams its weights from DDR, so the slice streams them too: each linear's values, indices and "
               "constants through the double buffers)")


def variant(arch: str, pruned: bool, keep: float) -> torch.nn.Module:
    from vitsdk.sparsity import BlockPruneConfig, prune_
    torch.manual_seed(0)
    model = create_model(arch).eval()
    if pruned:
        prune_(model, BlockPruneConfig(block_shape=(BLOCK.rows, BLOCK.cols), ratio=0.5))
    model.set_sparsity(keep_rate=keep)
    return model


def simulate(program: Program, qv: Q.QuantViT, images: torch.Tensor) -> tuple[dict, bool, float]:
    """Verilator counters of one inference of `program`, whether its logits equal forward_int, and the seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        files = verified_files(Path(tmp), rtl.write_rtl(program, Path(tmp)))
        patches = Q.quantize_input(qv, images[:1].numpy())
        sim = rtl.simulate(files, program.parameters(), patches)
    counters = {"cycles": sim.cycles[0], "mac_cycles": sim.mac_cycles[0], "stall_cycles": sim.stall_cycles[0],
                "ddr_bytes": sim.ddr_bytes[0]}
    return counters, bool(np.array_equal(sim.logits, Q.forward_int(qv, patches))), sim.build_seconds + sim.run_seconds


def row(arch: str, label: str, model: torch.nn.Module, board: str, how: str, subset: list[int]) -> dict:
    c = model.config
    images = torch.randn(4, c.in_chans, c.img_size, c.img_size, generator=torch.Generator().manual_seed(1))
    fv, ranges = extract(model), calibrate(model, images)
    qv = Q.quantize(fv, ranges)
    profile = get_board(board)
    program, resources = fitted(compile_program(qv, BLOCK, design_for(profile, BLOCK)), profile)
    quick = cycle_model(program)
    counters, status, bit_exact, sim_s, part = quick, "quick", None, None, None
    if how == "simulated":
        counters, bit_exact, seconds = simulate(program, qv, images)
        status, sim_s = "simulated", round(seconds, 1)
    elif how == "subset":
        part_qv = Q.quantize(*slice_of(fv, ranges, subset))
        part_program = slice_program(program, part_qv)  # the whole model's engine and weight placement
        part_quick = cycle_model(part_program)
        part_sim, bit_exact, seconds = simulate(part_program, part_qv, images)
        counters = composed(quick, part_quick, part_sim)
        status, sim_s = "subset", round(seconds, 1)
        part = {"blocks": subset, "tokens_per_block": part_qv.tokens, "streamed": part_program.streamed,
                "weight_buffer_bytes": part_program.config.weight_buffer_bytes, "simulated": part_sim,
                "quick": part_quick, "composition": COMPOSITION}
    power = estimate_power(program, profile, counters["cycles"], counters["mac_cycles"], counters["ddr_bytes"])
    cfg = program.config
    latency_ms = counters["cycles"] / (cfg.clock_mhz * 1e3)
    useful = sum(layer["macs"] for layer in program.layers)
    total = resources["total"]
    return {"model": arch, "variant": label, "board": board, "status": status, "bit_exact": bit_exact,
            "engine": cfg.to_dict(), "cycles": counters["cycles"], "latency_ms": latency_ms,
            "clock_mhz": cfg.clock_mhz, "linear_macs": useful, "macs_per_cycle": useful / counters["cycles"],
            "peak_macs_per_cycle": cfg.peak_macs_per_cycle, "mac_busy": counters["mac_cycles"] / counters["cycles"],
            "stall_cycles": counters["stall_cycles"], "ddr_bytes": counters["ddr_bytes"],
            "weights_streamed": program.streamed, "resized": resources.get("resized"),
            "weight_bytes": program.weight_bytes,
            "dsp": total["dsp"], "lut": total["lut"], "ff": total["ff"], "bram36": total["bram36"],
            "uram": total["uram"], "fits": resources["fits"], "use_percent": resources["use_percent"],
            "power_w": power["power_w"], "energy_mj": power["energy_mj"], "energy_total_mj": power["energy_total_mj"],
            "power_status": "estimated", "quick_cycles": quick["cycles"],
            "quick_vs_simulated": quick["cycles"] / counters["cycles"] - 1, "sim_seconds": sim_s,
            "subset": part, "resources": resources, "power_parameters": power["parameters"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulate", choices=("all", "subset", "demo", "none"), default="demo",
                        help="which rows Verilator runs: all (DeiT-S whole too: hours on a loaded 2-core machine), "
                             "subset (the demo models whole, DeiT-S by a slice: SUBSETS), the demo models (default), "
                             "or none (quick mode only)")
    parser.add_argument("--subset-boards", nargs="+", default=["zcu102", "zcu104"], help="with --simulate subset: the boards "
                        "whose DeiT-S rows are composed from a simulated slice (the others are quick mode); each "
                        "slice is ~1 M cycles, ~15 minutes of Verilator on the loaded 2-core machine")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fpga.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    plan = []
    for board in ("zcu102", "zcu104"):
        for label, pruned, keep in (("pruned 16x16 50% + keep 0.7", True, 0.7), ("dense", False, 1.0)):
            plan.append(("deit_small_patch16_224", label, pruned, keep, board, False))
    for arch in ("vit_nano_patch4_28", "vit_micro_patch4_28"):
        plan.append((arch, "pruned 16x16 50% + keep 0.7", True, 0.7, "zcu104", True))
    rows = []
    for arch, label, pruned, keep, board, target in plan:
        how = "simulated" if args.simulate == "all" or (args.simulate in ("demo", "subset") and target) else \
            "subset" if args.simulate == "subset" and board in args.subset_boards else "quick"
        print(f"{arch} {label} on {board}: {how} ...", flush=True)
        rows.append(row(arch, label, variant(arch, pruned, keep), board, how, SUBSETS[keep]))
    print(f"\n{'model':24} {'variant':28} {'board':6} {'how':9} {'TMxTN':>6} {'cycles':>9} {'ms':>7} {'MAC/cyc':>8} "
          f"{'peak':>5} {'DSP':>5} {'LUT':>7} {'FF':>6} {'BRAM36':>7} {'URAM':>4} {'fits':>4} {'DDR MB':>7} {'W est':>6} {'mJ est':>7} "
          f"{'quick':>7}")
    for r in rows:
        tile = f"{r['engine']['tokens']}x{r['engine']['outputs']}"
        print(f"{r['model']:24} {r['variant']:28} {r['board']:6} {r['status']:9} {tile:>6} {r['cycles']:9d} "
              f"{r['latency_ms']:7.3f} "
              f"{r['macs_per_cycle']:8.1f} {r['peak_macs_per_cycle']:5d} {r['dsp']:5d} {r['lut']:7d} {r['ff']:6d} "
              f"{r['bram36']:7.1f} {r['uram']:4d} {'yes' if r['fits'] else 'NO':>4} {r['ddr_bytes'] / 1e6:7.2f} "
              f"{r['power_w']:6.2f} {r['energy_mj']:7.3f} {100 * r['quick_vs_simulated']:+6.2f}%")
    target = next(r for r in rows if r["model"] == HEATVIT["model"] and r["board"] == "zcu102" and "keep" in r["variant"])
    print(f"\nHeatViT (ZCU102, int8, 300 MHz, DeiT-S keep 0.7): published {HEATVIT['latency_ms']} ms at "
          f"{HEATVIT['power_w']} W; ours {target['status']} {target['latency_ms']:.2f} ms "
          f"(target <= {2 * HEATVIT['latency_ms']:.1f} ms: {'met' if target['latency_ms'] <= 2 * HEATVIT['latency_ms'] else 'NOT met'}), "
          f"fits by Yosys' count: {target['fits']}; power estimated {target['power_w']:.2f} W")
    print("(latency: simulated = Verilator cycles / stated clock, quick = program.cycle_model of the same design, "
          "subset = quick mode x Verilator/quick ratio of a simulated slice; power/energy estimated; 'quick' "
          "column: quick mode vs the row's cycles)")
    write_json(args.out, {"benchmark": "fpga", "simulate": args.simulate, "seconds": time.perf_counter() - t0,
                          "block_shape": str(BLOCK), "heatvit": HEATVIT, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
