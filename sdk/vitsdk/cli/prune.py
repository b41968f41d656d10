"""`vitsdk prune`: balanced block pruning, optional fine-tuning, and the pruned-weights artifact."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from vitsdk.atomic import check_writable
from vitsdk.cli.app import app
from vitsdk.cli.console import console, err_console, print_json
from vitsdk.errors import UserError, check_choice


def parse_layer_ratios(items: list[str]) -> dict[str, float]:
    """['fc2=0.6', 'blocks.0.*=0.2'] -> {'fc2': 0.6, 'blocks.0.*': 0.2}."""
    ratios = {}
    for item in items:
        pattern, sep, value = item.partition("=")
        try:
            ratios[pattern.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not pattern.strip():
            raise UserError(f"--layer-ratio '{item}' is not PATTERN=RATIO, e.g. fc2=0.6 or 'blocks.1?.mlp.*=0.7'")
    return ratios


@app.command()
def prune(
    ckpt: str = typer.Argument(..., help="Checkpoint file, training run folder, pruned artifact folder (prunes "
                                         "further) or registry model name (fresh weights)."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write (model.safetensors + sparsity.json)."),
    block: str = typer.Option("32x32", help="Block shape ROWSxCOLS; 'full' spans a whole dimension (fullx32)."),
    ratio: float = typer.Option(0.5, help="Fraction pruned in every block, in [0, 1)."),
    layers: str = typer.Option("mlp,attn", help="Comma list of mlp, attn, fc1, fc2, qkv, proj or module-name patterns."),
    direction: str = typer.Option("columns", help="Prune whole 'columns' or 'rows' inside each block."),
    layer_ratio: list[str] = typer.Option([], "--layer-ratio", help="Per-layer ratio PATTERN=RATIO (repeatable)."),
    criterion: str = typer.Option("l2", help="'l2' (one-shot magnitude) or 'group_lasso' (reweighted, needs fine-tuning)."),
    schedule: str = typer.Option("one_shot", help="'one_shot' or 'gradual' (ramps the ratio while fine-tuning)."),
    compaction: str = typer.Option("auto", help="Compaction the summary is counted in: auto, gather, remove or mask."),
    finetune_epochs: int = typer.Option(0, min=0, help="Fine-tuning epochs after pruning (0: none)."),
    data: str = typer.Option("fashion-mnist", help="Fine-tuning data: fashion-mnist, an image folder or an .npz."),
    train_examples: Optional[int] = typer.Option(None, min=1, help="Use only this many training examples."),
    eval_examples: int = typer.Option(2000, min=0, help="Test examples for top-1 before/after fine-tuning (0: skip)."),
    batch_size: int = typer.Option(128, min=1, help="Fine-tuning batch size."),
    lr: float = typer.Option(5e-4, help="Fine-tuning peak learning rate (AdamW, cosine)."),
    model_name: Optional[str] = typer.Option(None, "--model", help="Architecture of a foreign checkpoint."),
    advise: Optional[str] = typer.Option(None, "--advise", help="Time every compaction in this runtime here "
                                         "(executorch or litert) and record the fastest in sparsity.json."),
    advise_rounds: int = typer.Option(10, min=1, help="Timed runs per compaction for --advise (round-robin)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
) -> None:
    """Block-prune a ViT (balanced blocks), optionally fine-tune, and write the pruned-weights artifact."""
    check_writable(out, "--out", is_dir=True)
    from vitsdk.models import count
    from vitsdk.resolve import resolve
    from vitsdk.sparsity import COMPACTION_MODES, BlockPruneConfig, compact, prune_, save_pruned, sparsity_report

    check_choice("compaction", compaction, COMPACTION_MODES)
    if advise is not None:  # before any work: an unknown or missing runtime is a usage error
        from vitsdk.bench.runtimes import require_runtime

        require_runtime(advise)
    config = BlockPruneConfig(block_shape=block, ratio=ratio, direction=direction,
                              layers=tuple(x.strip() for x in layers.split(",") if x.strip()),
                              layer_ratios=parse_layer_ratios(layer_ratio), criterion=criterion, schedule=schedule)
    if finetune_epochs == 0 and (criterion != "l2" or schedule != "one_shot"):
        raise UserError(f"--criterion {criterion} --schedule {schedule} act during fine-tuning: give "
                        f"--finetune-epochs N (N >= 1)")
    source = Path(ckpt)
    if source.exists() and out.resolve() == source.resolve():
        raise UserError("--out must differ from the input: the artifact is written next to, not over, its source")
    # compaction='mask': pruning an artifact again composes with its masks
    model, _ = resolve(ckpt, model_name=model_name, compaction="mask")
    dense_macs, dense_params = count(model).macs, count(model).params
    finetune = None
    if finetune_epochs > 0:
        from vitsdk.sparsity.finetune import FinetuneSettings, finetune_pruned

        settings = FinetuneSettings(epochs=finetune_epochs, data=data, train_examples=train_examples,
                                    eval_examples=eval_examples, batch_size=batch_size, lr=lr)
        with finetune_progress() as progress:
            finetune = finetune_pruned(model, config, settings, out_dir=out / "finetune", progress=progress)
    else:
        prune_(model, config)
    advice = None
    if advise is not None:
        from vitsdk.sparsity.compact import time_compactions

        console.print(f"[dim]--advise {advise}: exporting and timing each compaction ({advise_rounds} rounds)...[/dim]")
        advice = time_compactions(model, advise, rounds=advise_rounds)
        compaction = advice["chosen"]
    save_pruned(model, out, finetune=finetune, compaction=compaction, advice=advice)
    compacted = compact(model, compaction)
    report = sparsity_report(model)
    compact_report = sparsity_report(compacted)
    if as_json:
        print_json({"artifact": str(out), "config": config.to_dict(), "finetune": finetune, "advice": advice,
                    "masked": report.to_dict(), "compacted": compact_report.to_dict(),
                    "dense": {"params": dense_params, "macs": dense_macs}})
        return
    print_table(report, compact_report, dense_params, dense_macs, config, out)
    if compaction == "auto":
        gather_macs = count(compact(model, "gather")).macs
        if gather_macs < compact_report.macs:
            console.print(f"[dim]auto keeps multi-strip layers as dense matmuls (on XNNPACK and LiteRT they ran "
                          f"slower than dense, see benchmarks/pruning.py); block-compact ('--compaction gather', as "
                          f"an FPGA PE array runs it) would be {gather_macs / 1e9:.4f} GMACs[/dim]")
    if advice is not None:
        timings = ", ".join(f"{mode} {ms:.3f} ms" for mode, ms in sorted(advice["median_ms"].items(), key=lambda i: i[1]))
        same = "".join(f"; {m} = {o}" for m, o in advice["same_as"].items())
        console.print(f"advise ({advise}, median of {advice['rounds']} runs, batch 1): {timings}{same} -> "
                      f"'{compaction}' recorded in sparsity.json (export builds it)")
    if finetune:
        console.print(f"fine-tuned {finetune['epochs']} epoch(s) on {finetune['data']}: top-1 "
                      f"{_pct(finetune.get('top1_before'))} after pruning -> {_pct(finetune.get('top1_after'))}")
    console.print(f"wrote {out}/model.safetensors + sparsity.json\nnext: vitsdk export {out} --target all")


@contextlib.contextmanager
def finetune_progress() -> Iterator[Callable]:
    """A rich progress bar on stderr (stdout stays clean for --json), one line per fine-tuning phase."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.fields[status]}"), console=err_console, transient=False) as bar:
        tasks = {}

        def on_step(label: str, epochs: int, info) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=None, status="")
            bar.update(tasks[label], total=info.steps, completed=info.step,
                       description=f"{label} epoch {info.epoch + 1}/{epochs}",
                       status=f"loss {info.loss:.3f} acc {info.acc:.3f} {info.img_per_s:.0f} img/s")

        yield on_step


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def print_table(report, compact_report, dense_params: int, dense_macs: int, config, out: Path) -> None:
    from vitsdk.sparsity import format_block_shape

    table = Table(title=f"block pruning {format_block_shape(config.block_shape)} {config.direction}, ratio "
                        f"{config.ratio} (compaction: {compact_report.compaction})", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("block.layer", "shape", "kept", "params", "MACs/tok", "compact", "runs as"):
        table.add_column(col, justify="left" if col in ("block.layer", "runs as") else "right", no_wrap=True)
    by_name = {row.name: row for row in compact_report.layers}
    kinds = {"ColumnBlockLinear": "gather-cols", "RowBlockLinear": "gather-rows", "Linear": "dense"}
    for row in report.layers:
        after = by_name[row.name]
        kept_params = int(round(row.kept_fraction * row.shape[0] * row.shape[1]))
        table.add_row(row.name.removeprefix("blocks."), f"{row.shape[0]}x{row.shape[1]}", f"{row.kept_fraction:.3f}", f"{kept_params:,}",
                      f"{row.macs_per_token_dense:,}", f"{after.macs_per_token:,}", kinds.get(after.module, after.module))
    console.print(table)
    totals = Table(title="totals (whole model)", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("", "dense", "pruned + compacted", "ratio"):
        totals.add_column(col, justify="right")
    totals.add_row("params", f"{dense_params:,}", f"{compact_report.params:,}", f"{dense_params / compact_report.params:.2f}x")
    totals.add_row("GMACs", f"{dense_macs / 1e9:.4f}", f"{compact_report.macs / 1e9:.4f}",
                   f"{dense_macs / compact_report.macs:.2f}x")
    totals.add_row("fp32 MiB", f"{dense_params * 4 / 2**20:.2f}", f"{compact_report.params * 4 / 2**20:.2f}", "")
    console.print(totals)
