"""`vitsdk train`: Tri-Level sparse training of a registry model (or a checkpoint) into a run folder.

The run folder holds `train_state.pt` (per-epoch, resumable), `metrics.jsonl` and the final
`model.safetensors`, which `vitsdk prune` and `vitsdk export` read directly.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from vitsdk.atomic import check_writable
from vitsdk.cli.app import app
from vitsdk.cli.console import console, print_json


@app.command()
def train(
    model: str = typer.Option(..., "--model", "-m", help="Registry name (see `vitsdk info --list`) or a checkpoint to start from."),
    data: str = typer.Option("fashion-mnist", "--data", "-d", help="'fashion-mnist', an image folder or an .npz file."),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder (checkpoints, metrics.jsonl, model.safetensors); an existing run is resumed."),
    epochs: int = typer.Option(10, "--epochs", "-e", help="Training epochs."),
    tri_level: bool = typer.Option(False, "--tri-level", help="All three levels at the reference settings (examples 0.8, keep rate 0.7, attn keep 0.3); the flags below override."),
    keep_examples: Optional[float] = typer.Option(None, help="Example level, in (0, 1]: forgetting mode: fraction of the training set active (default 0.8); soft mode: probability a well-learned example is kept in an epoch (default 0.5)."),
    example_mode: Optional[str] = typer.Option(None, help="Example level as 'forgetting' (reference: hard subset, swapped by forgetting events) or 'soft' (InfoBatch: skip well-learned examples at random, rescale the loss; unbiased)."),
    keep_rate: Optional[float] = typer.Option(None, help="Token level: target token keep rate at each pruning block, in (0, 1]."),
    attn_keep: Optional[float] = typer.Option(None, help="Attention level: target fraction of keys kept per row, in (0, 1]."),
    attn_mode: str = typer.Option("mask", help="Attention level as 'mask' (reference; no compute saved) or 'gather' (fewer MACs, a gather per block)."),
    tie_break: str = typer.Option("none", help="Example level tie-break among equal forgetting counts: 'none' or 'cls_attn_var'."),
    fuse_token: bool = typer.Option(False, "--fuse-token", help="EViT: fuse the dropped tokens into one."),
    batch_size: int = typer.Option(128, help="Images per optimizer step (across all processes)."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (default 5e-4 x batch / 512)."),
    weight_decay: float = typer.Option(0.05, help="AdamW weight decay."),
    warmup_epochs: Optional[float] = typer.Option(None, help="LR warm-up epochs (default: 5/300 of the run)."),
    label_smoothing: float = typer.Option(0.1, help="Label smoothing."),
    drop_path: float = typer.Option(0.0, help="Stochastic depth rate (DeiT: 0.1)."),
    ema: Optional[float] = typer.Option(None, help="EMA decay of the weights (e.g. 0.999); saved instead of the raw weights."),
    grad_clip: Optional[float] = typer.Option(1.0, help="Max gradient norm (0 disables)."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16 | fp16 (CUDA)."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random flip and +-2 px shift."),
    seed: int = typer.Option(0, help="Seed for init, sampling, augmentation and example swaps."),
    train_size: Optional[int] = typer.Option(None, help="Train on a seeded subset of this many images."),
    eval_size: Optional[int] = typer.Option(None, help="Evaluate on a seeded subset of the test split (default: all of it)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for torch (default: torch's choice)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (no progress bar)."),
) -> None:
    """Train with Tri-Level sparsity (fewer examples, tokens, attention connections); writes RUN_DIR/model.safetensors."""
    check_writable(output, "--output", is_dir=True)  # before loading anything, not after an epoch
    import torch

    from vitsdk.data import load_dataset
    from vitsdk.errors import UserError
    from vitsdk.resolve import resolve
    from vitsdk.training import AttentionLevel, ExampleLevel, TokenLevel, TrainConfig, fit

    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    example = ExampleLevel(mode=example_mode or "forgetting", keep=keep_examples, tie_break=tie_break) \
        if tri_level or keep_examples is not None or example_mode is not None else None
    token = TokenLevel(keep_rate if keep_rate is not None else 0.7) if tri_level or keep_rate is not None else None
    attention = AttentionLevel(attn_keep if attn_keep is not None else 0.3, mode=attn_mode) \
        if tri_level or attn_keep is not None else None
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                         warmup_epochs=warmup_epochs, label_smoothing=label_smoothing, grad_clip=grad_clip or None,
                         ema_decay=ema, precision=precision, augment=augment, seed=seed,
                         example=example, token=token, attention=attention)
    if train_size is not None and train_size < 1 or eval_size is not None and eval_size < 1:
        raise UserError("--train-size and --eval-size must be >= 1")
    main = int(os.environ.get("RANK", "0")) == 0
    torch.manual_seed(seed)
    net, _ = resolve(model, drop_path_rate=drop_path, fuse_token=fuse_token)
    train_set = load_dataset(data, "train").subset(train_size, seed)
    try:
        eval_set = load_dataset(data, "test").subset(eval_size, seed)
    except UserError:
        eval_set = None  # a folder without a test split: train only
    example_name = f"examples ({example.mode})" if example else "examples"
    levels = ", ".join(name for name, on in ((example_name, example), ("tokens", token), ("attention", attention)) if on)
    if main and not as_json:
        console.print(f"training [bold]{net.config.name}[/] on {data} ({len(train_set)} images) for {epochs} "
                      f"epochs; sparsity: {levels or 'none (dense)'} -> {output}")

    if as_json or not main:
        result = fit(net, train_set, config, output, eval_data=eval_set)
    else:
        result = _fit_with_progress(fit, net, train_set, config, output, eval_set)
    if not main:
        return
    summary = {"run_dir": str(output), "model": str(output / "model.safetensors"), "epochs": epochs,
               "resumed_from_epoch": result.start_epoch, "train_seconds": round(result.train_seconds, 2),
               "images_seen": result.images_seen, "eval_top1": result.eval_top1,
               "keep_rate": result.model.config.keep_rate, "attn_keep": result.model.config.attn_keep,
               "attn_mode": result.model.config.attn_mode}
    if as_json:
        print_json(summary)
        return
    top1 = f"{100 * result.eval_top1:.2f}%" if result.eval_top1 is not None else "n/a"
    console.print(f"done: top-1 {top1}, {result.train_seconds:.1f} s in training "
                  f"({result.images_seen / max(result.train_seconds, 1e-9):.0f} img/s); weights: {summary['model']}")
    console.print(f"next: vitsdk prune {output} --block 32x32 --ratio 0.5   |   vitsdk export {output} --target all")


def _fit_with_progress(fit, net, train_set, config, output, eval_set):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[stats]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("train", total=None, epoch="-", stats="")

        def on_step(info):
            stats = (f"{info.img_per_s:.0f} img/s  loss {info.loss:.3f}  acc {100 * info.acc:.1f}%  "
                     f"active {info.active_examples}  keep {info.keep_rate:.2f}  attn {info.attn_keep:.2f}  "
                     f"tokens {100 * info.tokens_kept:.0f}%")
            progress.update(task, completed=info.step, total=info.steps, epoch=f"{info.epoch + 1}/{config.epochs}",
                            stats=stats)

        def on_epoch(record):
            top1 = f"  top-1 {100 * record['eval_top1']:.2f}%" if "eval_top1" in record else ""
            progress.console.print(f"epoch {record['epoch']}: loss {record['train_loss']:.3f}  train acc "
                                   f"{100 * record['train_acc']:.1f}%{top1}  {record['img_per_s']:.0f} img/s  "
                                   f"{record['seconds']:.1f} s  active {record['active_examples']}  tokens "
                                   f"{100 * record['tokens_kept']:.0f}%")

        return fit(net, train_set, config, output, eval_data=eval_set, on_step=on_step, on_epoch=on_epoch)
