// Integer kernels of the vitsdk ViT accelerator (Vitis HLS C++, also plain C++17 for C simulation).
//
// Every function mirrors the numpy function of the same name in sdk/vitsdk/fpga/intops.py, which
// defines the arithmetic: right shifts of negative values are arithmetic, divisions floor, rounding
// adds half then shifts. Accumulators are int32 and wrap like hardware adders (compile with
// -fwrapv); the Python side refuses models whose final sums leave the int32 range.
//
// Activations and buffers are flat row-major arrays (row stride = width) so one buffer serves
// layers of different widths, as one on-chip memory does in the accelerator.
#ifndef VITSDK_VIT_KERNELS_H
#define VITSDK_VIT_KERNELS_H

#include <stdint.h>

namespace vit {

typedef int8_t act_t;    // int8 activations and weights
typedef int32_t res_t;   // residual stream (values stay within RES_BITS, saturating)
typedef int32_t acc_t;   // matmul accumulators
typedef int64_t wide_t;  // rescaling products

static const int EXP_LUT_BITS = 8;
static const wide_t SOFTMAX_U_MAX = 2147483647;

static inline wide_t floordiv(wide_t a, wide_t b) {
    wide_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

static inline wide_t round_shift(wide_t v, int s) { return (v + ((wide_t)1 << (s - 1))) >> s; }

static inline wide_t clampw(wide_t v, wide_t lo, wide_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

static inline wide_t requant(wide_t acc, wide_t m, int s, wide_t lo, wide_t hi) {
    return clampw(round_shift(acc * m, s), lo, hi);
}

// floor(sqrt(v)) for 0 <= v < 2^62, digit by digit: a fixed 32 steps, so it pipelines.
static inline wide_t isqrt(wide_t v) {
    wide_t r = 0;
    for (int i = 31; i >= 0; --i) {
#pragma HLS UNROLL
        wide_t one = (wide_t)1 << (2 * i);
        if (v >= r + one) {
            v -= r + one;
            r = (r >> 1) + one;
        } else {
            r >>= 1;
        }
    }
    return r;
}

// Block-sparse linear layer: acc[t][o] = bias[o] + sum over kept columns of x[t][col] * w[o][col].
// The weight is cut into strips of BR output rows and NCB column blocks; each block keeps KC
// columns (index: global column numbers, shape [strips][NCB][KC]; values: [strips][NCB][KC][BR]).
// BR processing elements work in parallel, one per output row of the strip: every cycle they all
// consume the same input value, so balanced blocks mean balanced PEs and no idle lanes.
template <int IN, int OUT, int BR, int NCB, int KC>
void bs_linear(int tokens, const act_t x[], acc_t acc[], const uint16_t index[], const act_t values[],
               const acc_t bias[]) {
    const int STRIPS = (OUT + BR - 1) / BR;
token_loop:
    for (int t = 0; t < tokens; ++t) {
    strip_loop:
        for (int s = 0; s < STRIPS; ++s) {
            acc_t pe[BR];
#pragma HLS ARRAY_PARTITION variable = pe complete
            for (int r = 0; r < BR; ++r) {
#pragma HLS UNROLL
                pe[r] = 0;
            }
        column_loop:
            for (int b = 0; b < NCB; ++b) {
                for (int k = 0; k < KC; ++k) {
#pragma HLS PIPELINE II = 1
                    const int slot = (s * NCB + b) * KC + k;
                    const acc_t xv = x[t * IN + index[slot]];
                    for (int r = 0; r < BR; ++r) {
#pragma HLS UNROLL
                        pe[r] += xv * (acc_t)values[slot * BR + r];
                    }
                }
            }
            for (int r = 0; r < BR; ++r) {
#pragma HLS UNROLL
                const int o = s * BR + r;
                if (o < OUT) acc[t * OUT + o] = pe[r] + bias[o];
            }
        }
    }
}

// int32 accumulators -> int8 activations, per-channel multiplier and shift.
template <int OUT>
void requant_act(int tokens, const acc_t acc[], act_t y[], const int32_t m[], const int8_t shift[]) {
    for (int t = 0; t < tokens; ++t)
        for (int o = 0; o < OUT; ++o) {
#pragma HLS PIPELINE II = 1
            y[t * OUT + o] = (act_t)requant(acc[t * OUT + o], m[o], shift[o], -128, 127);
        }
}

// res += requant(acc) with saturation at the residual range (a branch output joins the stream).
template <int C, int RES_BITS>
void add_residual(int tokens, const acc_t acc[], res_t res[], const int32_t m[], const int8_t shift[]) {
    const wide_t hi = ((wide_t)1 << (RES_BITS - 1)) - 1, lo = -hi - 1;
    for (int t = 0; t < tokens; ++t)
        for (int c = 0; c < C; ++c) {
#pragma HLS PIPELINE II = 1
            const wide_t branch = requant(acc[t * C + c], m[c], shift[c], lo, hi);
            res[t * C + c] = (res_t)clampw(res[t * C + c] + branch, lo, hi);
        }
}

// Integer LayerNorm of residual rows into int8: mean, variance and isqrt in integers.
template <int C>
void layernorm(int tokens, const res_t x[], act_t y[], const wide_t gain[], const wide_t offset[], int shift,
               int frac_bits, wide_t eps_q) {
    for (int t = 0; t < tokens; ++t) {
        const res_t* row = x + t * C;
        wide_t sum = 0;
        for (int c = 0; c < C; ++c) sum += row[c];
        const wide_t mean = floordiv(sum, C);
        wide_t sq = 0;
        for (int c = 0; c < C; ++c) {
            const wide_t d = row[c] - mean;
            sq += d * d;
        }
        wide_t std = isqrt(floordiv(sq, C) + eps_q);
        if (std < 1) std = 1;
        for (int c = 0; c < C; ++c) {
#pragma HLS PIPELINE II = 1
            const wide_t z = floordiv((row[c] - mean) * ((wide_t)1 << frac_bits), std);
            y[t * C + c] = (act_t)clampw(round_shift(z * gain[c] + offset[c], shift), -128, 127);
        }
    }
}

// Integer softmax of one row of scores into probabilities in units of 2^-PROB_BITS.
template <int TMAX, int PROB_BITS>
void softmax_row(int n, const acc_t scores[], wide_t prob[], wide_t m, int shift, const int32_t exp_lut[]) {
    wide_t mx = scores[0];
    for (int j = 1; j < n; ++j)
        if (scores[j] > mx) mx = scores[j];
    wide_t e[TMAX];
    wide_t total = 0;
    for (int j = 0; j < n; ++j) {
#pragma HLS PIPELINE II = 1
        wide_t u = mx - scores[j];
        if (u > SOFTMAX_U_MAX) u = SOFTMAX_U_MAX;
        const wide_t t = round_shift(u * m, shift);
        const wide_t q = t >> EXP_LUT_BITS;
        const wide_t f = t & ((1 << EXP_LUT_BITS) - 1);
        e[j] = q > 30 ? 0 : ((wide_t)exp_lut[f] >> q);
        total += e[j];
    }
    for (int j = 0; j < n; ++j) {
#pragma HLS PIPELINE II = 1
        prob[j] = (e[j] * ((wide_t)1 << PROB_BITS) + total / 2) / total;
    }
}

// Multi-head attention on the qkv rows (layout [q heads | k heads | v heads], each head D wide).
// Also sums the CLS row's probabilities over heads into cls_score (the token-selection score).
template <int TMAX, int H, int D, int PROB_BITS>
void attention(int tokens, const act_t qkv[], act_t out[], wide_t score_m, int score_shift, wide_t av_m,
               int av_shift, const int32_t exp_lut[], wide_t cls_score[]) {
    const int W = 3 * H * D;
    acc_t scores[TMAX];
    wide_t prob[TMAX];
    for (int j = 0; j < tokens; ++j) cls_score[j] = 0;
head_loop:
    for (int h = 0; h < H; ++h) {
    query_loop:
        for (int i = 0; i < tokens; ++i) {
            for (int j = 0; j < tokens; ++j) {
#pragma HLS PIPELINE II = 1
                acc_t s = 0;
                for (int d = 0; d < D; ++d) {
#pragma HLS UNROLL
                    s += (acc_t)qkv[i * W + h * D + d] * (acc_t)qkv[j * W + H * D + h * D + d];
                }
                scores[j] = s;
            }
            softmax_row<TMAX, PROB_BITS>(tokens, scores, prob, score_m, score_shift, exp_lut);
            if (i == 0)
                for (int j = 0; j < tokens; ++j) cls_score[j] += prob[j];
            for (int d = 0; d < D; ++d) {
                acc_t a = 0;
                for (int j = 0; j < tokens; ++j) {
#pragma HLS PIPELINE II = 1
                    a += (acc_t)prob[j] * (acc_t)qkv[j * W + 2 * H * D + h * D + d];
                }
                out[i * H * D + h * D + d] = (act_t)requant(a, av_m, av_shift, -128, 127);
            }
        }
    }
}

// Keeps CLS and the `keep` patch tokens with the highest CLS attention (highest first, ties to the
// lower index), compacting the residual rows in place; with `fuse` (EViT) the dropped tokens become one
// more row, their mean weighted by CLS attention (intops.fuse_tokens). Returns the new token count.
template <int TMAX, int C>
int select_tokens(int tokens, int keep, const wide_t cls_score[], res_t res[], bool fuse = false) {
    bool taken[TMAX];
    int order[TMAX];
    for (int j = 0; j < tokens; ++j) taken[j] = false;
    for (int r = 0; r < keep; ++r) {
        int best = -1;
        for (int j = 1; j < tokens; ++j)
            if (!taken[j] && (best < 0 || cls_score[j] > cls_score[best])) best = j;
        taken[best] = true;
        order[r] = best;
    }
    static res_t kept[TMAX * C];
    for (int r = 0; r < keep; ++r)
        for (int c = 0; c < C; ++c) kept[r * C + c] = res[order[r] * C + c];
    static res_t fused[C];
    if (fuse) {
        wide_t total = 0;
        for (int j = 1; j < tokens; ++j)
            if (!taken[j]) total += cls_score[j];
        for (int c = 0; c < C; ++c) {
            wide_t num = 0;
            for (int j = 1; j < tokens; ++j)
                if (!taken[j]) num += cls_score[j] * (wide_t)res[j * C + c];
            fused[c] = total > 0 ? (res_t)floordiv(2 * num + total, 2 * total) : 0;
        }
    }
    for (int r = 0; r < keep; ++r)
        for (int c = 0; c < C; ++c) res[(1 + r) * C + c] = kept[r * C + c];
    if (!fuse) return 1 + keep;
    for (int c = 0; c < C; ++c) res[(1 + keep) * C + c] = fused[c];
    return 2 + keep;
}

// Patch tokens into the residual stream: row 0 is CLS + its position, row 1 + n is the rescaled patch
// embedding plus its position (both saturating at the residual range).
template <int C, int RES_BITS>
void embed_tokens(int patches, const acc_t acc[], res_t res[], const int32_t m[], const int8_t shift[],
                  const res_t embed[]) {
    const wide_t hi = ((wide_t)1 << (RES_BITS - 1)) - 1, lo = -hi - 1;
    for (int c = 0; c < C; ++c) res[c] = embed[c];
    for (int n = 0; n < patches; ++n)
        for (int c = 0; c < C; ++c) {
#pragma HLS PIPELINE II = 1
            const wide_t y = requant(acc[n * C + c], m[c], shift[c], lo, hi);
            res[(1 + n) * C + c] = (res_t)clampw(y + embed[(1 + n) * C + c], lo, hi);
        }
}

// GELU on int8 codes through a 256-entry table.
template <int W>
void gelu(int tokens, act_t x[], const act_t lut[]) {
    for (int i = 0; i < tokens * W; ++i) {
#pragma HLS PIPELINE II = 1
        x[i] = lut[x[i] + 128];
    }
}

}  // namespace vit

#endif  // VITSDK_VIT_KERNELS_H
