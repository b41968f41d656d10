// Integer primitives of the vitsdk ViT engine: the Verilog twin of sdk/vitsdk/fpga/intops.py (same
// names, same operations). Right shifts of negative numbers are arithmetic, divisions are floor
// divisions, rounding is "add half, then shift". Included by vit_engine.v (the simulated engine) and
// vit_datapath.v (the lanes Yosys synthesises), so both use one definition.
function automatic signed [63:0] round_shift(input signed [63:0] v, input [6:0] sh);
    round_shift = (v + (64'sd1 <<< (sh - 7'd1))) >>> sh;
endfunction

function automatic signed [63:0] clamp(input signed [63:0] v, input signed [63:0] lo, input signed [63:0] hi);
    clamp = v < lo ? lo : (v > hi ? hi : v);
endfunction

// floor(a / b) for b > 0 (Verilog's / truncates toward zero)
function automatic signed [63:0] floor_div(input signed [63:0] a, input signed [63:0] b);
    reg signed [63:0] q;
    begin
        q = a / b;
        if (a < 0 && q * b != a) q = q - 64'sd1;
        floor_div = q;
    end
endfunction

// floor(sqrt(v)), bitwise (shift-subtract), exact for v < 2^63
function automatic [63:0] isqrt(input [63:0] v);
    reg [63:0] num, res, one;
    integer k;
    begin
        num = v; res = 0; one = 64'd1 << 62;
        for (k = 0; k < 32; k = k + 1) begin
            if (num >= res + one) begin
                num = num - (res + one);
                res = (res >> 1) + one;
            end else begin
                res = res >> 1;
            end
            one = one >> 2;
        end
        isqrt = res;
    end
endfunction

// Epilogue of a matmul lane: bias, then raw (0), int8 requantisation (1) or residual add (2).
function automatic signed [63:0] epilogue(input signed [31:0] acc, input signed [63:0] bias, input signed [63:0] m,
                                          input [6:0] sh, input [1:0] mode, input signed [63:0] res_in,
                                          input signed [63:0] lo, input signed [63:0] hi);
    reg signed [63:0] y;
    begin
        y = $signed({{32{acc[31]}}, acc}) + bias;
        case (mode)
            2'd0: epilogue = y;
            2'd1: epilogue = clamp(round_shift(y * m, sh), -64'sd128, 64'sd127);
            default: epilogue = clamp(res_in + clamp(round_shift(y * m, sh), lo, hi), lo, hi);
        endcase
    end
endfunction

// Division in the lanes: one shared reciprocal unit computes r = floor(2^k / b) once per row (a multicycle
// divider), every lane then divides by multiplying: q0 = (u * r) >> k is floor(u / b) or one less for
// 0 <= u < 2^k, and one compare corrects it. k per use covers its dividends: softmax 30 (< 2^29),
// LayerNorm 42 (|d| * 2^F < 2^41), fused token 54 (< 2^53).
localparam [6:0] K_SOFTMAX = 30, K_LAYERNORM = 42, K_FUSE = 54;
function automatic [63:0] recip(input [63:0] b, input [6:0] k);
    recip = (64'd1 << k) / b;
endfunction

// floor(a / b) for b > 0 through the reciprocal r = recip(b, k): exact (the same as floor_div) for |a| + b < 2^k.
function automatic signed [63:0] div_recip(input signed [63:0] a, input [63:0] b, input [63:0] r, input [6:0] k);
    reg [63:0] u, q;
    reg [127:0] prod;
    begin
        u = a < 0 ? $unsigned(-a) + b - 64'd1 : $unsigned(a);
        prod = u * r;
        q = prod >> k;
        if ((q + 64'd1) * b <= u) q = q + 64'd1;
        div_recip = a < 0 ? -$signed(q) : $signed(q);
    end
endfunction

// LayerNorm's second pass for one element: y = clamp(round_shift(floor(d * 2^F / std) * gain + offset, shift)),
// rstd = recip(std)
function automatic signed [63:0] ln_norm(input signed [63:0] x, input signed [63:0] mean, input signed [63:0] std,
                                         input [63:0] rstd, input signed [63:0] gain, input signed [63:0] offset,
                                         input [6:0] fb, input [6:0] sh);
    ln_norm = clamp(round_shift(div_recip((x - mean) <<< fb, std, rstd, K_LAYERNORM) * gain + offset, sh),
                    -64'sd128, 64'sd127);
endfunction

// Softmax: the exp2 table position t = round_shift(min(max - s, 2^31-1) * m, shift) (-log2 e^x in 2^-8 units)
function automatic signed [63:0] softmax_t(input signed [63:0] s, input signed [63:0] mx, input signed [63:0] m,
                                           input [6:0] sh);
    reg signed [63:0] u;
    begin
        u = mx - s;
        if (u > 64'sd2147483647) u = 64'sd2147483647;
        softmax_t = round_shift(u * m, sh);
    end
endfunction

// e = LUT[t mod 256] >> (t >> 8), 0 once the shift passes 30
function automatic [63:0] softmax_e(input signed [63:0] t, input [63:0] lut_value);
    softmax_e = (t >>> 8) > 64'sd30 ? 64'd0 : lut_value >> t[13:8];
endfunction
