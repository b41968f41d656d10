// The vitsdk ViT engine: one programmable accelerator for every model vitsdk exports.
//
// A sequencer runs a per-model instruction stream (written by sdk/vitsdk/fpga/rtl.py) over on-chip
// buffers. Units: the TM x TN MAC array (vit_mac_array.v; block-sparse linears follow the balanced
// block schedule, so pruned columns cost no cycles; QK^T and AV run on the same array), a TM-lane
// epilogue (vit_lanes.v: bias, requantisation, residual add; then the GELU table) that drains one output column
// per cycle while the array already accumulates the next tile, an L-lane vector unit (vit_lanes.v) for LayerNorm,
// softmax and token selection (top-k by CLS attention, EViT's fused token), and the shared unit (vit_shared_units.v:
// the iterative divider and square root behind LayerNorm's statistics and the lanes' reciprocals). A linear's weights are three buffers:
// int8 values (wmem), kept column indices (xmem) and per-channel constants (kmem). When the weights stream
// (STREAM), the weight fetch unit reads each linear's record of the weight image (values, indices, constants:
// three sections, each a whole number of beats) from DDR through the ddr_* port (one request of ddr_len bytes at
// a time, DDR_W bytes per beat, no back-pressure) into one half of each of the three, the double buffers: the next
// linear loads into the other halves while the current one computes, and a linear whose weights have not fully
// arrived waits (stall_cycles). Every inference starts by reading its input record through the same port (S_LOAD,
// stall cycles while it arrives): the int8 patches into amem and the CLS + position embedding into the first residual
// region of rmem (program.Program.record_bytes; the host writes only the patches, into DDR). The DDR itself is the
// testbench's (tb_vit.v) or the IP's (vit_axi.v).
// Arithmetic: vit_ops.vh, the twin of sdk/vitsdk/fpga/intops.py; outputs are bit-exact to it.
//
// Buffers are behavioural arrays, addressed through pointers that advance by additions (no multiply per cycle);
// the port/bank each access assumes is noted where it happens. Their
// BRAM/URAM cost is synthesised separately (vit_buffers.v, vitsdk.fpga.synth.buffer_plan). While idle, the host fills them
// through the write port (wr_*: one element per cycle, buffer `wr_sel`: BUF_* below: the program, on-chip weights,
// constants and tables) and reads the logits
// through the read port (rd_*); vit_axi.v puts both behind AXI4-Lite registers. Writes while busy are ignored.
`default_nettype none
module vit_engine #(
    parameter integer TM = 4, parameter integer TN = 8, parameter integer R = 4, parameter integer L = 4,
    parameter integer AW = 1024, parameter integer PW = 1024, parameter integer SW = 1024, parameter integer RW = 1024,
    parameter integer WW = 1024, parameter integer XW = 1024, parameter integer KW = 1024, parameter integer CW = 1024,
    parameter integer GW = 256,
    parameter integer OW = 16, parameter integer QW = 1024, parameter integer TMAX = 64, parameter integer CMAX = 64,
    parameter integer DDR_W = 16,
    parameter integer LN_LAT = 40, parameter integer RECIP_LAT = 4, parameter integer STREAM = 0,
    parameter integer NF = 26
) (
    input wire clk,
    input wire start,
    output reg done,
    output reg [63:0] cycles,
    output reg [63:0] mac_cycles,
    output reg [63:0] stall_cycles,
    output reg [63:0] ddr_bytes,
    // DDR reads (the input record, a streamed linear's weights): a one-cycle request for ddr_len bytes from byte
    // ddr_addr of the DDR image (both multiples of DDR_W); the beats come back in order, one per ddr_valid cycle,
    // lowest-addressed byte in bits [7:0]
    output reg ddr_req,
    output reg [31:0] ddr_addr,
    output reg [31:0] ddr_len,
    input wire ddr_valid,
    input wire [8*DDR_W-1:0] ddr_data,
    output wire idle,
    input wire wr_en,
    input wire [3:0] wr_sel,
    input wire [31:0] wr_addr,
    input wire [63:0] wr_data,
    input wire [31:0] rd_addr,
    output wire [31:0] rd_data
);
`include "vit_ops.vh"
    localparam integer P = TN / R;
    localparam [3:0] S_IDLE = 0, S_FETCH = 1, S_MM_INIT = 2, S_MM_RUN = 3, S_MM_END = 4, S_MM_FLUSH = 5,
                     S_LN_SUM = 6, S_LN_STAT = 7, S_LN_NORM = 8, S_SM_MAX = 9, S_SM_SUM = 10, S_SM_NORM = 11,
                     S_SEL_RANK = 12, S_SEL_COPY = 13, S_SEL_FUSE = 14, S_SEL_FDIV = 15;
    localparam [4:0] S_SM_RECIP = 16, S_SEL_RECIP = 17, S_LOAD = 18;
    // the write port's buffer numbers (vitsdk.fpga.axi.BUFFERS)
    localparam [3:0] BUF_PROG = 0, BUF_AMEM = 1, BUF_RMEM = 2, BUF_WMEM = 3, BUF_XMEM = 4, BUF_CMEM = 5, BUF_GLUT = 6,
                     BUF_ELUT = 7, BUF_KMEM = 8;

    // ---- buffers ----
    reg [63:0] prog [0:QW-1];                  // instruction stream, NF words per instruction
    reg signed [7:0] amem [0:AW-1];            // int8 activations (skewed banks: TM tokens of a column, L or TN channels of a token per cycle; dual port for QK^T)
    reg [15:0] pmem [0:PW-1];                  // softmax probabilities of one head (skewed banks: L writes of a row, TM reads of a column)
    reg signed [31:0] smem [0:SW-1];           // attention scores of one head (skewed banks: TM epilogue writes of a column, L reads of a row)
    reg signed [31:0] rmem [0:RW-1];           // residual stream, two regions (skewed banks: the epilogue's TM of a column, the vector unit's L of a row)
    // a linear's weights: every linear's on chip, or (streaming) two halves, each as large as the largest section
    reg signed [7:0] wmem [0:WW-1];            // int8 weight values
    reg [15:0] xmem [0:XW-1];                  // kept column indices of the block-sparse weights
    reg signed [63:0] kmem [0:KW-1];           // per output channel: {multiplier, bias} (int32 each), shift
    reg signed [63:0] cmem [0:CW-1];           // LayerNorm gain / offset
    reg signed [7:0] glut [0:GW-1];            // GELU tables (256 per block)
    reg [63:0] elut [0:255];                   // softmax exp2 table
    reg signed [31:0] omem [0:OW-1];           // logits
    reg signed [31:0] cls [0:TMAX-1];          // CLS attention summed over heads (token selection score)
    reg [15:0] order [0:TMAX-1];               // kept tokens, highest score first
    reg [15:0] drop [0:TMAX-1];                // dropped tokens (fused)
    reg signed [63:0] facc [0:CMAX-1];         // fused-token accumulators

    // ---- instruction ----
    reg [4:0] state;
    reg [31:0] pc;
    reg [63:0] f [0:NF-1];
    wire [63:0] op = f[0];
    // the fields as the datapath uses them: sizes, buffer addresses and strides fit 32 bits (the buffers are far
    // smaller), so the address arithmetic is 32 bits wide
    wire signed [31:0] M = f[1][31:0], N = f[2][31:0], K = f[3][31:0];
    wire [63:0] flags = f[4];
    wire signed [31:0] abase = f[5][31:0], astride = f[6][31:0], bbase = f[7][31:0], bsn = f[8][31:0];
    wire signed [31:0] bsk = f[9][31:0], xbase = f[10][31:0], kept = f[11][31:0], nblk = f[12][31:0];
    wire signed [31:0] cbase = f[13][31:0], lutbase = f[14][31:0], dbase = f[15][31:0], dstride = f[16][31:0];
    wire signed [31:0] mscal = f[17][31:0], sscal = f[18][31:0], strips = f[19][31:0], next_bytes = f[20][31:0];
    wire signed [31:0] lo = f[21][31:0], hi = f[22][31:0];
    // the next linear's record in the weight image: address, bytes, and the bytes of its values and index sections
    wire [63:0] next_addr = f[23], next_values = f[24], next_indices = f[25];
    wire a_pmem = flags[0], b_dense = flags[1], packed_mode = flags[2], per_channel = flags[12];
    wire has_lut = flags[13], streamed = STREAM != 0 && flags[15];  // weights stream when they do not fit on chip
    // a streamed linear's weights sit in its halves of the double buffers (flag 16: the upper ones), else at
    // bbase / xbase / cbase
    wire signed [31:0] wbase = streamed ? (flags[16] ? WW / 2 : 0) : bbase;
    wire signed [31:0] ibase = streamed ? (flags[16] ? XW / 2 : 0) : xbase;
    wire signed [31:0] kbase = streamed ? (flags[16] ? KW / 2 : 0) : cbase;
    wire [1:0] emode = flags[5:4], dsel = flags[9:8];

    // ---- MAC array operands (combinational reads of the current k-step) ----
    // Addresses come from pointers that advance with the tile and the k-step (additions, no multiplies per cycle):
    // tokp: token tt+i's row of the A operand; dtok: its row of the destination; sx / ws: block strip nt/R+p's
    // kept-column indices and weight values; bp: output nt+j's row of a dense B operand; kp: ks * bsk.
    reg signed [31:0] tt, nt, ks, kp;
    reg signed [31:0] tokp [0:TM-1], dtok [0:TM-1];
    reg signed [31:0] sx [0:P-1], ws [0:P-1];
    reg signed [31:0] bp [0:TN-1];
    wire signed [31:0] wstride = $signed({16'd0, nblk[15:0]} * {16'd0, kept[15:0]}) * R;  // a strip's weights
    // the pointers of the first tile (tt = nt = 0): running sums, a base plus one stride per lane
    reg signed [31:0] tok0 [0:TM-1], dtok0 [0:TM-1], sx0 [0:P-1], ws0 [0:P-1], bp0 [0:TN-1];
    integer z;
    always @* begin
        tok0[0] = abase; dtok0[0] = dbase; sx0[0] = ibase; ws0[0] = wbase; bp0[0] = bbase;
        for (z = 1; z < TM; z = z + 1) begin tok0[z] = tok0[z - 1] + astride; dtok0[z] = dtok0[z - 1] + dstride; end
        for (z = 1; z < P; z = z + 1) begin sx0[z] = sx0[z - 1] + bsn; ws0[z] = ws0[z - 1] + wstride; end
        for (z = 1; z < TN; z = z + 1) bp0[z] = bp0[z - 1] + bsn;
    end
    reg half;
    reg mac_en, mac_first;
    reg [TM*P*16-1:0] a_flat;
    reg [TN*8-1:0] b_flat;
    wire [TM*TN*32-1:0] acc_flat;
    reg signed [31:0] col [0:P-1];
    integer i, j, l, ci, cj;
    always @* begin
        for (cj = 0; cj < P; cj = cj + 1)  // a sparse linear's strip: its kept column of this k-step
            col[cj] = b_dense ? ks : (nt / R + cj < strips ? $signed({16'd0, xmem[sx[cj] + ks]}) : 0);
        for (ci = 0; ci < TM; ci = ci + 1)
            for (cj = 0; cj < P; cj = cj + 1) begin
                if (tt + ci < M)  // token ci: its own bank of the skewed buffer (synth.Skewed)
                    a_flat[(ci * P + cj) * 16 +: 16] = a_pmem ? pmem[tokp[ci] + col[cj]]
                                                              : {{8{amem[tokp[ci] + col[cj]][7]}}, amem[tokp[ci] + col[cj]]};
                else
                    a_flat[(ci * P + cj) * 16 +: 16] = 16'd0;
            end
        for (cj = 0; cj < TN; cj = cj + 1)
            if (b_dense)
                b_flat[cj * 8 +: 8] = nt + cj < N ? amem[bp[cj] + kp] : 8'd0;
            else  // output nt+cj is row cj % R of strip (nt + cj) / R
                b_flat[cj * 8 +: 8] = nt / R + cj / R < strips ? wmem[ws[cj / R] + ks * R + cj % R] : 8'd0;
    end
    vit_mac_array #(.TM(TM), .TN(TN), .R(R)) array (
        .clk(clk), .en(mac_en), .first(mac_first), .packed_mode(packed_mode), .half(half),
        .a_flat(a_flat), .b_flat(b_flat), .acc_flat(acc_flat));

    // ---- epilogue (drains one output column of the previous tile per cycle) ----
    // the finished tile's accumulators, drained while the next tile runs: a shift register whose column 0 (one
    // accumulator per token row) feeds the epilogue lanes; each drain cycle moves every row one column on
    reg [TM*TN*32-1:0] shadow;
    reg drain_busy;
    reg signed [31:0] d_t0, d_n0, d_col, d_cnt;
    reg signed [31:0] dp [0:TM-1];  // the drained tile's destination rows (its tokens' dtok)

    // ---- vector unit and counters ----
    reg signed [63:0] sum, sumsq, mx, esum, wsum;
    reg signed [31:0] row, c0, lat, cand, rank_cnt, ndrop;
    // the vector unit's row offsets: rowa from abase (LayerNorm: row * astride, softmax: row * N), rowd from dbase
    // (row * dstride, row * N); token selection reads whole tokens at (1 + token) * N (one multiplier)
    reg signed [31:0] rowa, rowd;
    wire signed [31:0] va = abase + rowa + c0, vd = dbase + rowd + c0;
    wire [15:0] sel_token = state == S_SEL_FUSE ? 16'd1 + drop[row] : (row == 0 ? 16'd0 : 16'd1 + order[row - 1]);
    wire signed [31:0] sel_row = abase + $signed({16'd0, sel_token} * {16'd0, N[15:0]}) + c0;
    // the shared unit (vit_shared_units.v): a LayerNorm row's mean, std and 1/std (from the first cycle of S_LN_STAT,
    // ready within LN_LAT cycles), the reciprocal of a softmax row's sum or the fused token's weight (from the
    // first cycle of S_SM_RECIP / S_SEL_RECIP, ready after RECIP_LAT)
    wire signed [63:0] mean;
    wire [63:0] stdv, rcp;
    wire fuse_recip = state == S_SEL_RECIP;
    vit_shared_units #(.RECIP_LAT(RECIP_LAT)) shared (
        .clk(clk), .ln_go(state == S_LN_STAT && lat == 0), .sum(sum), .sumsq(sumsq), .channels(N), .eps(f[19]),
        .rcp_go((state == S_SM_RECIP || fuse_recip) && lat == 0),
        .divisor(fuse_recip ? (wsum > 0 ? 2 * wsum : 64'sd1) : esum), .k_bits(fuse_recip ? K_FUSE : K_SOFTMAX),
        .mean(mean), .stdv(stdv), .reciprocal(rcp), .busy());
    reg signed [63:0] y, bias, mval;
    reg signed [31:0] cidx;
    reg [6:0] shv;

    // ---- the lanes (vit_lanes.v): TM epilogue lanes on the drained column, L vector lanes on elements c0..c0+L-1
    // of `row`; their operands are read here, each pass uses the outputs it needs ----
    reg signed [31:0] widx [0:TM-1];
    reg [TM*32-1:0] e_acc, e_res;
    wire [TM*32-1:0] e_out;
    reg [L*32-1:0] v_score, v_x, v_gain, v_offset;
    reg [L*64-1:0] v_fsum;
    reg [L*16-1:0] v_lut;
    wire [L*8-1:0] v_t, v_ln;
    wire [L*16-1:0] v_exp, v_prob;
    wire [L*24-1:0] v_fused;
    integer ei, vj;
    always @* begin
        cidx = d_n0 + d_col;
        if (per_channel) begin  // one channel's two kmem words
            bias = $signed(kmem[kbase + 2 * cidx][31:0]); mval = $signed(kmem[kbase + 2 * cidx][63:32]);
            shv = kmem[kbase + 2 * cidx + 1][6:0];
        end else begin
            bias = 0; mval = mscal; shv = sscal[6:0];
        end
        for (ei = 0; ei < TM; ei = ei + 1) begin
            widx[ei] = dp[ei] + cidx;
            e_acc[ei * 32 +: 32] = shadow[ei * TN * 32 +: 32];
            e_res[ei * 32 +: 32] = dsel == 2'd1 ? rmem[widx[ei]] : 32'd0;
        end
        for (vj = 0; vj < L; vj = vj + 1) begin
            v_score[vj * 32 +: 32] = smem[va + vj];
            v_lut[vj * 16 +: 16] = elut[v_t[vj * 8 +: 8]][15:0];
            v_x[vj * 32 +: 32] = rmem[va + vj];
            v_gain[vj * 32 +: 32] = cmem[cbase + c0 + vj][31:0];
            v_offset[vj * 32 +: 32] = cmem[cbase + N + c0 + vj][31:0];
            v_fsum[vj * 64 +: 64] = facc[c0 + vj];
        end
    end
    genvar g;
    generate
        for (g = 0; g < TM; g = g + 1) begin : epi
            vit_epilogue_lane lane (
                .acc(e_acc[g * 32 +: 32]), .bias(bias[31:0]), .m(mval[31:0]), .sh(shv[5:0]), .mode(emode),
                .res_in(e_res[g * 32 +: 24]), .lo(lo[23:0]), .hi(hi[23:0]), .out(e_out[g * 32 +: 32]));
        end
        for (g = 0; g < L; g = g + 1) begin : vec
            vit_vector_lane lane (
                .score(v_score[g * 32 +: 32]), .mx(mx[31:0]), .m(mscal[31:0]), .sh(sscal[5:0]),
                .lut_value(v_lut[g * 16 +: 16]), .prob_bits(f[19][3:0]), .esum(esum[24:0]), .r_sm(rcp[15:0]),
                .x(v_x[g * 32 +: 24]), .mean(mean[23:0]), .stdv(stdv[16:0]), .r_ln(rcp[42:0]),
                .gain(v_gain[g * 32 +: 32]), .offset(v_offset[g * 32 +: 32]), .frac_bits(f[17][4:0]),
                .ln_shift(f[18][5:0]), .fsum(v_fsum[g * 64 +: 52]), .fweight(wsum[33:0]), .r_fuse(rcp[54:0]),
                .t_index(v_t[g * 8 +: 8]), .exp_value(v_exp[g * 16 +: 16]), .prob(v_prob[g * 16 +: 16]),
                .ln_out(v_ln[g * 8 +: 8]), .fused(v_fused[g * 24 +: 24]));
        end
    endgenerate

    assign idle = state == S_IDLE;
    assign rd_data = omem[rd_addr];

    // ---- weight fetch unit: one request outstanding; each beat goes to the buffer whose section it is in (the
    // sections are whole beats), into that buffer's half being filled ----
    reg [31:0] fetch_off, fetch_left, fetch_values, fetch_indices;  // next byte of the record, beats still to arrive
    reg fetch_upper;
    reg fetch_input;  // the request in flight is the input record: patches into amem, the embedding into rmem
    reg [31:0] fetch_abase, fetch_rbase;
    integer b;
    reg [31:0] o;  // a narrow port's byte offset
    task fetch(input [63:0] addr, input [63:0] nbytes, input [63:0] values, input [63:0] indices, input upper);
        begin  // request a linear's record into the lower or upper halves
            ddr_req <= 1'b1; ddr_addr <= addr[31:0]; ddr_len <= nbytes[31:0];
            fetch_off <= 0; fetch_left <= nbytes[31:0] / DDR_W; fetch_values <= values[31:0];
            fetch_indices <= indices[31:0]; fetch_upper <= upper; fetch_input <= 1'b0;
            ddr_bytes <= ddr_bytes + nbytes;
        end
    endtask
    task fetch_record(input [63:0] addr, input [63:0] nbytes, input [63:0] patches, input [63:0] abase_,
                      input [63:0] rbase_);
        begin  // request the input record: `patches` bytes into amem from abase_, then int32 words into rmem from
               // rbase_ (the sections' zero padding lands in scratch: the LayerNorm region, the second residual region)
            ddr_req <= 1'b1; ddr_addr <= addr[31:0]; ddr_len <= nbytes[31:0];
            fetch_off <= 0; fetch_left <= nbytes[31:0] / DDR_W; fetch_values <= patches[31:0]; fetch_input <= 1'b1;
            fetch_abase <= abase_[31:0]; fetch_rbase <= rbase_[31:0];
            ddr_bytes <= ddr_bytes + nbytes;
        end
    endtask

    always @(posedge clk) begin
        if (state != S_IDLE) cycles <= cycles + 1;
        if (state == S_IDLE && wr_en)  // the host loads a buffer between inferences
            case (wr_sel)
                BUF_PROG: prog[wr_addr] <= wr_data;
                BUF_AMEM: amem[wr_addr] <= wr_data[7:0];
                BUF_RMEM: rmem[wr_addr] <= wr_data[31:0];
                BUF_WMEM: wmem[wr_addr] <= wr_data[7:0];
                BUF_XMEM: xmem[wr_addr] <= wr_data[15:0];
                BUF_CMEM: cmem[wr_addr] <= wr_data;
                BUF_GLUT: glut[wr_addr] <= wr_data[7:0];
                BUF_ELUT: elut[wr_addr[7:0]] <= wr_data;
                BUF_KMEM: kmem[wr_addr] <= wr_data;
                default: ;
            endcase
        mac_en <= 1'b0;
        ddr_req <= 1'b0;
        // A beat lies in one section (the sections are whole beats). A port as wide as the widest element (DDR_W >= 8)
        // writes it as whole elements of that section; a narrower one assembles the elements byte by byte.
        if (ddr_valid && fetch_left != 0 && fetch_input && DDR_W >= 8) begin  // a beat of the input record
            if (fetch_off < fetch_values)  // int8 patches
                for (b = 0; b < DDR_W; b = b + 1) amem[fetch_abase + fetch_off + b] <= ddr_data[8 * b +: 8];
            else  // int32 embedding words
                for (b = 0; b < DDR_W / 4; b = b + 1)
                    rmem[fetch_rbase + (fetch_off - fetch_values) / 4 + b] <= ddr_data[32 * b +: 32];
        end else if (ddr_valid && fetch_left != 0 && DDR_W >= 8) begin  // a weight beat into the halves being filled
            if (fetch_off < fetch_values)  // int8 values
                for (b = 0; b < DDR_W; b = b + 1)
                    wmem[(fetch_upper ? WW / 2 : 0) + fetch_off + b] <= ddr_data[8 * b +: 8];
            else if (fetch_off < fetch_values + fetch_indices)  // 16-bit column indices
                for (b = 0; b < DDR_W / 2; b = b + 1)
                    xmem[(fetch_upper ? XW / 2 : 0) + (fetch_off - fetch_values) / 2 + b] <= ddr_data[16 * b +: 16];
            else  // 64-bit per-channel constants
                for (b = 0; b < DDR_W / 8; b = b + 1)
                    kmem[(fetch_upper ? KW / 2 : 0) + (fetch_off - fetch_values - fetch_indices) / 8 + b]
                        <= ddr_data[64 * b +: 64];
        end else if (ddr_valid && fetch_left != 0 && fetch_input && DDR_W < 8) begin  // narrow port: the input record
            for (b = 0; b < DDR_W; b = b + 1) begin
                o = fetch_off + b;
                if (o < fetch_values) amem[fetch_abase + o] <= ddr_data[8 * b +: 8];
                else begin
                    o = o - fetch_values;
                    rmem[fetch_rbase + o / 4][8 * (o % 4) +: 8] <= ddr_data[8 * b +: 8];
                end
            end
        end else if (ddr_valid && fetch_left != 0 && DDR_W < 8) begin  // narrow port: a weight beat
            for (b = 0; b < DDR_W; b = b + 1) begin
                o = fetch_off + b;
                if (fetch_off < fetch_values)
                    wmem[(fetch_upper ? WW / 2 : 0) + o] <= ddr_data[8 * b +: 8];
                else if (fetch_off < fetch_values + fetch_indices) begin
                    o = o - fetch_values;
                    xmem[(fetch_upper ? XW / 2 : 0) + o / 2][8 * (o % 2) +: 8] <= ddr_data[8 * b +: 8];
                end else begin
                    o = o - fetch_values - fetch_indices;
                    kmem[(fetch_upper ? KW / 2 : 0) + o / 8][8 * (o % 8) +: 8] <= ddr_data[8 * b +: 8];
                end
            end
        end
        if (ddr_valid && fetch_left != 0) begin fetch_off <= fetch_off + DDR_W; fetch_left <= fetch_left - 1; end
        // epilogue lanes: TM tokens of one output column per cycle
        if (drain_busy) begin
            for (i = 0; i < TM; i = i + 1) begin
                if (d_t0 + i < M) begin
                    y = $signed(e_out[i * 32 +: 32]);
                    if (has_lut) y = glut[lutbase + y + 128];
                    case (dsel)
                        2'd0: amem[widx[i]] <= y[7:0];
                        2'd1: rmem[widx[i]] <= y[31:0];
                        2'd2: smem[widx[i]] <= y[31:0];
                        default: omem[widx[i]] <= y[31:0];
                    endcase
                end
            end
            for (i = 0; i < TM; i = i + 1)  // the next column to column 0
                shadow[i * TN * 32 +: TN * 32] <= shadow[i * TN * 32 +: TN * 32] >> 32;
            d_col <= d_col + 1;
            if (d_col + 1 >= d_cnt) drain_busy <= 1'b0;
        end
        case (state)
            S_IDLE: if (start) begin
                state <= S_FETCH; pc <= 0; done <= 1'b0; cycles <= 0; mac_cycles <= 0; stall_cycles <= 0;
                ddr_bytes <= 0; fetch_left <= 0; drain_busy <= 1'b0;
            end
            S_FETCH: begin
                for (j = 0; j < NF; j = j + 1) f[j] <= prog[pc * NF + j];
                pc <= pc + 1;
                case (prog[pc * NF])
                    64'd0: begin state <= S_IDLE; done <= 1'b1; end
                    64'd1: state <= S_MM_INIT;
                    64'd2: begin state <= S_LN_SUM; row <= 0; rowa <= 0; rowd <= 0; c0 <= 0; sum = 0; sumsq = 0; end
                    64'd3: begin
                        state <= S_SM_MAX; row <= 0; rowa <= 0; rowd <= 0; c0 <= 0; mx = -64'sd9223372036854775807;
                    end
                    64'd4: begin state <= S_SEL_RANK; cand <= 0; c0 <= 0; rank_cnt = 0; ndrop <= 0; wsum <= 0; end
                    default: begin  // 5: start of an inference: read the input record, then prefetch the first weights
                        fetch_record(prog[pc * NF + 1], prog[pc * NF + 2], prog[pc * NF + 3], prog[pc * NF + 5],
                                     prog[pc * NF + 15]);
                        state <= S_LOAD;
                    end
                endcase
            end
            S_LOAD: begin  // the input record is arriving; then the first streamed linear's weights are requested
                if (fetch_left != 0) stall_cycles <= stall_cycles + 1;
                else begin
                    if (STREAM != 0 && next_bytes != 0) fetch(next_addr, next_bytes, next_values, next_indices, flags[17]);
                    state <= S_FETCH;
                end
            end
            // ---- matmul ----
            S_MM_INIT: begin
                if (streamed && fetch_left != 0) begin
                    stall_cycles <= stall_cycles + 1;  // this layer's weights are still arriving
                end else begin
                    if (streamed && next_bytes != 0)  // double buffering: fetch the next layer into the other half
                        fetch(next_addr, next_bytes, next_values, next_indices, flags[17]);
                    tt <= 0; nt <= 0; ks <= 0; kp <= 0; half <= 1'b0;
                    for (i = 0; i < TM; i = i + 1) begin tokp[i] <= tok0[i]; dtok[i] <= dtok0[i]; end
                    for (j = 0; j < P; j = j + 1) begin sx[j] <= sx0[j]; ws[j] <= ws0[j]; end
                    for (j = 0; j < TN; j = j + 1) bp[j] <= bp0[j];
                    mac_en <= 1'b1; mac_first <= 1'b1; mac_cycles <= mac_cycles + 1;
                    state <= S_MM_RUN;
                end
            end
            S_MM_RUN: begin  // the array accumulated k-step ks (half) this cycle
                if (!packed_mode && !half) begin
                    half <= 1'b1; mac_en <= 1'b1; mac_first <= ks == 0; mac_cycles <= mac_cycles + 1;
                end else if (ks + 1 >= K) begin
                    state <= S_MM_END;
                end else begin
                    half <= 1'b0; ks <= ks + 1; kp <= kp + bsk;
                    mac_en <= 1'b1; mac_first <= 1'b0; mac_cycles <= mac_cycles + 1;
                end
            end
            S_MM_END: begin
                if (drain_busy) begin
                    stall_cycles <= stall_cycles + 1;  // the epilogue is still draining the previous tile
                end else begin
                    shadow <= acc_flat;
                    d_t0 <= tt; d_n0 <= nt; d_col <= 0; d_cnt <= (N - nt < TN) ? N - nt : TN; drain_busy <= 1'b1;
                    for (i = 0; i < TM; i = i + 1) dp[i] <= dtok[i];
                    ks <= 0; kp <= 0; half <= 1'b0;
                    if (nt + TN >= N) begin  // the next token tile, from the first output tile
                        nt <= 0; tt <= tt + TM;
                        for (i = 0; i < TM; i = i + 1) begin
                            tokp[i] <= tokp[i] + TM * astride; dtok[i] <= dtok[i] + TM * dstride;
                        end
                        for (j = 0; j < P; j = j + 1) begin sx[j] <= sx0[j]; ws[j] <= ws0[j]; end
                        for (j = 0; j < TN; j = j + 1) bp[j] <= bp0[j];
                    end else begin  // the next output tile: P strips on
                        nt <= nt + TN;
                        for (j = 0; j < P; j = j + 1) begin sx[j] <= sx[j] + P * bsn; ws[j] <= ws[j] + P * wstride; end
                        for (j = 0; j < TN; j = j + 1) bp[j] <= bp[j] + TN * bsn;
                    end
                    if (nt + TN >= N && tt + TM >= M) state <= S_MM_FLUSH;
                    else begin
                        state <= S_MM_RUN; mac_en <= 1'b1; mac_first <= 1'b1; mac_cycles <= mac_cycles + 1;
                    end
                end
            end
            S_MM_FLUSH: if (!drain_busy) state <= S_FETCH;
            // ---- LayerNorm: statistics pass, then the normalising pass (L channels per cycle) ----
            S_LN_SUM: begin
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < N) begin  // the statistics' adders (the shared unit divides)
                        sum = sum + $signed(v_x[l * 32 +: 24]);  // residual values: 24 bits, as the lanes take them
                        sumsq = sumsq + $signed(v_x[l * 32 +: 24]) * $signed(v_x[l * 32 +: 24]);
                    end
                if (c0 + L >= N) begin
                    state <= S_LN_STAT; lat <= 0;
                end else c0 <= c0 + L;
            end
            S_LN_STAT: begin  // the shared unit's mean, std and 1/std: LN_LAT cycles per row
                if (lat + 1 >= LN_LAT) begin
                    state <= S_LN_NORM; c0 <= 0;
                end
                lat <= lat + 1;
            end
            S_LN_NORM: begin
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < N) amem[vd + l] <= v_ln[l * 8 +: 8];
                if (c0 + L >= N) begin
                    sum = 0; sumsq = 0; c0 <= 0;
                    if (row + 1 >= M) state <= S_FETCH;
                    else begin row <= row + 1; rowa <= rowa + astride; rowd <= rowd + dstride; state <= S_LN_SUM; end
                end else c0 <= c0 + L;
            end
            // ---- softmax over rows of the score buffer: max, exp + sum, normalise ----
            S_SM_MAX: begin
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < N && $signed(v_score[l * 32 +: 32]) > mx) mx = $signed(v_score[l * 32 +: 32]);
                if (c0 + L >= N) begin state <= S_SM_SUM; c0 <= 0; esum = 0; end else c0 <= c0 + L;
            end
            S_SM_SUM: begin
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < N) esum = esum + v_exp[l * 16 +: 16];
                if (c0 + L >= N) begin state <= S_SM_RECIP; c0 <= 0; lat <= 0; end else c0 <= c0 + L;
            end
            S_SM_RECIP: begin  // the shared reciprocal unit: RECIP_LAT cycles per row
                if (lat + 1 >= RECIP_LAT) state <= S_SM_NORM;
                lat <= lat + 1;
            end
            S_SM_NORM: begin
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < N) begin
                        pmem[vd + l] <= v_prob[l * 16 +: 16];
                        if (flags[0] && row == 0 && c0 + l >= 1)  // the first head starts the sum
                            cls[c0 + l - 1] <= (flags[1] ? 32'sd0 : cls[c0 + l - 1])
                                               + $signed({16'd0, v_prob[l * 16 +: 16]});
                    end
                if (c0 + L >= N) begin
                    c0 <= 0; mx = -64'sd9223372036854775807;
                    if (row + 1 >= M) state <= S_FETCH;
                    else begin row <= row + 1; rowa <= rowa + N; rowd <= rowd + N; state <= S_SM_MAX; end
                end else c0 <= c0 + L;
            end
            // ---- token selection: rank every candidate by its CLS score (L comparisons per cycle) ----
            S_SEL_RANK: begin  // candidates 0..M-2 are the patch tokens 1..M-1
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < M - 1 && (cls[c0 + l] > cls[cand] || (cls[c0 + l] == cls[cand] && c0 + l < cand)))
                        rank_cnt = rank_cnt + 1;
                if (c0 + L >= M - 1) begin
                    if (rank_cnt < K) order[rank_cnt[15:0]] <= cand[15:0];
                    else begin drop[ndrop[15:0]] <= cand[15:0]; ndrop <= ndrop + 1; wsum <= wsum + cls[cand]; end
                    rank_cnt = 0; c0 <= 0;
                    if (cand + 1 >= M - 1) begin state <= S_SEL_COPY; row <= 0; rowd <= 0; end
                    else cand <= cand + 1;
                end else c0 <= c0 + L;
            end
            S_SEL_COPY: begin  // row 0 (CLS), then the kept tokens in rank order, into the other residual region
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < N)
                        rmem[vd + l] <= rmem[sel_row + l];
                if (c0 + L >= N) begin
                    c0 <= 0;
                    rowd <= rowd + N;  // after the last kept token: (K + 1) * N, where the fused token goes
                    if (row + 1 > K) begin
                        row <= 0;
                        state <= flags[0] && ndrop != 0 ? S_SEL_FUSE : (flags[0] ? S_SEL_RECIP : S_FETCH);
                        lat <= 0;
                    end else row <= row + 1;
                end else c0 <= c0 + L;
            end
            S_SEL_FUSE: begin  // weighted sum of the dropped tokens (weights: their CLS scores)
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < N)
                        facc[c0 + l] <= (row == 0 ? 64'sd0 : facc[c0 + l])
                                        + cls[drop[row]] * rmem[sel_row + l];
                if (c0 + L >= N) begin
                    c0 <= 0;
                    if (row + 1 >= ndrop) begin state <= S_SEL_RECIP; lat <= 0; end else row <= row + 1;
                end else c0 <= c0 + L;
            end
            S_SEL_RECIP: begin
                if (lat + 1 >= RECIP_LAT) state <= S_SEL_FDIV;
                lat <= lat + 1;
            end
            S_SEL_FDIV: begin  // fused = round(sum w x / sum w), appended after the kept tokens
                for (l = 0; l < L; l = l + 1)
                    if (c0 + l < N)
                        rmem[vd + l] <= wsum > 0 ? {{8{v_fused[l * 24 + 23]}}, v_fused[l * 24 +: 24]}
                                                                       : 32'd0;
                if (c0 + L >= N) state <= S_FETCH; else c0 <= c0 + L;
            end
            default: state <= S_IDLE;
        endcase
    end

    initial begin
        state = S_IDLE; done = 1'b0; drain_busy = 1'b0; cycles = 0; mac_cycles = 0; stall_cycles = 0; ddr_bytes = 0;
        ddr_req = 1'b0; ddr_addr = 0; ddr_len = 0; fetch_off = 0; fetch_left = 0; fetch_values = 0; fetch_indices = 0;
        fetch_upper = 1'b0; fetch_input = 1'b0; fetch_abase = 0; fetch_rbase = 0;
        mac_en = 1'b0; mac_first = 1'b0; half = 1'b0; tt = 0; nt = 0; ks = 0; kp = 0;
        sum = 0; sumsq = 0; esum = 0; rank_cnt = 0;
    end
endmodule
`default_nettype wire
