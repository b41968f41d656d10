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

import contextlib
import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vitsdk.data import ImageArrays
from vitsdk.errors import UserError
from vitsdk.models import VisionTransformer, count, save_checkpoint
from vitsdk.models.checkpoint import MODEL_FILE
from vitsdk.training import distributed
from vitsdk.training.train_state import (TRAIN_STATE_FILE, describe_difference, load_train_state,
                                        save_train_state)
from vitsdk.training.config import TrainConfig
from vitsdk.training.examples import ExamplePool, ForgettingStats, LossScores, check_partition, weighted_loss

METRICS_FILE = "metrics.jsonl"


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class StepInfo:
    """What the progress display shows after each optimizer step (rank 0)."""

    epoch: int
    step: int
    steps: int
    loss: float
    acc: float
    img_per_s: float
    active_examples: int
    keep_rate: float
    attn_keep: float
    tokens_kept: float
    lr: float


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
    x_all, y_all = _prepare(train, model)
    examples = _Examples.start(len(y_all), config, ctx.world)
    fingerprint = {"model": initial_model_config, "train": config.to_dict(), "data": _data_fingerprint(y_all)}
    optimizer = build_optimizer(model, config)
    ema = _Ema(model, config.ema_decay) if config.ema_decay else None
    amp_dtype = _amp_dtype(config.precision, ctx.device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    history: list[dict[str, Any]] = []
    start_epoch = 0
    if out is not None and (out / TRAIN_STATE_FILE).exists():
        if not resume:
            raise UserError(f"'{out}' already holds a training checkpoint; pick another -o folder or resume it")
        history, start_epoch = _resume(out / TRAIN_STATE_FILE, fingerprint, model, optimizer, ema, scaler, examples)

    loop = _EpochLoop(ctx, config, model, optimizer, ema, scaler, amp_dtype, x_all, y_all, examples,
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
            ema: _Ema | None, scaler: torch.amp.GradScaler | None, examples: _Examples) -> tuple[list[dict], int]:
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
                optimizer: torch.optim.Optimizer, ema: _Ema | None, scaler: torch.amp.GradScaler | None,
                examples: _Examples, history: list[dict[str, Any]]) -> None:
    """The checkpoint a resumed run continues from exactly, and metrics.jsonl (rank 0)."""
    save_train_state(out / TRAIN_STATE_FILE, {
        "epoch": epoch + 1, "fingerprint": fingerprint, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "ema": ema.model.state_dict() if ema else None,
        "scaler": scaler.state_dict() if scaler else None, **examples.state_dict(), "history": history})
    _write_metrics(out / METRICS_FILE, history)


@dataclass
class _Seen:
    """What one rank's epoch presented: per step the example indices, correctness, CLS-attention variance, loss."""

    active: int  # examples the epoch drew from
    index: list[torch.Tensor] = field(default_factory=list)
    correct: list[torch.Tensor] = field(default_factory=list)
    attn_var: list[torch.Tensor] = field(default_factory=list)
    loss: list[torch.Tensor] = field(default_factory=list)


@dataclass
class _Examples:
    """Example-level state: the mode, per-example statistics and (hard mode) the active / held-out pool."""

    count: int
    soft: bool
    hard: bool
    active_count: int  # examples trained on per epoch in hard mode (all of them otherwise)
    stats: ForgettingStats | LossScores | None
    pool: ExamplePool | None

    @classmethod
    def start(cls, n: int, config: TrainConfig, world: int) -> "_Examples":
        soft = config.example is not None and config.example.mode == "soft"
        hard = config.example is not None and not soft
        active_count = max(1, round(n * config.example.keep)) if hard else n
        if config.batch_size % world:
            raise UserError(f"batch size {config.batch_size} is not divisible by the {world} processes")
        if active_count < config.batch_size:
            what = f"{active_count} active examples ({n} x keep {config.example.keep})" if hard else \
                f"{n} examples"
            raise UserError(f"the training set has {what}, fewer than one batch of {config.batch_size}; "
                            f"use a smaller --batch-size or more data")
        stats = (LossScores if soft else ForgettingStats).empty(n) if config.example else None
        pool = ExamplePool.start(n, config.example.keep, np.random.default_rng([config.seed, 7919])) if hard else None
        return cls(n, soft, hard, active_count, stats, pool)

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.state_dict() if self.stats is not None else None,
                "pool": self.pool.state_dict() if self.pool is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.stats is not None:
            self.stats = type(self.stats).from_state_dict(state["stats"])
        if self.pool is not None:
            self.pool = ExamplePool.from_state_dict(state["pool"])

    def for_epoch(self, epoch: int, config: TrainConfig) -> tuple[np.ndarray, torch.Tensor | None]:
        """The examples an epoch draws from and, in soft mode, their loss weights (None: unweighted)."""
        active = self.pool.active_index if self.pool is not None else np.arange(self.count)
        if self.soft and config.example.prunes(epoch, config.epochs):
            kept, weights = self.stats.select(config.example.keep,
                                              np.random.default_rng([config.seed, epoch, 15485863]))
            if len(kept) >= config.batch_size:
                return kept, torch.from_numpy(weights)
        return active, None

    def update(self, epoch: int, seen: _Seen, record: dict[str, Any], config: TrainConfig,
               ctx: distributed.Dist) -> None:
        """The example-pool update after an epoch, from every rank's (index, loss) or (index, correct) pairs;
        in hard mode, every `period` epochs, the most-learned active examples swap with held-out ones."""
        if self.stats is None:
            return
        all_index = distributed.all_gather_cat(ctx, torch.cat(seen.index)).numpy()
        if self.soft:
            self.stats.update(all_index, distributed.all_gather_cat(ctx, torch.cat(seen.loss)).numpy())
            record["skipped_examples"] = self.count - seen.active
            return
        all_correct = distributed.all_gather_cat(ctx, torch.cat(seen.correct)).numpy()
        all_var = distributed.all_gather_cat(ctx, torch.cat(seen.attn_var)).numpy() if seen.attn_var else None
        self.stats.update(all_index, all_correct, all_var)
        record["forgetting_events"] = int(self.stats.forgets.sum())
        record["never_learned"] = int(((self.stats.presentations > 0) & ~self.stats.learned).sum())
        if (epoch + 1) % config.example.period(config.epochs) == 0 and epoch + 1 < config.epochs:
            swap_rng = np.random.default_rng([config.seed, epoch, 104729])
            removed, _ = self.pool.swap(self.stats, config.example.swap_count(self.active_count), swap_rng,
                                        config.example.tie_break)
            check_partition(self.pool, self.count, self.active_count)
            record["swapped"] = len(removed)


class _EpochLoop:
    """One epoch of optimizer steps (`train_one_epoch`), with what every step needs built once."""

    def __init__(self, ctx: distributed.Dist, config: TrainConfig, model: VisionTransformer,
                 optimizer: torch.optim.Optimizer, ema: _Ema | None, scaler: torch.amp.GradScaler | None,
                 amp_dtype: torch.dtype | None, x_all: torch.Tensor, y_all: torch.Tensor, examples: _Examples,
                 regularizer: Callable[[VisionTransformer], torch.Tensor] | None,
                 after_step: Callable[[VisionTransformer], None] | None,
                 on_step: Callable[[StepInfo], None] | None) -> None:
        self.ctx, self.config, self.model, self.optimizer = ctx, config, model, optimizer
        self.ema, self.scaler, self.amp_dtype = ema, scaler, amp_dtype
        self.x_all, self.y_all, self.examples = x_all, y_all, examples
        self.regularizer, self.after_step, self.on_step = regularizer, after_step, on_step
        self.net: torch.nn.Module = model  # wrapped after any resume: DDP broadcasts rank 0's weights
        if ctx.enabled:
            self.net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
        self.token_schedule = config.token.schedule(config.epochs) if config.token else None
        self.attn_schedule = config.attention.schedule(config.epochs) if config.attention else None
        self.record_attn = examples.hard and config.example.tie_break == "cls_attn_var"
        model.record_cls_attn = self.record_attn
        self.tokens_cache: dict[float, float] = {}

    def train_one_epoch(self, epoch: int, out: Path | None, history: list[dict[str, Any]]) -> tuple[dict, _Seen]:
        """Every step of `epoch`; returns its record (loss, accuracy, timings, sparsity) and what it presented.
        Every random choice comes from generators seeded by (seed, epoch, rank): a resumed run repeats it."""
        config, ctx, model = self.config, self.ctx, self.model
        seeds = np.random.SeedSequence([config.seed, epoch, ctx.rank]).generate_state(2)
        torch.manual_seed(int(seeds[0]))  # drop-path
        aug_gen = torch.Generator().manual_seed(int(seeds[1]))
        order_rng = np.random.default_rng([config.seed, epoch])  # same on every rank
        active, weight_all = self.examples.for_epoch(epoch, config)
        steps = len(active) // config.batch_size  # the last partial batch is dropped
        order = torch.from_numpy(active[order_rng.permutation(len(active))][:steps * config.batch_size])
        seen = _Seen(active=len(active))
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct_sum = 0
        self.net.train()
        epoch_start, cpu_start = time.perf_counter(), time.process_time()
        for step in range(steps):
            lr = self._set_schedules(epoch + step / steps)
            index = order[step * config.batch_size:(step + 1) * config.batch_size][ctx.rank::ctx.world]
            x = self.x_all.index_select(0, index)
            y = self.y_all.index_select(0, index)
            if config.augment:
                x = _augment(x, aug_gen)
            x, y = x.to(ctx.device, non_blocking=True), y.to(ctx.device, non_blocking=True)
            weight = weight_all.index_select(0, index).to(ctx.device) if weight_all is not None else None
            logits, loss = self._forward(x, y, weight, seen)
            check = loss.detach().float().clone()
            distributed.all_reduce_sum(ctx, check)  # every rank stops together on a NaN
            if not torch.isfinite(check):
                raise TrainingDiverged(_diverged_message(loss.item(), epoch, step, steps, lr, out, history))
            self._optimizer_step(loss)
            correct = (logits.detach().argmax(dim=1) == y).cpu()
            seen.index.append(index)
            seen.correct.append(correct)
            if self.record_attn:
                seen.attn_var.append(model.last_cls_attn.float().var(dim=1).cpu())
            loss_sum += loss.detach().double().cpu()
            correct_sum += int(correct.sum())
            if self.on_step is not None and ctx.main:
                elapsed = time.perf_counter() - epoch_start
                self.on_step(StepInfo(epoch, step + 1, steps, float(loss.detach()), correct_sum / ((step + 1) * len(index)),
                                      (step + 1) * config.batch_size / max(elapsed, 1e-9), len(active),
                                      model.config.keep_rate, model.config.attn_keep,
                                      _tokens_kept(model, self.tokens_cache), lr))
        seconds = time.perf_counter() - epoch_start
        cpu_seconds = time.process_time() - cpu_start
        totals = distributed.all_reduce_sum(ctx, torch.tensor([float(loss_sum), float(correct_sum)], dtype=torch.float64))
        record = {
            "epoch": epoch + 1, "lr": config.lr_at(epoch + 1 - 1e-9), "train_loss": float(totals[0]) / (steps * ctx.world),
            "train_acc": float(totals[1]) / (steps * config.batch_size), "images": steps * config.batch_size,
            "seconds": seconds, "cpu_seconds": cpu_seconds, "img_per_s": steps * config.batch_size / max(seconds, 1e-9),
            "active_examples": len(active), "keep_rate": model.config.keep_rate,
            "attn_keep": model.config.attn_keep, "tokens_kept": _tokens_kept(model, self.tokens_cache)}
        return record, seen

    def _set_schedules(self, progress: float) -> float:
        """The learning rate and keep rates at fractional epoch `progress` (pure functions of it); returns the lr."""
        lr = self.config.lr_at(progress)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.token_schedule is not None:
            self.model.set_sparsity(keep_rate=self.token_schedule(progress))
        if self.attn_schedule is not None:
            self.model.set_sparsity(attn_keep=self.attn_schedule(progress))
        return lr

    def _forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None,
                 seen: _Seen) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and loss (weighted per example in soft mode, plus the regularizer) under autocast."""
        config = self.config
        with _autocast(self.ctx.device, self.amp_dtype):
            logits = self.net(x)
            if self.examples.soft:
                loss, per_example = weighted_loss(logits, y, weight, config.label_smoothing)
                seen.loss.append(per_example.detach().float().cpu())
            else:
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            if self.regularizer is not None:
                loss = loss + self.regularizer(self.model)
        return logits, loss

    def _optimizer_step(self, loss: torch.Tensor) -> None:
        """Backward (scaled in fp16), gradient clipping, the step, then EMA and the caller's after_step."""
        optimizer, scaler = self.optimizer, self.scaler
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        if self.after_step is not None:
            self.after_step(self.model)

    def evaluate(self, data: ImageArrays) -> float:
        """Top-1 of the weights being trained (the EMA ones when EMA is on) at the current keep rates."""
        eval_model = self.ema.model if self.ema is not None else self.model
        eval_model.config = self.model.config
        return evaluate(eval_model, data, self.config.eval_batch_size, self.ctx)

    def final_model(self) -> VisionTransformer:
        """The model to save, at the schedules' end values (also when a finished run is merely resumed)."""
        config, model = self.config, self.model
        if self.token_schedule is not None:
            model.set_sparsity(keep_rate=self.token_schedule(config.epochs))
        if self.attn_schedule is not None:
            model.set_sparsity(attn_keep=self.attn_schedule(config.epochs))
        final = self.ema.model if self.ema is not None else model
        final.config = model.config
        return final


@torch.no_grad()
def evaluate(model: VisionTransformer, data: ImageArrays, batch_size: int = 512,
             ctx: distributed.Dist | None = None) -> float:
    """Top-1 accuracy of `model` (at its current sparsity) on `data`; sharded across ranks under DDP."""
    ctx = ctx or distributed.Dist(device=next(model.parameters()).device)
    x_all, y_all = _prepare(data, model)
    was_training = model.training
    model.eval()
    correct = 0
    shard = torch.arange(ctx.rank, len(y_all), ctx.world)
    for start in range(0, len(shard), batch_size):
        index = shard[start:start + batch_size]
        logits = model(x_all.index_select(0, index).to(ctx.device))
        correct += int((logits.argmax(dim=1).cpu() == y_all.index_select(0, index)).sum())
    model.train(was_training)
    total = distributed.all_reduce_sum(ctx, torch.tensor([float(correct)], dtype=torch.float64))
    return float(total[0]) / len(y_all)


def _prepare(data: ImageArrays, model: VisionTransformer) -> tuple[torch.Tensor, torch.Tensor]:
    c = model.config
    labels = torch.from_numpy(data.labels)
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= c.num_classes):
        raise UserError(f"{data.source or 'dataset'} has labels {int(labels.min())}..{int(labels.max())}, but model "
                        f"'{c.name}' has {c.num_classes} classes")
    return data.to_tensor(c.img_size, c.in_chans, c.mean, c.std), labels


def _augment(x: torch.Tensor, gen: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Random horizontal flip and +-`shift` px translation per sample, as one batched gather."""
    B, C, H, W = x.shape
    flip = torch.rand(B, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
    dy = torch.randint(0, 2 * shift + 1, (B,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (B,), generator=gen)
    rows = (dy[:, None] + torch.arange(H))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(W))[:, None, None, :]
    return padded[torch.arange(B)[:, None, None, None], torch.arange(C)[None, :, None, None], rows, cols]


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


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class _Ema:
    """Exponential moving average of the weights (evaluated and saved in place of the raw weights)."""

    def __init__(self, model: VisionTransformer, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        self.model.record_cls_attn = False
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: VisionTransformer) -> None:
        ema = list(self.model.state_dict().values())
        live = list(model.state_dict().values())
        floats = [(e, m) for e, m in zip(ema, live) if e.dtype.is_floating_point]
        torch._foreach_lerp_([e for e, _ in floats], [m for _, m in floats], 1.0 - self.decay)


def _tokens_kept(model: VisionTransformer, cache: dict[float, float]) -> float:
    """Tokens processed per image summed over blocks, as a fraction of the dense model's."""
    key = model.config.keep_rate
    if key not in cache:
        blocks = count(model).blocks
        dense = len(blocks) * (1 + model.config.num_patches)
        cache[key] = sum(b.tokens_mlp for b in blocks) / dense
    return cache[key]


def _diverged_message(loss: float, epoch: int, step: int, steps: int, lr: float, out: Path | None,
                      history: list[dict[str, Any]]) -> str:
    where = f"epoch {epoch + 1} step {step + 1}/{steps} (global step {epoch * steps + step + 1})"
    if out is not None and history:
        kept = f"the last good checkpoint ({out / TRAIN_STATE_FILE}, epoch {history[-1]['epoch']}) is kept"
    else:
        kept = "no checkpoint was written"
    return (f"loss became {loss} at {where}; {kept}; try a lower --lr (it was {lr:.3g}), gradient clipping "
            f"(--grad-clip) or --precision fp32")


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    from vitsdk.atomic import write_text

    write_text(path, "".join(json.dumps(record) + "\n" for record in history))


__all__ = ["METRICS_FILE", "StepInfo", "TrainResult", "TrainingDiverged", "evaluate", "fit"]
