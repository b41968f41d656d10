"""Parameter, MAC, token and weight-byte accounting, read off the model's actual modules.

Convention: a MAC is one multiply-accumulate of a matrix multiply. Counted: patch embedding,
qkv, QK^T, AV, output projection, MLP fc1/fc2 and the classifier head (for the CLS token only).
Not counted: softmax, LayerNorm, GELU, residual adds, token selection (topk/gather). This is the
convention behind the published DeiT figures (Ti 1.3 G, S 4.6 G, B 17.6 G at 224 px).

Attention sparsity saves MACs only in 'gather' mode (QK^T and AV computed for the kept keys of each
patch row); in 'mask' mode the masked scores are still computed, so it saves nothing, and the
accounting says so.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import nn

from vitsdk.models.config import keep_count
from vitsdk.models.vision_transformer import VisionTransformer

MAC_CONVENTION = ("multiply-accumulates of matrix multiplies: patch embedding, qkv, QK^T, AV, proj, "
                  "fc1, fc2, head (CLS only); softmax, LayerNorm, GELU, adds and token selection excluded")


def linear_macs_per_token(module: nn.Module) -> int:
    """MACs one token costs in a linear layer; compacted layers report their own figure."""
    if hasattr(module, "macs_per_token"):
        return int(module.macs_per_token())
    return int(module.in_features * module.out_features)


@dataclass
class BlockAccount:
    index: int
    tokens_attn: int  # tokens entering attention (incl. CLS and a fused token)
    tokens_mlp: int  # tokens entering the MLP (after any selection in this block)
    keys_per_row: float  # average keys each query row attends to
    macs_qkv: int
    macs_attn: int  # QK^T + AV
    macs_proj: int
    macs_mlp: int
    prunes_tokens: bool

    @property
    def macs(self) -> int:
        return self.macs_qkv + self.macs_attn + self.macs_proj + self.macs_mlp


@dataclass
class Accounting:
    model: str
    img_size: int
    keep_rate: float
    attn_keep: float
    attn_mode: str
    fuse_token: bool
    params: int
    macs: int
    macs_patch_embed: int
    macs_head: int
    attn_macs_saved: int  # QK^T + AV MACs that attention sparsity removes (0 in 'mask' mode)
    blocks: list[BlockAccount] = field(default_factory=list)
    convention: str = MAC_CONVENTION

    @property
    def weight_bytes(self) -> dict[str, int]:
        return {"fp32": self.params * 4, "fp16": self.params * 2, "int8": self.params}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["weight_bytes"] = self.weight_bytes
        data["gmacs"] = round(self.macs / 1e9, 4)
        data["tokens_per_block"] = [b.tokens_mlp for b in self.blocks]
        return data


def count(model: VisionTransformer) -> Accounting:
    """The accounting of `model` at its current keep rates and input size."""
    c = model.config
    n_tokens = 1 + c.num_patches
    embed_out = model.patch_embed.proj
    macs_patch = c.num_patches * embed_out.weight.numel()
    sparse_keys: int | None = None  # keys per patch row in blocks after a pruning block
    fused = False
    blocks, saved = [], 0
    for i, block in enumerate(model.blocks):
        attn = block.attn
        inner = attn.num_heads * attn.head_dim
        T = n_tokens
        dense_pairs = T * T
        if sparse_keys is not None and block.token_keep is None and c.attn_mode == "gather":
            dense_rows = 1 + int(fused)
            pairs = dense_rows * T + (T - dense_rows) * sparse_keys
        else:
            pairs = dense_pairs
        saved += 2 * inner * (dense_pairs - pairs)
        keys_per_row = pairs / T
        if block.token_keep is not None:
            n = T - 1
            k = keep_count(n, c.keep_rate)
            if k < n:
                fused = c.fuse_token
                n_tokens = 1 + k + int(fused)
            else:
                k, fused = n, False
            sparse_keys = keep_count(k, c.attn_keep) + 1 + int(fused) if c.attn_keep < 1.0 else None
        blocks.append(BlockAccount(
            index=i, tokens_attn=T, tokens_mlp=n_tokens, keys_per_row=keys_per_row,
            macs_qkv=T * linear_macs_per_token(attn.qkv), macs_attn=2 * inner * pairs,
            macs_proj=T * linear_macs_per_token(attn.proj),
            macs_mlp=n_tokens * (linear_macs_per_token(block.mlp.fc1) + linear_macs_per_token(block.mlp.fc2)),
            prunes_tokens=block.token_keep is not None))
    macs_head = linear_macs_per_token(model.head)
    total = macs_patch + macs_head + sum(b.macs for b in blocks)
    params = sum(p.numel() for p in model.parameters())
    return Accounting(model=c.name, img_size=c.img_size, keep_rate=c.keep_rate, attn_keep=c.attn_keep,
                      attn_mode=c.attn_mode, fuse_token=c.fuse_token, params=params, macs=total,
                      macs_patch_embed=macs_patch, macs_head=macs_head, attn_macs_saved=saved, blocks=blocks)
