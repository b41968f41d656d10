"""The integer primitives of the FPGA engine, in numpy: the single definition of its arithmetic.

`fpga/rtl/vit_ops.vh` implements each function here with the same name and the same integer
operations, so the RTL simulation matches this module bit for bit. Conventions (same on both sides):
right shifts of negative numbers are arithmetic (floor), divisions are floor divisions, rounding is
"add half, then shift" (round half up), and every multiply-accumulate fits in int64.
"""
from __future__ import annotations

import math

import numpy as np

INT8 = (-128, 127)
EXP_LUT_BITS = 8  # the softmax exp2 table has 2**EXP_LUT_BITS entries
EXP_ONE = 1 << 15  # exp2(0) in the table's fixed point
MAX_SHIFT = 62
SOFTMAX_U_MAX = (1 << 31) - 1  # score gaps are clamped here so gap * multiplier fits in int64


def int_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def multiplier(real: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """A positive real multiplier as (m, shift) with m in [2^30, 2^31) and m / 2^shift ~= real.

    Tiny multipliers saturate at shift 62 (m smaller); huge ones (>= 2^30) are a fixed-point error
    the caller reports.
    """
    real = np.atleast_1d(np.asarray(real, dtype=np.float64))
    if np.any(real <= 0) or not np.all(np.isfinite(real)):
        raise ValueError("requantisation multipliers must be positive and finite")
    shift = 30 - np.floor(np.log2(real)).astype(np.int64)
    shift = np.clip(shift, 1, MAX_SHIFT)
    m = np.round(real * np.exp2(shift.astype(np.float64))).astype(np.int64)
    # rounding can reach 2^31: halve once
    over = m >= (1 << 31)
    m[over] = np.round(real[over] * np.exp2((shift[over] - 1).astype(np.float64))).astype(np.int64)
    shift[over] -= 1
    if np.any(m >= (1 << 31)) or np.any(shift < 1):
        raise OverflowError("requantisation multiplier >= 2^30 does not fit the int32 fixed point")
    return m.astype(np.int64), shift.astype(np.int64)


def round_shift(value: np.ndarray, shift: np.ndarray | int) -> np.ndarray:
    """(value + 2^(shift-1)) >> shift on int64: round half up, arithmetic shift."""
    shift = np.asarray(shift, dtype=np.int64)
    return (value + (np.int64(1) << (shift - 1))) >> shift


def requant(acc: np.ndarray, m: np.ndarray, shift: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """Rescales int32 accumulators to a narrower integer: clamp(round(acc * m / 2^shift)).

    Returns the values (int64) and how many saturated (the overflow report counts them).
    """
    y = round_shift(acc.astype(np.int64) * m, shift)
    saturated = int(np.count_nonzero((y < lo) | (y > hi)))
    return np.clip(y, lo, hi), saturated


def imatmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer x @ w.T through float64 (exact while every sum stays below 2^53; int8 sums do)."""
    return np.rint(x.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)


def isqrt(v: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) for int64 v >= 0, exact (float estimate, then integer correction)."""
    v = np.asarray(v, dtype=np.int64)
    s = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    s = np.where(s * s > v, s - 1, s)
    s = np.where((s + 1) * (s + 1) <= v, s + 1, s)
    s = np.where(s * s > v, s - 1, s)
    return s


def exp2_lut() -> np.ndarray:
    """EXP_ONE * 2^(-f / 2^EXP_LUT_BITS) for f in [0, 2^EXP_LUT_BITS), rounded: the softmax table."""
    f = np.arange(1 << EXP_LUT_BITS, dtype=np.float64)
    return np.round(EXP_ONE * np.exp2(-f / (1 << EXP_LUT_BITS))).astype(np.int64)


def layernorm(x: np.ndarray, gain: np.ndarray, offset: np.ndarray, shift: int, frac_bits: int,
              eps_q: int) -> tuple[np.ndarray, int]:
    """Integer LayerNorm over the last axis: int16 residual in, int8 out.

    mean = floor(sum/C); d = x - mean; var = floor(sum(d^2)/C); std = max(1, isqrt(var + eps_q));
    z = floor(d * 2^frac_bits / std); y = clamp(round_shift(z * gain + offset, shift)).
    """
    x = x.astype(np.int64)
    C = x.shape[-1]
    mean = np.floor_divide(x.sum(axis=-1, keepdims=True), C)
    d = x - mean
    var = np.floor_divide((d * d).sum(axis=-1, keepdims=True), C)
    std = np.maximum(isqrt(var + eps_q), 1)
    z = np.floor_divide(d * (1 << frac_bits), std)
    y = round_shift(z * gain + offset, shift)
    saturated = int(np.count_nonzero((y < INT8[0]) | (y > INT8[1])))
    return np.clip(y, *INT8), saturated


def softmax(scores: np.ndarray, m: int, shift: int, prob_bits: int, lut: np.ndarray) -> np.ndarray:
    """Integer softmax over the last axis of int32 scores: probabilities in units of 2^-prob_bits.

    u = min(max - s, 2^31-1); t = round_shift(u * m, shift) is -log2(e^x) in 2^-EXP_LUT_BITS units;
    e = LUT[t mod 2^B] >> (t >> B) (0 once the shift reaches 31); p = floor((e * 2^prob_bits + sum/2) / sum).
    """
    s = scores.astype(np.int64)
    u = np.minimum(s.max(axis=-1, keepdims=True) - s, SOFTMAX_U_MAX)
    t = round_shift(u * m, shift)
    q = t >> EXP_LUT_BITS
    f = t & ((1 << EXP_LUT_BITS) - 1)
    e = np.where(q > 30, 0, lut[f] >> np.minimum(q, 30))
    total = e.sum(axis=-1, keepdims=True)
    return np.floor_divide(e * (1 << prob_bits) + total // 2, total)


def gelu_lut(in_scale: float, out_scale: float) -> np.ndarray:
    """GELU on int8 codes as a 256-entry table: entry i is the output for input code i - 128."""
    codes = np.arange(-128, 128, dtype=np.float64) * in_scale
    gelu = np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in codes])
    return np.clip(np.round(gelu / out_scale), *INT8).astype(np.int64)


def rank_tokens(score: np.ndarray) -> np.ndarray:
    """Every index per row (B, n) by score, highest first, ties to the lower index."""
    return np.argsort(-score, axis=-1, kind="stable")


def select_tokens(score: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the `keep` highest scores per row (B, n), highest first, ties to the lower index."""
    return rank_tokens(score)[:, :keep]


def fuse_tokens(weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """EViT's fused token: the weighted mean of the dropped tokens x (B, m, C) by their integer CLS scores
    weight (B, m), rounded half up: floor((2 * sum(w x) + W) / (2 W)) with W = sum(w); 0 when W is 0."""
    weight = weight.astype(np.int64)
    total = weight.sum(axis=-1, keepdims=True)
    num = (weight[:, :, None] * x.astype(np.int64)).sum(axis=1)
    return np.where(total > 0, np.floor_divide(2 * num + total, np.maximum(2 * total, 1)), 0)
