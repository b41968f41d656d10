// The engine's one shared arithmetic unit (vit_engine.v runs it; Yosys counts this same module): the reciprocal
// r = floor(2^k / b) once per softmax row and per fused token, and a LayerNorm row's statistics: mean =
// floor(sum / C), var = floor((sumsq - 2 mean sum + C mean^2) / C), std = max(1, isqrt(var + eps)) and
// 1/std. Iterative, as the sequencer's timing assumes: a restoring divider of S steps per cycle, S chosen so
// that the largest reciprocal (k = K_FUSE: 55 quotient bits) takes RECIP_LAT cycles counted from the cycle of
// `rcp_go`, and a bitwise square root of SR iterations per cycle. The LayerNorm statistics take LN_CYCLES cycles from `ln_go`
// (vitsdk.fpga.engine.ln_unit_cycles, the same count; EngineConfig refuses an LN_LAT below it). Results are
// the vit_ops.vh functions' (floor_div, isqrt, recip) bit for bit on any 64-bit sums, eps and k, for
// 0 < channels < 2^63 and a divisor other than 0 (what the engine gives it); they stay in `mean`, `stdv` and
// `reciprocal` until the next go.
`default_nettype none
module vit_shared_units #(parameter integer RECIP_LAT = 4) (
    input wire clk,
    input wire ln_go,
    input wire signed [63:0] sum,
    input wire [63:0] sumsq,
    input wire [63:0] channels,
    input wire [63:0] eps,
    input wire rcp_go,
    input wire [63:0] divisor,
    input wire [6:0] k_bits,
    output reg signed [63:0] mean,
    output reg [63:0] stdv,
    output reg [63:0] reciprocal,
    output wire busy
);
`include "vit_ops.vh"
    localparam integer S = (K_FUSE + RECIP_LAT) / RECIP_LAT;  // divider steps per cycle: ceil((K_FUSE + 1) / RECIP_LAT)
    localparam integer SR = 4;  // square-root iterations per cycle (LayerNorm's budget is ample)
    localparam [2:0] P_IDLE = 0, P_MEAN = 1, P_VNUM = 2, P_VAR = 3, P_ROOT = 4, P_RSTD = 5, P_RECIP = 6;
    reg [2:0] phase = P_IDLE;
    assign busy = phase != P_IDLE;

    // the divider: quotient of the left-aligned dividend `num` (its `left` top bits still to go) by `dvs`
    reg [64:0] rem;
    reg [63:0] num, quo, dvs;
    reg [6:0] left = 7'd0;
    // the square root (vit_ops.vh isqrt: 32 iterations from one = 2^62)
    reg [63:0] r_num, r_res, r_one;
    reg [5:0] r_left;
    reg neg;  // the dividend of a floor division was negative
    reg signed [63:0] s_sum;
    reg [63:0] s_sumsq, s_n, s_eps;

    // floor(a / b) of the finished division whose dividend was |a| (neg: a < 0), as vit_ops.vh floor_div
    function automatic signed [63:0] floored(input [63:0] q, input [64:0] r, input n);
        floored = n ? -$signed(q) - (r != 0 ? 64'sd1 : 64'sd0) : $signed(q);
    endfunction

    // this cycle: the square root's S iterations, the variance's numerator, and what the one divider does
    reg [63:0] x, y, one, ystd;
    reg signed [63:0] v;
    reg d_start;  // a new division: of the left-aligned d_a (its top d_steps bits) by d_b
    reg [63:0] d_a, d_b;
    reg [6:0] d_steps;
    integer it;
    always @* begin
        x = r_num; y = r_res; one = r_one;
        for (it = 0; it < SR; it = it + 1)
            if (r_left > it) begin
                if (x >= y + one) begin x = x - (y + one); y = (y >> 1) + one; end
                else y = y >> 1;
                one = one >> 2;
            end
        ystd = $signed(y) < 1 ? 64'd1 : y;  // std = max(1, root)
        v = $signed(s_sumsq) - 2 * mean * s_sum + $signed(s_n) * mean * mean;  // 64-bit, as vit_engine's
        d_start = 1'b1; d_a = 64'd1 << 63; d_b = divisor; d_steps = k_bits + 7'd1;  // 2^k: k + 1 quotient bits
        if (rcp_go) ;
        else if (ln_go) begin d_a = sum < 0 ? $unsigned(-sum) : $unsigned(sum); d_b = channels; d_steps = 7'd64; end
        else if (phase == P_VNUM) begin d_a = v < 0 ? $unsigned(-v) : $unsigned(v); d_b = s_n; d_steps = 7'd64; end
        else if (phase == P_ROOT && r_left <= SR) begin d_b = ystd; d_steps = K_LAYERNORM + 7'd1; end
        else d_start = 1'b0;
    end

    // the divider's S steps
    reg [64:0] t_rem;
    reg [63:0] t_num, t_quo, t_dvs;
    reg [6:0] t_left;
    integer st;
    always @* begin
        t_rem = d_start ? 65'd0 : rem; t_num = d_start ? d_a : num; t_quo = d_start ? 64'd0 : quo;
        t_dvs = d_start ? d_b : dvs; t_left = d_start ? d_steps : left;
        for (st = 0; st < S; st = st + 1)
            if (t_left != 0) begin
                t_rem = {t_rem[63:0], t_num[63]}; t_num = t_num << 1;
                if (t_rem >= {1'b0, t_dvs}) begin t_rem = t_rem - {1'b0, t_dvs}; t_quo = {t_quo[62:0], 1'b1}; end
                else t_quo = {t_quo[62:0], 1'b0};
                t_left = t_left - 7'd1;
            end
    end

    always @(posedge clk) begin
        rem <= t_rem; num <= t_num; quo <= t_quo; dvs <= t_dvs; left <= t_left;
        if (rcp_go) phase <= P_RECIP;
        else if (ln_go) begin
            s_sum <= sum; s_sumsq <= sumsq; s_n <= channels; s_eps <= eps; neg <= sum < 0;
            phase <= P_MEAN;
        end else
            case (phase)
                P_MEAN: if (left == 0) begin mean <= floored(quo, rem, neg); phase <= P_VNUM; end
                P_VNUM: begin neg <= v < 0; phase <= P_VAR; end
                P_VAR: if (left == 0) begin  // var + eps into the square root (vit_ops.vh isqrt: 32 iterations)
                    r_num <= floored(quo, rem, neg) + $signed(s_eps); r_res <= 0; r_one <= 64'd1 << 62;
                    r_left <= 6'd32; phase <= P_ROOT;
                end
                P_ROOT: begin
                    r_num <= x; r_res <= y; r_one <= one; r_left <= r_left > SR ? r_left - SR : 6'd0;
                    if (r_left <= SR) begin stdv <= ystd; phase <= P_RSTD; end
                end
                default: ;
            endcase
        if ((phase == P_RECIP || phase == P_RSTD || rcp_go || (phase == P_ROOT && r_left <= SR)) && t_left == 0) begin
            reciprocal <= t_quo; phase <= P_IDLE;  // the reciprocal is done
        end
    end
endmodule
`default_nettype wire
