"""`fit`: the trainer for registry models, with the Tri-Level sparsity levels switchable by config.

Why it looks the way it does:
- Data path: the whole training set is one normalised tensor in memory; a batch is an index_select
  plus a vectorised flip/shift, so there is no per-sample Python work and no DataLoader workers
  competing for the two cores.
- Determinism and resume: every random choice of an epoch (sample order, augmentation, drop-path,
  example swaps) is drawn from generators seeded by (seed, epoch, rank), and the LR and keep-rate
  schedules are pure functions of the fractional epoch. So the sampler/RNG state of a checkpoint is
  its epoch number, and a resumed run repeats exactly what an uninterrupted one does.
- Example-level statistics are updated at the end of each epoch from the all-gathered (index,
  correct) or (index, loss) pairs of every rank; each example is presented at most once per epoch, so
  this equals updating after every step. In soft mode the epoch's subset and loss weights are drawn at
  its start from those statistics and a generator seeded by (seed, epoch): the same on every rank and
  after a resume.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vitsdk.data import ImageArrays
from vitsdk.errors import UserError
from vitsdk.models import VisionTransformer, save_checkpoint
from vitsdk.models.checkpoint import MODEL_FILE
from vitsdk.training import distributed
from vitsdk.training.config import TrainConfig
from vitsdk.training.examples import ExamplePool, ExampleState, ForgettingStats, LossScores
from vitsdk.training.loop import Ema, EpochLoop, StepInfo, TrainingDiverged, as_tensors, evaluate
from vitsdk.training.train_state import TRAIN_STATE_FILE, describe_difference, load_train_state, save_train_state

METRICS_FILE = "metrics.jsonl"


@dataclass
class TrainResult:
    """The trained model (EMA weights when EMA is on), per-epoch history and timings."""

    model: VisionTransformer
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0  # time in the training loop (no eval, no checkpointing)
    wall_seconds: float = 0.0
    images_seen: int = 0
    eval_top1: float | None = None
    start_epoch: int = 0  # > 0 when the run resumed from a checkpoint
    out_dir: Path | None = None
    forgetting: ForgettingStats | LossScores | None = None  # example level: per-example statistics (same on every rank)
    pool: ExamplePool | None = None  # example level: the final active / held-out partition


def fit(model: VisionTransformer, train: ImageArrays, config: TrainConfig, out_dir: str | os.PathLike | None = None,
        regularizer: Callable[[VisionTransformer], torch.Tensor] | None = None,
        after_step: Callable[[VisionTransformer], None] | None = None, eval_data: ImageArrays | None = None, *,
        resume: bool = True, on_step: Callable[[StepInfo], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None, device: str | None = None) -> TrainResult:
    """Trains `model` in place on `train` with `config`; returns the model and its history.

    Args:
        model: a `VisionTransformer` (its config's keep rates are driven by the token/attention levels).
        train: the training images; held in memory as one normalised tensor.
        config: the recipe and the sparsity levels.
        out_dir: where per-epoch checkpoints (`train_state.pt`), `metrics.jsonl` and the final
            `model.safetensors` go; an existing checkpoint there is resumed (refused if the model,
            config or data differ).
        regularizer: `regularizer(model) -> scalar tensor`, added to the loss (e.g. group lasso).
        after_step: `after_step(model)` runs after every optimizer step (e.g. re-apply pruning masks).
        eval_data: evaluated (top-1) at the end of every epoch.
        resume: set False to refuse an existing checkpoint in `out_dir` instead of resuming it.
        on_step / on_epoch: progress callbacks (rank 0 only); on_epoch runs after the checkpoint is saved.
        device: 'cpu', 'cuda', 'cuda:1'...; default: the local GPU under torchrun, else CUDA if present, else CPU.
    """
    wall_start = time.perf_counter()
    ctx = distributed.setup(device)
    out = Path(out_dir) if out_dir is not None else None
    initial_model_config = model.config.to_dict()
    model.to(ctx.device)
    _apply_levels(model, config)
    x_all, y_all = as_tensors(train, model)
    examples = ExampleState.start(len(y_all), config, ctx.world)
    fingerprint = {"model": initial_model_config, "train": config.to_dict(), "data": _data_fingerprint(y_all)}
    optimizer = build_optimizer(model, config)
    ema = Ema(model, config.ema_decay) if config.ema_decay else None
    amp_dtype = _amp_dtype(config.precision, ctx.device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    history: list[dict[str, Any]] = []
    start_epoch = 0
    if out is not None and (out / TRAIN_STATE_FILE).exists():
        if not resume:
            raise UserError(f"'{out}' already holds a training checkpoint; pick another -o folder or resume it")
        history, start_epoch = _resume(out / TRAIN_STATE_FILE, fingerprint, model, optimizer, ema, scaler, examples)

    loop = EpochLoop(ctx, config, model, optimizer, ema, scaler, amp_dtype, x_all, y_all, examples,
                     regularizer, after_step, on_step)
    train_seconds = sum(h["seconds"] for h in history)
    images_seen = sum(h["images"] for h in history)
    try:
        for epoch in range(start_epoch, config.epochs):
            record, seen = loop.train_one_epoch(epoch, out, history)
            train_seconds += record["seconds"]
            images_seen += record["images"]
            examples.update(epoch, seen, record, config, ctx)
            if eval_data is not None:
                record["eval_top1"] = loop.evaluate(eval_data)
            history.append(record)
            if out is not None and ctx.main:
                _save_epoch(out, epoch, fingerprint, model, optimizer, ema, scaler, examples, history)
            distributed.barrier(ctx)
            if on_epoch is not None and ctx.main:
                on_epoch(record)
    finally:
        model.record_cls_attn = False

    final = loop.final_model()
    if out is not None and ctx.main:
        save_checkpoint(final, out / MODEL_FILE, {"trained_epochs": str(config.epochs),
                                                  "train_config": json.dumps(config.to_dict())})
    distributed.barrier(ctx)
    eval_top1 = history[-1].get("eval_top1") if history else None
    return TrainResult(final, history, train_seconds, time.perf_counter() - wall_start, images_seen, eval_top1,
                       start_epoch, out, examples.stats, examples.pool)


def _apply_levels(model: VisionTransformer, config: TrainConfig) -> None:
    """Refuses token/attention levels on a model without pruning blocks; sets the attention level's mode."""
    if config.token is not None and not model.config.prune_at:
        raise UserError(f"token-level sparsity needs pruning blocks, but model '{model.config.name}' has prune_at=()")
    if config.attention is not None:
        if not model.config.prune_at:
            raise UserError(f"attention-level sparsity needs pruning blocks; model '{model.config.name}' has none")
        model.config = model.config.replace(attn_mode=config.attention.mode)


def _data_fingerprint(y_all: torch.Tensor) -> dict[str, int]:
    n = len(y_all)
    return {"examples": n, "label_checksum": int((y_all.numpy() * np.arange(1, n + 1) % 1000003).sum())}


def build_optimizer(model: VisionTransformer, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norms, cls_token, pos_embed), as DeiT."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name in ("cls_token", "pos_embed") else decay).append(param)
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=config.peak_lr)


def _resume(state_path: Path, fingerprint: dict[str, Any], model: VisionTransformer, optimizer: torch.optim.Optimizer,
            ema: Ema | None, scaler: torch.amp.GradScaler | None, examples: ExampleState) -> tuple[list[dict], int]:
    """Loads a checkpoint of the same run (refusing another run's); returns its history and epoch count."""
    state = load_train_state(state_path)
    difference = describe_difference(state["fingerprint"], fingerprint)
    if difference:
        raise UserError(f"cannot resume from '{state_path}': it was written for another run ({difference}); "
                        f"use another output folder or the same settings")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None:
        ema.model.load_state_dict(state["ema"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    examples.load_state_dict(state)
    return list(state["history"]), int(state["epoch"])


def _save_epoch(out: Path, epoch: int, fingerprint: dict[str, Any], model: VisionTransformer,
                optimizer: torch.optim.Optimizer, ema: Ema | None, scaler: torch.amp.GradScaler | None,
                examples: ExampleState, history: list[dict[str, Any]]) -> None:
    """The checkpoint a resumed run continues from exactly, and metrics.jsonl (rank 0)."""
    save_train_state(out / TRAIN_STATE_FILE, {
        "epoch": epoch + 1, "fingerprint": fingerprint, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "ema": ema.model.state_dict() if ema else None,
        "scaler": scaler.state_dict() if scaler else None, **examples.state_dict(), "history": history})
    _write_metrics(out / METRICS_FILE, history)


def _amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "fp32":
        return None
    if precision == "fp16":
        if device.type != "cuda":
            raise UserError("precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    # auto: bf16 where the hardware has bf16 matmul units (measured on the dev CPU with AMX: vit_nano
    # 1566 -> 2046 img/s, vit_micro 204 -> 325 img/s per core); fp32 elsewhere, where emulated bf16 is slower.
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_bf16() else None


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matmul (AMX tiles or AVX512-BF16)."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    from vitsdk.atomic import write_text

    write_text(path, "".join(json.dumps(record) + "\n" for record in history))


__all__ = ["METRICS_FILE", "StepInfo", "TrainResult", "TrainingDiverged", "build_optimizer", "cpu_has_bf16", "evaluate",
           "fit"]
