// The MAC array of the vitsdk ViT engine: TM tokens x TN output channels, int32 accumulators.
// Each DSP48E2 multiplies one activation by a pair of weights of the same block strip: packed mode puts
// two int8 weights in its 27-bit port, (w1 * 2^18 + w0) * a, and splits the 45-bit product into w0*a and
// w1*a (exact while |w0*a| < 2^17: int8 x int8 is below 2^14). Wide mode (attention probabilities x V:
// 13-bit x 8-bit products do not pack) computes one of the pair per cycle, selected by `half`.
// Activations arrive per token and per strip (P = TN/R strips side by side; a block-sparse strip reads
// its own kept column); `first` starts a new accumulation.
`default_nettype none
module vit_mac_array #(parameter integer TM = 4, parameter integer TN = 8, parameter integer R = 4) (
    input wire clk,
    input wire en,
    input wire first,
    input wire packed_mode,
    input wire half,
    input wire [TM*(TN/R)*16-1:0] a_flat,
    input wire [TN*8-1:0] b_flat,
    output wire [TM*TN*32-1:0] acc_flat
);
    localparam integer P = TN / R;
    genvar i, j;
    generate
        for (i = 0; i < TM; i = i + 1) begin : row
            for (j = 0; j < TN / 2; j = j + 1) begin : pair
                wire signed [15:0] a = a_flat[(i * P + (2 * j) / R) * 16 +: 16];
                wire signed [7:0] w0 = b_flat[(2 * j) * 8 +: 8];
                wire signed [7:0] w1 = b_flat[(2 * j + 1) * 8 +: 8];
                wire signed [26:0] w0x = {{19{w0[7]}}, w0};
                wire signed [26:0] w1x = {{19{w1[7]}}, w1};
                wire signed [26:0] bport = packed_mode ? (w1x <<< 18) + w0x : (half ? w1x : w0x);
                wire signed [17:0] aport = {{2{a[15]}}, a};
                wire signed [44:0] p = bport * aport;  // one DSP48E2 (27 x 18)
                wire signed [17:0] lo18 = p[17:0];
                wire signed [44:0] lo = {{27{lo18[17]}}, lo18};
                wire signed [44:0] hi = (p - lo) >>> 18;
                wire signed [31:0] prod0 = packed_mode ? lo[31:0] : p[31:0];
                wire signed [31:0] prod1 = packed_mode ? hi[31:0] : p[31:0];
                reg signed [31:0] acc0, acc1;
                always @(posedge clk) begin
                    if (en && (packed_mode || !half)) acc0 <= first ? prod0 : acc0 + prod0;
                    if (en && (packed_mode || half)) acc1 <= first ? prod1 : acc1 + prod1;
                end
                assign acc_flat[(i * TN + 2 * j) * 32 +: 32] = acc0;
                assign acc_flat[(i * TN + 2 * j + 1) * 32 +: 32] = acc1;
            end
        end
    endgenerate
endmodule
`default_nettype wire
