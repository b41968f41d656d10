"""Compaction: masks become smaller dense computation with standard ops (exports to every runtime).

Four modes, so a benchmark can compare them in one run:
- 'mask'   : the model as pruned (zeros in full-size weights); saves nothing on dense runtimes.
- 'remove' : structural removal only. An MLP hidden unit whose fc2 column is pruned in every strip
             (or whose fc1 row is pruned in every chunk: its constant GELU(bias) is folded into fc2's
             bias) is deleted from fc1 and fc2; an attention head whose proj columns are all pruned (or
             whose V rows are all pruned: its constant output is folded into proj's bias) is deleted
             from qkv and proj. Remaining zeros stay in smaller dense weights.
- 'gather' : 'remove', then every still-masked layer becomes block-compact: per row strip the kept
             input columns are gathered once and a smaller dense (batched) matmul runs ('columns'), or
             per column chunk only the kept output rows are computed and summed into place ('rows').
- 'auto'   : 'gather' where a layer becomes one gather plus one dense matmul (blocks as tall, or as
             wide, as the layer, or strips merged by removal), 'remove' elsewhere. On ExecuTorch+XNNPACK
             and LiteRT (benchmarks/pruning.py) many small strips ran slower than the dense layer,
             so 'auto' never trades a dense matmul for them; it is the default for loading artifacts.

Heads are never removed in token-pruning blocks: their attention map feeds the head-averaged CLS
attention that chooses tokens, so removing a head there would change which tokens are kept.
Every mode computes exactly what the masked model computes (up to float summation order).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vitsdk.errors import UserError, check_choice
from vitsdk.sparsity.state import (BlockMask, LayerInfo, block_mask, is_compacted, set_compaction,
                                   set_layer_info)

COMPACTION_MODES = ("auto", "mask", "remove", "gather")


class ColumnBlockLinear(nn.Module):
    """y = x W^T + b where each group of output rows reads only its own gathered input columns.

    Groups are the row strips of the block mask (S of them, padded to R rows and K columns with zero
    weights). S == 1 (blocks as tall as the layer) is a single gather plus an ordinary linear layer.
    Otherwise the input is transposed once so the gather copies whole contiguous rows (one per kept
    column, N tokens long) and feeds (S, R, K) @ (S, K, N) directly: no transpose of the gathered
    copy, which is S times larger than the input. Measured ~25% faster than gathering along the last
    dimension (DeiT-S fc1 shape, one thread, eager).
    """

    def __init__(self, in_features: int, out_features: int, weight: torch.Tensor, in_index: torch.Tensor,
                 out_index: torch.Tensor | None, bias: torch.Tensor | None, info: LayerInfo) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.groups = weight.shape[0] if weight.ndim == 3 else 1
        self.weight = nn.Parameter(weight.contiguous(), requires_grad=False)  # (R, K) or (S, R, K)
        self.register_buffer("in_index", in_index.long().contiguous())
        self.register_buffer("out_index", None if out_index is None else out_index.long().contiguous())
        self.bias = None if bias is None else nn.Parameter(bias.contiguous(), requires_grad=False)
        set_layer_info(self, info)

    def macs_per_token(self) -> int:
        return int(self.weight.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_features)
        if self.groups == 1:
            y = F.linear(x.index_select(1, self.in_index), self.weight)
        else:
            S, R, K = self.weight.shape
            xg = x.t().contiguous().index_select(0, self.in_index).reshape(S, K, -1)  # (S, K, N)
            y = torch.bmm(self.weight, xg).reshape(S * R, -1).t()  # (N, S*R)
        if self.out_index is not None:
            y = y.index_select(1, self.out_index)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)


class RowBlockLinear(nn.Module):
    """y = x W^T + b where each chunk of input columns computes only its kept output rows.

    Per column chunk c (C of them, padded to B inputs and Q outputs with zero weights) a small matmul
    gives Q partial outputs; a gather lays them onto the outputs and a sum over chunks adds them up.
    The last of each chunk's Q outputs is always a zero column: outputs a chunk does not produce read
    it (cheaper to export than concatenating zeros at run time).
    """

    def __init__(self, in_features: int, out_features: int, weight: torch.Tensor, in_index: torch.Tensor | None,
                 scatter_index: torch.Tensor, bias: torch.Tensor | None, info: LayerInfo) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(weight.contiguous(), requires_grad=False)  # (C, B, Q)
        self.register_buffer("in_index", None if in_index is None else in_index.long().contiguous())
        self.register_buffer("scatter_index", scatter_index.long().contiguous())  # (C * out,)
        self.bias = None if bias is None else nn.Parameter(bias.contiguous(), requires_grad=False)
        set_layer_info(self, info)

    def macs_per_token(self) -> int:
        return int(self.weight.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        C, B, Q = self.weight.shape
        x = x.reshape(-1, self.in_features)
        if self.in_index is not None:
            x = x.index_select(1, self.in_index)
        if C == 1:
            y = x @ self.weight[0]
        else:
            y = torch.bmm(x.reshape(-1, C, B).transpose(0, 1), self.weight).transpose(0, 1).reshape(-1, C * Q)
        y = y.index_select(1, self.scatter_index)
        if C > 1:
            y = y.reshape(-1, C, self.out_features).sum(dim=1)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)


COMPACT_MODULES = (ColumnBlockLinear, RowBlockLinear)


@dataclass
class _Layer:
    """A linear layer in flight: masked weight, mask, and which source rows/columns survive."""

    name: str
    weight: torch.Tensor  # (out', in'), masked
    bias: torch.Tensor | None
    mask: torch.Tensor  # (out', in') bool
    block_mask: BlockMask | None
    out_keep: torch.Tensor  # source row of each current row
    in_keep: torch.Tensor  # source column of each current column

    @classmethod
    def of(cls, name: str, module: nn.Linear) -> "_Layer":
        bm = block_mask(module)
        w = module.weight.detach().float()
        mask = bm.dense() if bm is not None else torch.ones_like(w, dtype=torch.bool)
        b = None if module.bias is None else module.bias.detach().float().clone()
        return cls(name, w * mask, b, mask, bm, torch.arange(w.shape[0]), torch.arange(w.shape[1]))

    def keep_rows(self, rows: torch.Tensor) -> None:
        self.weight, self.mask, self.out_keep = self.weight[rows], self.mask[rows], self.out_keep[rows]
        if self.bias is not None:
            self.bias = self.bias[rows]

    def keep_cols(self, cols: torch.Tensor) -> None:
        self.weight, self.mask, self.in_keep = self.weight[:, cols], self.mask[:, cols], self.in_keep[cols]

    def info(self) -> LayerInfo:
        bm = self.block_mask
        shape = bm.shape if bm is not None else (len(self.out_keep), len(self.in_keep))
        kept = float(self.mask.sum()) / (shape[0] * shape[1])
        return LayerInfo(self.name, tuple(shape), None if bm is None else tuple(bm.block),
                         None if bm is None else bm.direction, 0.0 if bm is None else bm.ratio, kept)


def compact(model: nn.Module, mode: str = "auto") -> nn.Module:
    """A compacted copy of the masked `model` (the input is left untouched)."""
    check_choice("compaction mode", mode, COMPACTION_MODES)
    if is_compacted(model):
        raise UserError("this model is already compacted; compact the masked model")
    out = copy.deepcopy(model).eval()
    if mode == "mask":
        return out
    with torch.no_grad():
        for i, block in enumerate(out.blocks):
            prefix = f"blocks.{i}."
            _compact_mlp(block.mlp, prefix + "mlp.", mode)
            _compact_attention(block.attn, prefix + "attn.", mode, allow_head_removal=block.token_keep is None)
    set_compaction(out, mode)
    return out


def _compact_mlp(mlp: nn.Module, prefix: str, mode: str) -> None:
    fc1, fc2 = _Layer.of(prefix + "fc1", mlp.fc1), _Layer.of(prefix + "fc2", mlp.fc2)
    unused = ~fc2.mask.any(dim=0)  # hidden units fc2 never reads
    constant = ~fc1.mask.any(dim=1) & ~unused  # hidden units fc1 never feeds: GELU(bias) is a constant
    if constant.any():
        value = F.gelu(fc1.bias[constant]) if fc1.bias is not None else torch.zeros(int(constant.sum()))
        fc2.bias = _add_bias(fc2.bias, fc2.weight[:, constant] @ value, fc2.weight.shape[0])
    keep = torch.nonzero(~(unused | constant)).flatten()
    if len(keep) == 0:  # cannot happen with ratio < 1 (every block keeps a piece); refuse loudly if it does
        raise UserError(f"{prefix}: every hidden unit is pruned; nothing left to compact")
    fc1.keep_rows(keep)
    fc2.keep_cols(keep)
    mlp.fc1 = _build(fc1, mode)
    mlp.fc2 = _build(fc2, mode)


def _compact_attention(attn: nn.Module, prefix: str, mode: str, allow_head_removal: bool) -> None:
    qkv, proj = _Layer.of(prefix + "qkv", attn.qkv), _Layer.of(prefix + "proj", attn.proj)
    H, D = attn.num_heads, attn.head_dim
    heads = torch.arange(H)
    if allow_head_removal:
        unused = ~proj.mask.reshape(proj.mask.shape[0], H, D).any(dim=2).any(dim=0)  # (H,)
        v_rows = qkv.mask.reshape(3, H, D, -1)[2]
        constant = ~v_rows.any(dim=2).any(dim=1) & ~unused  # V is its bias: the head outputs a constant
        if constant.any():
            v_bias = qkv.bias.reshape(3, H, D)[2] if qkv.bias is not None else torch.zeros(H, D)
            cols = proj.weight.reshape(proj.weight.shape[0], H, D)
            proj.bias = _add_bias(proj.bias, torch.einsum("ohd,hd->o", cols[:, constant], v_bias[constant]),
                                  proj.weight.shape[0])
        heads = torch.nonzero(~(unused | constant)).flatten()
        if len(heads) == 0:
            raise UserError(f"{prefix}: every attention head is pruned; nothing left to compact")
    if len(heads) < H:
        # qkv rows are laid out (3, H, D): keep q, k and v of the surviving heads, in that order.
        qkv.keep_rows(torch.cat([part * H * D + h * D + torch.arange(D) for part in range(3) for h in heads.tolist()]))
        proj.keep_cols((heads[:, None] * D + torch.arange(D)).flatten())
        attn.num_heads = len(heads)
    attn.qkv = _build(qkv, mode)
    attn.proj = _build(proj, mode)


def _add_bias(bias: torch.Tensor | None, extra: torch.Tensor, size: int) -> torch.Tensor:
    return (torch.zeros(size) if bias is None else bias) + extra


def _build(layer: _Layer, mode: str) -> nn.Module:
    """The module for one layer after removal: plain nn.Linear, or a block-compact one in 'gather' mode."""
    bm = layer.block_mask
    if mode == "remove" or bm is None or bool(layer.mask.all()):
        out_f, in_f = layer.weight.shape
        linear = nn.Linear(in_f, out_f, bias=layer.bias is not None)
        linear.weight.copy_(layer.weight)
        if layer.bias is not None:
            linear.bias.copy_(layer.bias)
        linear.requires_grad_(False)
        set_layer_info(linear, layer.info())
        return linear
    module = _column_block(layer) if bm.direction == "columns" else _row_block(layer)
    many_groups = module.groups > 1 if isinstance(module, ColumnBlockLinear) else module.weight.shape[0] > 1
    if mode == "auto" and many_groups:
        return _build(layer, "remove")
    return module


def _groups(ids: torch.Tensor) -> list[torch.Tensor]:
    """Positions of each distinct id, in order of first appearance (ids are sorted here)."""
    return [torch.nonzero(ids == v).flatten() for v in torch.unique_consecutive(ids).tolist()]


def _column_block(layer: _Layer) -> ColumnBlockLinear:
    bm = layer.block_mask
    out_f, in_f = layer.weight.shape
    fast = _uniform_column_block(layer)
    if fast is not None:
        return fast
    strips = _groups(layer.out_keep // bm.block[0])
    cols = [torch.nonzero(layer.mask[rows].any(dim=0)).flatten() for rows in strips]
    S, R, K = len(strips), max(len(r) for r in strips), max(len(c) for c in cols)
    weight = torch.zeros(S, R, K)
    in_index = torch.zeros(S, K, dtype=torch.long)
    out_index = torch.empty(out_f, dtype=torch.long)
    for s, (rows, cc) in enumerate(zip(strips, cols)):
        weight[s, :len(rows), :len(cc)] = layer.weight[rows][:, cc]
        in_index[s, :len(cc)] = cc
        out_index[rows] = s * R + torch.arange(len(rows))
    if bool((out_index == torch.arange(out_f)).all()) and S * R == out_f:
        out_index = None
    if S == 1:
        weight = weight[0]  # (R, K) for F.linear
    return ColumnBlockLinear(in_f, out_f, weight, in_index.flatten(), out_index, layer.bias, layer.info())


def _uniform_column_block(layer: _Layer) -> ColumnBlockLinear | None:
    """The common case, vectorised: every strip has the same rows and keeps the same number of columns."""
    br = layer.block_mask.block[0]
    out_f, in_f = layer.weight.shape
    strip_of = layer.out_keep // br
    counts = torch.unique_consecutive(strip_of, return_counts=True)[1]
    if not bool((counts == counts[0]).all()):
        return None
    S, R = len(counts), int(counts[0])
    mask = layer.mask.reshape(S, R, in_f)
    if not bool((mask == mask[:, :1]).all()):
        return None
    kept = mask[:, 0].sum(dim=1)
    if not bool((kept == kept[0]).all()):
        return None
    K = int(kept[0])
    in_index = torch.nonzero(mask[:, 0])[:, 1].reshape(S, K)  # row-major: sorted within each strip
    weight = torch.gather(layer.weight.reshape(S, R, in_f), 2, in_index[:, None, :].expand(S, R, K))
    weight = weight[0] if S == 1 else weight  # (R, K) for F.linear, else (S, R, K) for bmm
    return ColumnBlockLinear(in_f, out_f, weight, in_index.flatten(), None, layer.bias, layer.info())


def _row_block(layer: _Layer) -> RowBlockLinear:
    bm = layer.block_mask
    out_f, in_f = layer.weight.shape
    chunks = _groups(layer.in_keep // bm.block[1])
    rows = [torch.nonzero(layer.mask[:, cc].any(dim=1)).flatten() for cc in chunks]
    C, B = len(chunks), max(len(c) for c in chunks)
    Q = max(len(r) for r in rows) + 1  # + a zero output column per chunk
    weight = torch.zeros(C, B, Q)
    in_index = torch.zeros(C, B, dtype=torch.long)
    scatter = torch.empty(C, out_f, dtype=torch.long)
    for c, (cc, rr) in enumerate(zip(chunks, rows)):
        weight[c, :len(cc), :len(rr)] = layer.weight[rr][:, cc].T
        in_index[c, :len(cc)] = cc
        scatter[c] = c * Q + Q - 1
        scatter[c, rr] = c * Q + torch.arange(len(rr))
    in_index = in_index.flatten()
    if len(in_index) == in_f and bool((in_index == torch.arange(in_f)).all()):
        in_index = None
    return RowBlockLinear(in_f, out_f, weight, in_index, scatter.flatten(), layer.bias, layer.info())


def _structure(model: nn.Module) -> tuple:
    """What a compacted model computes with: module kinds and weight shapes (equal structures run alike)."""
    return tuple((name, type(m).__name__, tuple(m.weight.shape)) for name, m in model.named_modules()
                 if isinstance(m, (nn.Linear,) + COMPACT_MODULES))


def time_compactions(model: nn.Module, runtime: str, rounds: int = 10, threads: int = 1) -> dict:
    """Exports every compaction of the masked `model` to `runtime` ('executorch' or 'litert'), times the
    files round-robin in the real runtime here (batch 1, fp32, `threads` threads, loaded and called as
    `vitsdk bench --device host` does: `vitsdk.bench.runtimes`) and returns the measurements with the
    fastest mode as `chosen`. Modes that compact to the same structure are timed once.

    Which layout is fastest depends on the runtime and the shapes (many small strips ran slower than
    the dense layer on XNNPACK, one gather + one matmul faster): measuring beats a rule.
    """
    import statistics
    import tempfile
    import time
    from pathlib import Path

    from vitsdk.bench.runtimes import load, require_runtime

    require_runtime(runtime)
    c = model.config
    x = torch.randn(1, c.in_chans, c.img_size, c.img_size)
    calls, same_as, seen = {}, {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("auto", "remove", "gather", "mask"):
            compacted = compact(model, mode)
            key = _structure(compacted)
            if key in seen:
                same_as[mode] = seen[key]
                continue
            seen[key] = mode
            path = Path(folder) / f"{mode}.{'pte' if runtime == 'executorch' else 'tflite'}"
            if runtime == "executorch":
                from vitsdk.converters.executorch import to_pte

                to_pte(compacted, (x,), path)
            else:
                from vitsdk.converters.litert import to_tflite

                to_tflite(compacted, (x,), path)
            call = load(runtime, path, threads=threads).bind(x.numpy())
            for _ in range(3):  # warm-up
                call()
            calls[mode] = call
        times: dict[str, list[float]] = {mode: [] for mode in calls}
        for _ in range(rounds):  # round-robin, so machine noise hits every mode alike
            for mode, call in calls.items():
                start = time.perf_counter()
                call()
                times[mode].append((time.perf_counter() - start) * 1e3)
    median = {mode: round(statistics.median(t), 4) for mode, t in times.items()}
    chosen = min(median, key=median.get)
    return {"runtime": runtime, "chosen": chosen, "median_ms": median, "same_as": same_as, "rounds": rounds,
            "threads": threads, "batch": 1, "precision": "fp32"}
