"""Fixed-point quantisation of a ViT and its numpy integer reference model.

Scheme (what the accelerator computes, layer by layer):
- activations int8, symmetric, one scale per tensor (calibrated max |x|, or a percentile);
- weights int8, symmetric, one scale per output channel (the head: one scale, so its int32 logits rank
  classes directly); biases int32 in the accumulator's scale;
- matmuls accumulate in int32 and are rescaled by an integer multiplier and shift per channel;
- the residual stream is int16 with one scale for the whole model (branch outputs are rescaled
  straight into it, so adds need no rescaling);
- LayerNorm: integer mean/variance/isqrt; softmax: exp2 from a 256-entry table and a shift, probabilities
  as unsigned integers in units of 2^-prob_bits (12: 8 bits blurred the CLS attention that picks tokens);
  GELU: a 256-entry table on the int8 input; token selection: top-k of the integer CLS attention
  summed over heads (highest first, ties to the lower index).
`forward_int` is the exact definition; the RTL engine (fpga/rtl/) matches it bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from vitsdk.errors import UserError
from vitsdk.fpga import intops
from vitsdk.fpga.extract import FloatLinear, FloatViT, Ranges, patchify
from vitsdk.models import ViTConfig, keep_count

QUANT_VERSION = 1
RESIDUAL_BITS_MAX, EPS_Q_MAX, PROB_BITS_MAX = 17, 1 << 33, 14  # what the engine's lanes carry (rtl/vit_lanes.v)


@dataclass(frozen=True)
class QuantConfig:
    """How the model is turned into integers.

    Args:
        weight_bits: bits of the weights (8: two MACs per DSP48E2).
        act_bits: bits of the matmul inputs and outputs.
        residual_bits: bits of the residual stream (16 keeps adds exact enough).
        prob_bits: softmax probabilities are integers in units of 2^-prob_bits.
        ln_frac_bits: fractional bits of the normalised value inside LayerNorm.
        percentile: calibration clips int8 activations at this percentile of |x| (100 = max).
        max_saturation: a layer whose outputs saturate more often than this fraction on the
            calibration images is a fixed-point overflow error.
    """

    weight_bits: int = 8
    act_bits: int = 8
    residual_bits: int = 16
    prob_bits: int = 12
    ln_frac_bits: int = 10
    percentile: float = 99.99
    max_saturation: float = 0.01
    version: int = QUANT_VERSION

    def __post_init__(self) -> None:
        if self.weight_bits != 8 or self.act_bits != 8:
            raise UserError("the FPGA engine computes int8 x int8 matmuls: weight_bits and act_bits must be 8")
        if not 10 <= self.residual_bits <= RESIDUAL_BITS_MAX:
            raise UserError(f"residual_bits must be in 10..{RESIDUAL_BITS_MAX} (the engine's LayerNorm lane takes a "
                            f"std of at most 17 bits), got {self.residual_bits}")
        if not 6 <= self.prob_bits <= PROB_BITS_MAX:
            raise UserError(f"prob_bits must be in 6..{PROB_BITS_MAX} (the engine's softmax division by reciprocal "
                            f"is exact up to 14), got {self.prob_bits}")
        if not 4 <= self.ln_frac_bits <= 16:
            raise UserError(f"ln_frac_bits must be in 4..16, got {self.ln_frac_bits}")
        if not 90.0 <= self.percentile <= 100.0:
            raise UserError(f"percentile must be in [90, 100], got {self.percentile}")
        if not 0.0 <= self.max_saturation < 1.0:
            raise UserError(f"max_saturation must be in [0, 1), got {self.max_saturation}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class QLinear:
    """int8 weights (out, in), int32 bias, and the requantisation (m, shift) per output channel."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    m: np.ndarray
    shift: np.ndarray
    acc_scale: np.ndarray  # real value of one accumulator unit, per output channel


@dataclass
class QNorm:
    name: str
    gain: np.ndarray  # int64 (C,)
    offset: np.ndarray  # int64 (C,)
    shift: int
    eps_q: int


@dataclass
class QBlock:
    index: int
    ln1: QNorm
    qkv: QLinear
    score_m: int  # softmax: score gap -> log2 units
    score_shift: int
    av_m: int  # AV accumulator -> int8
    av_shift: int
    proj: QLinear
    keep: int | None  # patch tokens kept after this block's attention (None: no selection)
    ln2: QNorm
    fc1: QLinear
    gelu: np.ndarray  # int8 table of 256
    fc2: QLinear
    fuse: bool = False  # EViT: the dropped tokens become one extra token, weighted by their CLS attention

    def tokens_after(self, tokens: int) -> int:
        """Tokens after this block's token selection, from `tokens` before it."""
        return tokens_after(tokens, self.keep, self.fuse)


def selected_patches(config: ViTConfig, block: int, patches: int) -> int | None:
    """Patch tokens block `block` keeps out of `patches` non-CLS tokens (a fused one counts as a patch), as the
    model's TokenKeep decides; None when the block selects none (no pruning there, or it would keep them all)."""
    if block in config.prune_at and config.keep_rate < 1.0:
        kept = keep_count(patches, config.keep_rate)
        if kept < patches:
            return kept
    return None


def tokens_after(tokens: int, keep: int | None, fuse: bool) -> int:
    """Tokens after a token selection that keeps `keep` patches: CLS + the kept ones (+ EViT's fused token)."""
    return tokens if keep is None else 1 + keep + int(fuse)


@dataclass
class QuantViT:
    """The integer model: everything the engine's compiler (`program.py`) and `forward_int` need."""

    config: ViTConfig
    quant: QuantConfig
    input_scale: float
    residual_scale: float
    patch: QLinear
    embed: np.ndarray  # int (1 + N, C): CLS + position embedding in residual units
    blocks: list[QBlock]
    norm: QNorm
    head: QLinear  # output: int32 logits, real = acc * head.acc_scale
    exp_lut: np.ndarray
    scales: dict[str, float] = field(default_factory=dict)

    @property
    def num_heads(self) -> int:
        return self.config.num_heads

    @property
    def tokens(self) -> list[int]:
        """Tokens entering each block's attention, then the final count."""
        counts, t = [], 1 + self.config.num_patches
        for block in self.blocks:
            counts.append(t)
            t = block.tokens_after(t)
        return counts + [t]

    def linears(self) -> list[QLinear]:
        out = [self.patch]
        for b in self.blocks:
            out += [b.qkv, b.proj, b.fc1, b.fc2]
        return out + [self.head]


def _quant_weight(w: np.ndarray, per_channel: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8, one scale per output channel (or one for the tensor); an all-zero row gets scale 1."""
    amax = np.abs(w).max(axis=1) if per_channel else np.full(w.shape[0], np.abs(w).max())
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    return np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int64), scale


def _qlinear(name: str, fl: FloatLinear, in_scale: float, out_scale: np.ndarray | float | None,
             overflow: list[str]) -> QLinear:
    # The head has one scale so its int32 logits rank like the real ones (argmax works on the raw output).
    w_q, w_scale = _quant_weight(fl.weight, per_channel=out_scale is not None)
    acc_scale = in_scale * w_scale
    bias = np.round(fl.bias / acc_scale)
    if np.any(np.abs(bias) > 2**31 - 1):
        worst = float(np.abs(bias).max())
        overflow.append(f"{name}: bias needs {math.ceil(math.log2(worst + 1)) + 1} bits, the int32 "
                        f"accumulator has 32")
        bias = np.clip(bias, -(2**31 - 1), 2**31 - 1)
    if out_scale is None:  # the head keeps its int32 accumulators
        m = np.ones(len(acc_scale), dtype=np.int64)
        shift = np.ones(len(acc_scale), dtype=np.int64)
    else:
        try:
            m, shift = intops.multiplier(acc_scale / out_scale)
        except OverflowError:
            overflow.append(f"{name}: output rescale factor {float(np.max(acc_scale / out_scale)):.3g} "
                            f"does not fit the int32 multiplier")
            m, shift = intops.multiplier(np.minimum(acc_scale / out_scale, 2.0**29))
    return QLinear(name, w_q, bias.astype(np.int64), m, shift, acc_scale)


def _qnorm(name: str, gamma: np.ndarray, beta: np.ndarray, in_scale: float, out_scale: float,
           frac_bits: int) -> QNorm:
    """gain/offset so that round_shift(z * gain + offset, shift) = (z/2^F * gamma + beta) / out_scale."""
    ratio = max(float(np.abs(gamma).max()) / out_scale, 1e-12)
    gain_bits = int(math.floor(20 - math.log2(ratio)))
    shift = int(min(max(frac_bits + gain_bits, 1), 48))
    gain = np.round(gamma / out_scale * 2.0 ** (shift - frac_bits)).astype(np.int64)
    offset = np.round(beta / out_scale * 2.0**shift).astype(np.int64)
    eps_q = int(round(1e-6 / in_scale**2))
    if eps_q >= EPS_Q_MAX:  # with |x| < 2^(RESIDUAL_BITS_MAX - 1), isqrt(var + eps) stays below the lane's 2^17
        raise UserError(f"{name}: LayerNorm's epsilon is {eps_q} units of its input scale {in_scale:.3g}, over the "
                        f"engine's LayerNorm lane ({EPS_Q_MAX - 1}): calibrate on images with larger residual values")
    return QNorm(name, gain, offset, shift, eps_q)


def quantize(fv: FloatViT, ranges: Ranges, qcfg: QuantConfig | None = None) -> QuantViT:
    """The integer model of `fv` with activation scales from `ranges`.

    A bias or rescale factor that does not fit its integer type is a fixed-point overflow: reported
    per layer in one `UserError`.
    """
    qcfg = qcfg or QuantConfig()
    c = fv.config
    overflow: list[str] = []
    res_max = (1 << (qcfg.residual_bits - 1)) - 1
    s_in = ranges.input / 127.0
    s_res = ranges.residual / res_max
    patch = _qlinear("patch_embed", fv.patch, s_in, s_res, overflow)
    embed = fv.pos_embed.copy()
    embed[0] += fv.cls_token
    embed_q = np.round(embed / s_res)
    if np.any(np.abs(embed_q) > res_max):
        overflow.append(f"pos_embed: |value| up to {np.abs(embed).max():.3g} exceeds the residual range")
    embed_q = np.clip(embed_q, -res_max, res_max).astype(np.int64)
    scales = {"input": s_in, "residual": s_res}
    blocks, n = [], c.num_patches
    D = c.head_dim
    for i, (fb, r) in enumerate(zip(fv.blocks, ranges.blocks)):
        H = fb.qkv.weight.shape[0] // (3 * D)
        s = {key: value / 127.0 for key, value in r.items()}
        scales.update({f"blocks.{i}.{key}": value for key, value in s.items()})
        ln1 = _qnorm(f"blocks.{i}.norm1", *fb.norm1, s_res, s["ln1"], qcfg.ln_frac_bits)
        out_scale = np.concatenate([np.full(H * D, s["q"]), np.full(H * D, s["k"]), np.full(H * D, s["v"])])
        qkv = _qlinear(f"blocks.{i}.attn.qkv", fb.qkv, s["ln1"], out_scale, overflow)
        score_real = s["q"] * s["k"] * D**-0.5 * math.log2(math.e) * (1 << intops.EXP_LUT_BITS)
        (score_m,), (score_shift,) = intops.multiplier(score_real)
        (av_m,), (av_shift,) = intops.multiplier(s["v"] * 2.0**-qcfg.prob_bits / s["av"])
        proj = _qlinear(f"blocks.{i}.attn.proj", fb.proj, s["av"], s_res, overflow)
        keep = selected_patches(c, i, n)  # n counts every non-CLS token, a fused one included
        n = tokens_after(1 + n, keep, c.fuse_token) - 1
        ln2 = _qnorm(f"blocks.{i}.norm2", *fb.norm2, s_res, s["ln2"], qcfg.ln_frac_bits)
        fc1 = _qlinear(f"blocks.{i}.mlp.fc1", fb.fc1, s["ln2"], s["fc1"], overflow)
        gelu = intops.gelu_lut(s["fc1"], s["gelu"])
        fc2 = _qlinear(f"blocks.{i}.mlp.fc2", fb.fc2, s["gelu"], s_res, overflow)
        blocks.append(QBlock(i, ln1, qkv, int(score_m), int(score_shift), int(av_m), int(av_shift), proj,
                             keep, ln2, fc1, gelu, fc2, fuse=keep is not None and c.fuse_token))
    s_norm = ranges.norm / 127.0
    scales["norm"] = s_norm
    norm = _qnorm("norm", *fv.norm, s_res, s_norm, qcfg.ln_frac_bits)
    head = _qlinear("head", fv.head, s_norm, None, overflow)
    if overflow:
        raise UserError("fixed-point overflow: " + "; ".join(overflow))
    return QuantViT(c, qcfg, s_in, s_res, patch, embed_q, blocks, norm, head, intops.exp2_lut(), scales)


def quantize_input(qv: QuantViT, images: np.ndarray, rec: "Recorder | None" = None) -> np.ndarray:
    """Normalised float images (B, C, H, W) -> int8 patches (B, N, C*p*p), what the accelerator reads."""
    x = np.round(patchify(np.asarray(images, dtype=np.float64), qv.config.patch_size) / qv.input_scale)
    if rec is not None:
        rec.out("input", x.size, int(np.count_nonzero((x < -128) | (x > 127))))
    return np.clip(x, -128, 127).astype(np.int8)


@dataclass
class LayerStats:
    """Per-layer fixed-point health over the images run: saturations and int32 overflows."""

    values: int = 0
    saturated: int = 0
    acc_overflow: int = 0

    @property
    def saturated_frac(self) -> float:
        return self.saturated / self.values if self.values else 0.0


class Recorder:
    def __init__(self) -> None:
        self.layers: dict[str, LayerStats] = {}

    def acc(self, name: str, acc: np.ndarray) -> None:
        stats = self.layers.setdefault(name, LayerStats())
        stats.acc_overflow += int(np.count_nonzero(np.abs(acc) > 2**31 - 1))

    def out(self, name: str, count: int, saturated: int) -> None:
        stats = self.layers.setdefault(name, LayerStats())
        stats.values += count
        stats.saturated += saturated

    def report(self) -> dict[str, dict]:
        return {name: {"values": s.values, "saturated": s.saturated, "saturated_frac": s.saturated_frac,
                       "acc_overflow": s.acc_overflow} for name, s in self.layers.items()}


def _linear(x: np.ndarray, ql: QLinear, rec: Recorder) -> np.ndarray:
    acc = intops.imatmul(x, ql.weight) + ql.bias
    rec.acc(ql.name, acc)
    return acc


def forward_int(qv: QuantViT, patches: np.ndarray, rec: Recorder | None = None) -> np.ndarray:
    """The integer reference: int8 patches (B, N, P) -> int32 logits (B, classes).

    Real logits are `logits * qv.head.acc_scale`. Every step is integer; `rec` collects the overflow
    statistics per layer.
    """
    rec = rec or Recorder()
    qcfg = qv.quant
    c = qv.config
    D = c.head_dim
    res_lo, res_hi = intops.int_range(qcfg.residual_bits)
    x = patches.astype(np.int64)
    B = x.shape[0]
    y, sat = intops.requant(_linear(x, qv.patch, rec), qv.patch.m, qv.patch.shift, res_lo, res_hi)
    rec.out("patch_embed", y.size, sat)
    res = np.concatenate([np.zeros((B, 1, y.shape[-1]), dtype=np.int64), y], axis=1) + qv.embed
    rec.out("embed_add", res.size, int(np.count_nonzero((res < res_lo) | (res > res_hi))))
    res = np.clip(res, res_lo, res_hi)

    def add_residual(res: np.ndarray, acc: np.ndarray, ql: QLinear) -> np.ndarray:
        branch, sat = intops.requant(acc, ql.m, ql.shift, res_lo, res_hi)
        total = res + branch
        rec.out(ql.name, total.size, sat + int(np.count_nonzero((total < res_lo) | (total > res_hi))))
        return np.clip(total, res_lo, res_hi)

    for b in qv.blocks:
        T = res.shape[1]
        H = b.qkv.weight.shape[0] // (3 * D)  # heads may have been pruned away
        h, sat = intops.layernorm(res, b.ln1.gain, b.ln1.offset, b.ln1.shift, qcfg.ln_frac_bits, b.ln1.eps_q)
        rec.out(b.ln1.name, h.size, sat)
        qkv, sat = intops.requant(_linear(h, b.qkv, rec), b.qkv.m, b.qkv.shift, -128, 127)
        rec.out(b.qkv.name, qkv.size, sat)
        qkv = qkv.reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, D)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = np.rint(q.astype(np.float64) @ k.astype(np.float64).transpose(0, 1, 3, 2)).astype(np.int64)
        rec.acc(f"blocks.{b.index}.attn.scores", scores)
        prob = intops.softmax(scores, b.score_m, b.score_shift, qcfg.prob_bits, qv.exp_lut)
        av = np.rint(prob.astype(np.float64) @ v.astype(np.float64)).astype(np.int64)  # (B, H, T, D)
        av = av.transpose(0, 2, 1, 3).reshape(B, T, H * D)
        av, sat = intops.requant(av, b.av_m, b.av_shift, -128, 127)
        rec.out(f"blocks.{b.index}.attn.av", av.size, sat)
        res = add_residual(res, _linear(av, b.proj, rec), b.proj)
        if b.keep is not None:
            score = prob[:, :, 0, 1:].sum(axis=1)  # (B, T-1): CLS attention summed over heads
            ranked = intops.rank_tokens(score)
            kept = np.take_along_axis(res, ranked[:, :b.keep, None] + 1, axis=1)
            parts = [res[:, :1], kept]
            if b.fuse:
                dropped = ranked[:, b.keep:]
                fused = intops.fuse_tokens(np.take_along_axis(score, dropped, axis=1),
                                           np.take_along_axis(res, dropped[:, :, None] + 1, axis=1))
                parts.append(fused[:, None])
            res = np.concatenate(parts, axis=1)
        h, sat = intops.layernorm(res, b.ln2.gain, b.ln2.offset, b.ln2.shift, qcfg.ln_frac_bits, b.ln2.eps_q)
        rec.out(b.ln2.name, h.size, sat)
        h, sat = intops.requant(_linear(h, b.fc1, rec), b.fc1.m, b.fc1.shift, -128, 127)
        rec.out(b.fc1.name, h.size, sat)
        h = b.gelu[h + 128]
        res = add_residual(res, _linear(h, b.fc2, rec), b.fc2)
    cls = res[:, 0]
    h, sat = intops.layernorm(cls, qv.norm.gain, qv.norm.offset, qv.norm.shift, qcfg.ln_frac_bits, qv.norm.eps_q)
    rec.out("norm", h.size, sat)
    return _linear(h, qv.head, rec)


def logits_float(qv: QuantViT, logits: np.ndarray) -> np.ndarray:
    return logits.astype(np.float64) * qv.head.acc_scale


def overflow_report(qv: QuantViT, images: np.ndarray, batch_size: int = 256) -> dict[str, dict]:
    """Runs the integer reference on float images (B, C, H, W) and returns the fixed-point statistics per
    layer (input quantisation included)."""
    rec = Recorder()
    for start in range(0, len(images), batch_size):
        forward_int(qv, quantize_input(qv, images[start:start + batch_size], rec), rec)
    return rec.report()


def check_overflow(report: dict[str, dict], max_saturation: float) -> None:
    """Raises one `UserError` naming every layer whose int32 accumulators overflowed or whose outputs
    saturated more often than `max_saturation`."""
    bad = []
    for name, s in report.items():
        if s["acc_overflow"]:
            bad.append(f"{name}: {s['acc_overflow']} int32 accumulator overflows")
        elif s["saturated_frac"] > max_saturation:
            bad.append(f"{name}: {100 * s['saturated_frac']:.2f}% of outputs saturate "
                       f"(limit {100 * max_saturation:.2f}%)")
    if bad:
        raise UserError("fixed-point overflow: " + "; ".join(bad))
