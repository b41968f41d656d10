// What Yosys synthesises to count the engine's resources: the MAC array (vit_mac_array.v, as simulated)
// plus the TM epilogue lanes and the L vector lanes, each computing with the same vit_ops.vh functions
// the simulated engine calls, on ports as wide as the values they carry (int32 accumulators, residual
// values of at most 24 bits, scores and probabilities, LayerNorm statistics). Inputs and outputs are
// registered so nothing is optimised away. The shared divider/LayerNorm unit is the engine's own module
// (vit_shared_units.v), synthesised as it is; buffers (BRAM/URAM) and the sequencer are not in here:
// vitsdk.fpga.synth counts the buffers from their sizes.
`default_nettype none
module vit_epilogue_lane (
    input wire clk,
    input wire signed [31:0] acc, input wire signed [31:0] bias, input wire signed [31:0] m, input wire [5:0] sh,
    input wire [1:0] mode, input wire signed [23:0] res_in, input wire signed [23:0] lo, input wire signed [23:0] hi,
    output reg signed [31:0] out
);
`include "vit_ops.vh"
    always @(posedge clk) out <= epilogue(acc, bias, m, {1'b0, sh}, mode, res_in, lo, hi);
endmodule

module vit_vector_lane (
    input wire clk,
    input wire signed [31:0] score, input wire signed [31:0] mx, input wire signed [31:0] m, input wire [5:0] sh,
    input wire [15:0] lut_value, input wire [3:0] prob_bits, input wire [24:0] esum, input wire [15:0] r_sm,
    input wire signed [23:0] x, input wire signed [23:0] mean, input wire [16:0] stdv, input wire [42:0] r_ln,
    input wire signed [31:0] gain, input wire signed [31:0] offset, input wire [4:0] frac_bits, input wire [5:0] ln_shift,
    input wire signed [51:0] fsum, input wire [33:0] fweight, input wire [54:0] r_fuse,
    output reg [7:0] t_index, output reg [15:0] prob, output reg signed [7:0] ln_out, output reg signed [23:0] fused
);
`include "vit_ops.vh"
    reg signed [63:0] t, y;
    reg [63:0] e;
    always @(posedge clk) begin
        t = softmax_t(score, mx, m, {1'b0, sh});
        t_index <= t[7:0];  // the exp2 table lookup address
        e = softmax_e(t, {48'd0, lut_value});
        y = div_recip((e << prob_bits) + (esum >> 1), esum, r_sm, K_SOFTMAX);
        prob <= y[15:0];
        y = ln_norm(x, mean, $signed({47'd0, stdv}), r_ln, gain, offset, {2'd0, frac_bits}, {1'b0, ln_shift});
        ln_out <= y[7:0];
        y = div_recip(2 * fsum + $signed({30'd0, fweight}), {29'd0, fweight, 1'b0}, r_fuse, K_FUSE);
        fused <= y[23:0];
    end
endmodule

module vit_datapath #(parameter integer TM = 4, parameter integer TN = 8, parameter integer R = 4,
                      parameter integer L = 4) (
    input wire clk,
    input wire en, input wire first, input wire packed_mode, input wire half,
    input wire [TM*(TN/R)*16-1:0] a_flat, input wire [TN*8-1:0] b_flat,
    input wire signed [31:0] bias, input wire signed [31:0] m, input wire [5:0] sh, input wire [1:0] mode,
    input wire [TM*24-1:0] res_flat, input wire signed [23:0] lo, input wire signed [23:0] hi,
    input wire [$clog2(TN)-1:0] column,
    input wire [L*32-1:0] score_flat, input wire signed [31:0] mx, input wire [L*16-1:0] lut_flat,
    input wire [3:0] prob_bits, input wire [24:0] esum, input wire [15:0] r_sm, input wire [L*24-1:0] x_flat,
    input wire signed [23:0] mean, input wire [16:0] stdv, input wire [42:0] r_ln, input wire [L*32-1:0] gain_flat,
    input wire [L*32-1:0] offset_flat, input wire [4:0] frac_bits, input wire [5:0] ln_shift,
    input wire [L*52-1:0] fsum_flat, input wire [33:0] fweight, input wire [54:0] r_fuse,
    output wire [TM*32-1:0] out_flat,
    output wire [L*8-1:0] t_flat, output wire [L*16-1:0] prob_flat, output wire [L*8-1:0] ln_flat,
    output wire [L*24-1:0] fused_flat
);
    wire [TM*TN*32-1:0] acc_flat;
    vit_mac_array #(.TM(TM), .TN(TN), .R(R)) array (
        .clk(clk), .en(en), .first(first), .packed_mode(packed_mode), .half(half), .a_flat(a_flat),
        .b_flat(b_flat), .acc_flat(acc_flat));
    genvar i;
    generate
        for (i = 0; i < TM; i = i + 1) begin : epi  // drains one column of the tile per cycle
            vit_epilogue_lane lane (.clk(clk), .acc(acc_flat[(i * TN + column) * 32 +: 32]), .bias(bias), .m(m),
                                    .sh(sh), .mode(mode), .res_in(res_flat[i * 24 +: 24]), .lo(lo), .hi(hi),
                                    .out(out_flat[i * 32 +: 32]));
        end
        for (i = 0; i < L; i = i + 1) begin : vec
            vit_vector_lane lane (.clk(clk), .score(score_flat[i * 32 +: 32]), .mx(mx), .m(m), .sh(sh),
                                  .lut_value(lut_flat[i * 16 +: 16]), .prob_bits(prob_bits), .esum(esum),
                                  .r_sm(r_sm), .x(x_flat[i * 24 +: 24]), .mean(mean), .stdv(stdv), .r_ln(r_ln),
                                  .gain(gain_flat[i * 32 +: 32]), .offset(offset_flat[i * 32 +: 32]),
                                  .frac_bits(frac_bits), .ln_shift(ln_shift), .fsum(fsum_flat[i * 52 +: 52]),
                                  .fweight(fweight), .r_fuse(r_fuse), .t_index(t_flat[i * 8 +: 8]),
                                  .prob(prob_flat[i * 16 +: 16]), .ln_out(ln_flat[i * 8 +: 8]),
                                  .fused(fused_flat[i * 24 +: 24]));
        end
    endgenerate
endmodule
`default_nettype wire
