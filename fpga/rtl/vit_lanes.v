// The lanes of the vitsdk ViT engine, combinational, on ports as wide as the values they carry (int32
// accumulators, residual values of at most 24 bits, scores and probabilities, LayerNorm statistics). The
// simulated engine (vit_engine.v) instantiates TM epilogue lanes and L vector lanes, and Yosys synthesises these
// same modules to count them (sdk/vitsdk/fpga/synth.py), so a simulation that is bit-exact to the integer
// reference also shows that the port widths hold for that model. Arithmetic: vit_ops.vh.
`default_nettype none
// Bias, then raw (mode 0), int8 requantisation (1) or residual add (2), for one token of an output column.
module vit_epilogue_lane (
    input wire signed [31:0] acc, input wire signed [31:0] bias, input wire signed [31:0] m, input wire [5:0] sh,
    input wire [1:0] mode, input wire signed [23:0] res_in, input wire signed [23:0] lo, input wire signed [23:0] hi,
    output wire signed [31:0] out
);
`include "vit_ops.vh"
    wire signed [63:0] y = epilogue(acc, bias, m, {1'b0, sh}, mode, res_in, lo, hi);
    assign out = y[31:0];
endmodule

// One element of a row per function: softmax (the exp2 table position, its value, the probability), LayerNorm's
// normalising pass, and the fused token's division. The engine uses the output of the pass it is in.
module vit_vector_lane (
    input wire signed [31:0] score, input wire signed [31:0] mx, input wire signed [31:0] m, input wire [5:0] sh,
    input wire [15:0] lut_value, input wire [3:0] prob_bits, input wire [24:0] esum, input wire [15:0] r_sm,
    input wire signed [23:0] x, input wire signed [23:0] mean, input wire [16:0] stdv, input wire [42:0] r_ln,
    input wire signed [31:0] gain, input wire signed [31:0] offset, input wire [4:0] frac_bits, input wire [5:0] ln_shift,
    input wire signed [51:0] fsum, input wire [33:0] fweight, input wire [54:0] r_fuse,
    output wire [7:0] t_index, output wire [15:0] exp_value, output wire [15:0] prob, output wire signed [7:0] ln_out,
    output wire signed [23:0] fused
);
`include "vit_ops.vh"
    wire signed [63:0] t = softmax_t(score, mx, m, {1'b0, sh});
    assign t_index = t[7:0];  // the exp2 table lookup address; lut_value is the table's word there
    wire [63:0] e = softmax_e(t, {48'd0, lut_value});
    assign exp_value = e[15:0];
    wire signed [63:0] p = div_recip(({48'd0, exp_value} << prob_bits) + (esum >> 1), {39'd0, esum}, {48'd0, r_sm},
                                     K_SOFTMAX);
    assign prob = p[15:0];
    wire signed [63:0] n = ln_norm(x, mean, $signed({47'd0, stdv}), {21'd0, r_ln}, gain, offset, {2'd0, frac_bits},
                                   {1'b0, ln_shift});
    assign ln_out = n[7:0];
    wire signed [63:0] q = div_recip(2 * fsum + $signed({30'd0, fweight}), {29'd0, fweight, 1'b0}, {9'd0, r_fuse},
                                     K_FUSE);
    assign fused = q[23:0];
endmodule
`default_nettype wire
