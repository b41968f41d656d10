"""ViT/DeiT with token sparsity (top-k by CLS attention) and attention sparsity (top-k keys per row).

Parameter names follow timm's VisionTransformer, so DeiT/timm checkpoints load unchanged. Attention is
written with plain matmuls and softmax (as timm does) because that exports to ExecuTorch, LiteRT and
Core ML with standard ops and static shapes.

At each block in `prune_at` (after attention + residual, before the MLP) the model keeps the top
`keep_count(N, keep_rate)` non-CLS tokens by head-averaged CLS attention; with `fuse_token` the rest
are fused into one extra token weighted by their CLS attention (EViT). From the same attention map
it keeps, per query row, the top `keep_count(k, attn_keep)` keys among the kept patch tokens (the CLS
row and column, and the fused token, are always kept) and applies that pattern in the following
blocks up to the next pruning block (pruning blocks themselves attend densely: they need the whole
map to choose). Keep counts are Python ints computed from static shapes, so
`torch.export` sees a static graph. With keep rates of 1 the model is exactly the plain ViT.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vitsdk.errors import UserError
from vitsdk.models.config import ViTConfig, check_fraction, keep_count


@dataclass
class SparseAttention:
    """The attention pattern carried from a pruning block to the blocks after it.

    Exactly one of `mask` (B, T, T) bool, used as a dense masked softmax, or `key_index` (B, n, m)
    int64, the key positions each patch row attends to, is set. `dense_rows` are token positions
    that attend to every key (CLS, and the fused token when present).
    """

    mask: torch.Tensor | None = None
    key_index: torch.Tensor | None = None
    fused: bool = False

    def dense_mask(self, T: int) -> torch.Tensor:
        """The pattern as a (B, T, T) bool mask, whichever form it is stored in."""
        if self.mask is not None:
            return self.mask
        B, n, _ = self.key_index.shape
        rows = torch.zeros(B, n, T, device=self.key_index.device).scatter(2, self.key_index, 1.0)
        return pad_dense_rows(rows, self.fused) > 0.5


class DropPath(nn.Module):
    """Stochastic depth: drops the residual branch per sample while training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        noise = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * noise / keep


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention with plain matmuls; optionally sparse (masked or gathered keys)."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * num_heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(num_heads * head_dim, dim)

    def forward(self, x: torch.Tensor, sparse: SparseAttention | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, _ = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.training and not need_weights and (sparse is None or sparse.mask is not None):
            # Training: the fused kernel (fp32 flash attention on CPU), 1.7-1.8x faster forward + backward than
            # the plain ops, masked or not (vit_micro block shapes, 1 thread). Eval keeps plain ops for export.
            out = F.scaled_dot_product_attention(q, k, v, None if sparse is None else sparse.mask[:, None],
                                                 scale=self.scale)
            return self.proj(out.transpose(1, 2).reshape(B, T, self.num_heads * self.head_dim)), None
        q = q * self.scale
        if sparse is not None and sparse.key_index is not None and not need_weights:
            out = gathered_attention(q, k, v, sparse)
            attn = None
        else:
            attn = q @ k.transpose(-2, -1)
            if sparse is not None:
                attn = attn.masked_fill(~sparse.dense_mask(T)[:, None], float("-inf"))
            attn = attn.softmax(dim=-1)
            out = attn @ v
        out = out.transpose(1, 2).reshape(B, T, self.num_heads * self.head_dim)
        return self.proj(out), attn


def gathered_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sparse: SparseAttention) -> torch.Tensor:
    """Attention that computes only the kept keys of each patch row: QK^T and AV cost n*m instead of n*T.

    Rows of CLS (and of the fused token) attend densely; they are 1-2 rows out of T.
    """
    B, H, T, D = q.shape
    index = sparse.key_index  # (B, n, m): key positions for the patch rows 1..n
    n, m = index.shape[1], index.shape[2]
    dense_rows = [0] + ([T - 1] if sparse.fused else [])
    gather_index = index[:, None, :, :, None].expand(B, H, n, m, D)
    k_rows = torch.gather(k[:, :, None].expand(B, H, n, T, D), 3, gather_index)
    v_rows = torch.gather(v[:, :, None].expand(B, H, n, T, D), 3, gather_index)
    q_patch = q[:, :, 1:1 + n]
    scores = (q_patch[:, :, :, None, :] @ k_rows.transpose(-2, -1)).softmax(dim=-1)
    out_patch = (scores @ v_rows)[:, :, :, 0]
    q_dense = q[:, :, dense_rows]
    out_dense = (q_dense @ k.transpose(-2, -1)).softmax(dim=-1) @ v
    parts = [out_dense[:, :, :1], out_patch] + ([out_dense[:, :, 1:]] if sparse.fused else [])
    return torch.cat(parts, dim=2)


class TokenKeep(nn.Module):
    """Keeps the top-k non-CLS tokens by head-averaged CLS attention, optionally fusing the rest.

    Also derives the attention-sparsity pattern for the following blocks from the same attention map.
    Reads its rates from the owning model at call time, so a training schedule can change them.
    """

    def __init__(self, fuse_token: bool) -> None:
        super().__init__()
        self.fuse_token = fuse_token

    def forward(self, x: torch.Tensor, attn: torch.Tensor, keep_rate: float, attn_keep: float,
                attn_mode: str) -> tuple[torch.Tensor, SparseAttention | None]:
        B, T, C = x.shape
        n = T - 1
        k = keep_count(n, keep_rate)
        fused = False
        keep_idx = None
        if k < n:
            # The CLS row is sliced before the head average so that ExecuTorch keeps the slice in the XNNPACK
            # subgraph that computed `attn` and token selection is one portable segment (converters/executorch.py).
            cls_attn = attn[:, :, 0, 1:].mean(dim=1)
            order = cls_attn.topk(n, dim=1).indices  # all tokens, most attended first
            keep_idx = order[:, :k]
            kept = torch.gather(x[:, 1:], 1, keep_idx[:, :, None].expand(B, k, C))
            parts = [x[:, :1], kept]
            if self.fuse_token:
                drop_idx = order[:, k:]
                weight = torch.gather(cls_attn, 1, drop_idx)[:, :, None]
                dropped = torch.gather(x[:, 1:], 1, drop_idx[:, :, None].expand(B, n - k, C))
                parts.append((dropped * weight).sum(dim=1, keepdim=True) / weight.sum(dim=1, keepdim=True))
                fused = True
            x = torch.cat(parts, dim=1)
        else:
            k = n
        if attn_keep >= 1.0:
            return x, None
        patch_attn = attn.mean(dim=1)[:, 1:, 1:]  # (B, n, n), head-averaged
        if keep_idx is not None:
            patch_attn = torch.gather(patch_attn, 1, keep_idx[:, :, None].expand(B, k, n))
            patch_attn = torch.gather(patch_attn, 2, keep_idx[:, None, :].expand(B, k, k))
        return x, attention_pattern(patch_attn, keep_count(k, attn_keep), fused, attn_mode)


def attention_pattern(patch_attn: torch.Tensor, keys: int, fused: bool, attn_mode: str) -> SparseAttention:
    """Per patch row, the top `keys` patch keys by attention; CLS (and fused) row/column always kept."""
    B, k, _ = patch_attn.shape
    top = patch_attn.topk(keys, dim=-1).indices  # (B, k, keys) in 0..k-1
    if attn_mode == "gather":
        columns = [torch.zeros_like(top[:, :, :1]), top + 1]
        if fused:
            columns.append(torch.full_like(top[:, :, :1], k + 1))
        return SparseAttention(key_index=torch.cat(columns, dim=-1), fused=fused)
    # Built from float scatter + concatenation (no bool scatter, no in-place slices): Core ML, LiteRT and
    # ExecuTorch all convert these ops.
    patch = torch.zeros_like(patch_attn).scatter(2, top, 1.0)
    ones = torch.ones_like(patch[:, :, :1])
    rows = torch.cat([ones, patch] + ([ones] if fused else []), dim=2)
    return SparseAttention(mask=pad_dense_rows(rows, fused) > 0.5, fused=fused)


def pad_dense_rows(rows: torch.Tensor, fused: bool) -> torch.Tensor:
    """(B, n, T) 0/1 rows of the patch queries -> (B, T, T) with the CLS (and fused) rows all ones."""
    full = torch.ones_like(rows[:, :1])
    return torch.cat([full, rows] + ([full] if fused else []), dim=1)


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, head_dim: int, mlp_hidden: int, qkv_bias: bool,
                 drop_path: float, token_keep: TokenKeep | None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, head_dim, qkv_bias)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_hidden)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.token_keep = token_keep

    def forward(self, x: torch.Tensor, sparse: SparseAttention | None, keep_rate: float, attn_keep: float,
                attn_mode: str, need_weights: bool = False
                ) -> tuple[torch.Tensor, SparseAttention | None, torch.Tensor | None]:
        """Attention, token selection (in a pruning block), MLP.

        Returns the tokens, the attention pattern the following blocks use (a pruning block builds a new
        one from its map, `attn_keep` 1 for none; other blocks pass `sparse` on) and, with `need_weights`,
        this block's attention map. A pruning block attends densely: it needs the full map to choose
        tokens and keys.
        """
        pruning = self.token_keep is not None
        out, attn = self.attn(self.norm1(x), None if pruning else sparse, need_weights=pruning or need_weights)
        x = x + self.drop_path1(out)
        if pruning:
            x, sparse = self.token_keep(x, attn, keep_rate, attn_keep, attn_mode)
        x = x + self.drop_path2(self.mlp(self.norm2(x)))
        return x, sparse, attn


class VisionTransformer(nn.Module):
    """ViT/DeiT classifier (CLS-token pooling) with optional token and attention sparsity."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.patch_embed = PatchEmbed(c.patch_size, c.in_chans, c.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + c.num_patches, c.embed_dim))
        rates = torch.linspace(0, c.drop_path_rate, c.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(c.embed_dim, c.num_heads, c.head_dim, c.mlp_hidden, c.qkv_bias, rates[i],
                  TokenKeep(c.fuse_token) if i in c.prune_at else None)
            for i in range(c.depth))
        self.norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        self.head = nn.Linear(c.embed_dim, c.num_classes)
        self.record_cls_attn = False
        self.last_cls_attn: torch.Tensor | None = None
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def set_sparsity(self, keep_rate: float | None = None, attn_keep: float | None = None) -> None:
        """Changes the token / attention keep fractions (the training schedule calls this)."""
        changes = {}
        if keep_rate is not None:
            check_fraction("keep_rate", keep_rate)
            changes["keep_rate"] = float(keep_rate)
        if attn_keep is not None:
            check_fraction("attn_keep", attn_keep)
            changes["attn_keep"] = float(attn_keep)
        self.config = self.config.replace(**changes)

    def check_input(self, x: torch.Tensor) -> None:
        c = self.config
        expected = (c.in_chans, c.img_size, c.img_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise UserError(f"input shape {tuple(x.shape)} does not match the model: expected "
                            f"(batch, {', '.join(map(str, expected))})")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        c = self.config
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        sparse: SparseAttention | None = None
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            record = self.record_cls_attn and i == last
            # No pattern is built when no block reads it (the next block chooses again, or none follows).
            used = i < last and self.blocks[i + 1].token_keep is None
            # `.forward`, not `block(...)`: a Block frame in the export's module path would rename every tensor
            # of the .tflite files (LiteRT names them by module path) and change their bytes.
            x, sparse, attn = block.forward(x, sparse, c.keep_rate, c.attn_keep if used else 1.0, c.attn_mode,
                                            need_weights=record)
            if record:
                self.last_cls_attn = attn.mean(dim=1)[:, 0, 1:].detach()
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)[:, 0])
