"""One training epoch (`EpochLoop.train_one_epoch`): schedules, batches, the optimizer step, EMA, and what
each step reports; plus `evaluate`. `vitsdk.training.trainer.fit` runs it once per epoch (the header of
trainer.py says why the data path, determinism and resume look the way they do).
"""
from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vitsdk.data import ImageArrays
from vitsdk.errors import UserError
from vitsdk.models import VisionTransformer, count
from vitsdk.training import distributed
from vitsdk.training.config import TrainConfig
from vitsdk.training.examples import ExampleState, SeenExamples, weighted_loss
from vitsdk.training.train_state import TRAIN_STATE_FILE


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


class EpochLoop:
    """One epoch of optimizer steps (`train_one_epoch`), with what every step needs built once."""

    def __init__(self, ctx: distributed.Dist, config: TrainConfig, model: VisionTransformer,
                 optimizer: torch.optim.Optimizer, ema: Ema | None, scaler: torch.amp.GradScaler | None,
                 amp_dtype: torch.dtype | None, x_all: torch.Tensor, y_all: torch.Tensor, examples: ExampleState,
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

    def train_one_epoch(self, epoch: int, out: Path | None,
                        history: list[dict[str, Any]]) -> tuple[dict[str, Any], SeenExamples]:
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
        seen = SeenExamples(active=len(active))
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
                x = augment(x, aug_gen)
            x, y = x.to(ctx.device, non_blocking=True), y.to(ctx.device, non_blocking=True)
            weight = weight_all.index_select(0, index).to(ctx.device) if weight_all is not None else None
            logits, loss = self._forward(x, y, weight, seen)
            check = loss.detach().float().clone()
            distributed.all_reduce_sum(ctx, check)  # every rank stops together on a NaN
            if not torch.isfinite(check):
                raise TrainingDiverged(diverged_message(loss.item(), epoch, step, steps, lr, out, history))
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
                                      tokens_kept(model, self.tokens_cache), lr))
        seconds = time.perf_counter() - epoch_start
        cpu_seconds = time.process_time() - cpu_start
        totals = distributed.all_reduce_sum(ctx, torch.tensor([float(loss_sum), float(correct_sum)], dtype=torch.float64))
        record = {
            "epoch": epoch + 1, "lr": config.lr_at(epoch + 1 - 1e-9), "train_loss": float(totals[0]) / (steps * ctx.world),
            "train_acc": float(totals[1]) / (steps * config.batch_size), "images": steps * config.batch_size,
            "seconds": seconds, "cpu_seconds": cpu_seconds, "img_per_s": steps * config.batch_size / max(seconds, 1e-9),
            "active_examples": len(active), "keep_rate": model.config.keep_rate,
            "attn_keep": model.config.attn_keep, "tokens_kept": tokens_kept(model, self.tokens_cache)}
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
                 seen: SeenExamples) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and loss (weighted per example in soft mode, plus the regularizer) under autocast."""
        config = self.config
        with autocast(self.ctx.device, self.amp_dtype):
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
    x_all, y_all = as_tensors(data, model)
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


def as_tensors(data: ImageArrays, model: VisionTransformer) -> tuple[torch.Tensor, torch.Tensor]:
    c = model.config
    labels = torch.from_numpy(data.labels)
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= c.num_classes):
        raise UserError(f"{data.source or 'dataset'} has labels {int(labels.min())}..{int(labels.max())}, but model "
                        f"'{c.name}' has {c.num_classes} classes")
    return data.to_tensor(c.img_size, c.in_chans, c.mean, c.std), labels


def augment(x: torch.Tensor, gen: torch.Generator, shift: int = 2) -> torch.Tensor:
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


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class Ema:
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


def tokens_kept(model: VisionTransformer, cache: dict[float, float]) -> float:
    """Tokens processed per image summed over blocks, as a fraction of the dense model's."""
    key = model.config.keep_rate
    if key not in cache:
        blocks = count(model).blocks
        dense = len(blocks) * (1 + model.config.num_patches)
        cache[key] = sum(b.tokens_mlp for b in blocks) / dense
    return cache[key]


def diverged_message(loss: float, epoch: int, step: int, steps: int, lr: float, out: Path | None,
                      history: list[dict[str, Any]]) -> str:
    where = f"epoch {epoch + 1} step {step + 1}/{steps} (global step {epoch * steps + step + 1})"
    if out is not None and history:
        kept = f"the last good checkpoint ({out / TRAIN_STATE_FILE}, epoch {history[-1]['epoch']}) is kept"
    else:
        kept = "no checkpoint was written"
    return (f"loss became {loss} at {where}; {kept}; try a lower --lr (it was {lr:.3g}), gradient clipping "
            f"(--grad-clip) or --precision fp32")
