// The vitsdk ViT engine as an IP: vit_engine behind an AXI4-Lite slave (`s_axi_control`), so a processor
// (a PYNQ DefaultIP, fpga/board/run_board.py) loads the model, starts an inference and reads the logits and the
// cycle counters, and an AXI4 master read channel (`m_axi_gmem`, for an S_AXI_HP port) through which the engine reads
// the DDR image the host placed: each inference's input record (the patches the host copied there, the position
// embedding), then a streamed model's weights (rtl/ddr.hex).
//
// Register map (byte offsets, 32-bit registers; vitsdk.fpga.axi holds the same numbers):
//   0x00 CTRL      bit 0 ap_start (write 1: start; reads 1 until the engine takes it), bit 1 ap_done (clear on
//                  read), bit 2 ap_idle, bit 3 ap_ready (clear on read): the bits of Vitis HLS ap_ctrl_hs
//   0x10 ID        0x56495445 ("VITE"), 0x14 VERSION (of this register map), 0x18 NPARAM (entries at 0x100)
//   0x20..0x3c     64-bit counters of the last inference as lo/hi pairs: cycles, mac_cycles, stall_cycles,
//                  ddr_bytes (read-only; the engine counts the inference only, not the loading)
//   0x40 BUF_SEL   bits 3:0 the buffer (vit_engine BUF_*), bits 9:8 packing: 0 one element per BUF_DATA write
//                  (64 bits: BUF_HI:BUF_DATA), 1 two 16-bit elements, 2 four 8-bit elements (low bits first);
//                  bit 10: packed elements are signed (sign-extended into wider buffers, e.g. int16 into rmem)
//   0x44 BUF_ADDR  element address of the next write; advances by one per element written
//   0x48 BUF_HI    bits 63:32 of the next single element (kept until written again)
//   0x4c BUF_DATA  writing it writes the element(s) at BUF_ADDR (only while idle: writes while busy are lost)
//   0x50 DDR_BASE  bits 31:0, 0x54 bits 63:32: the bus address of the DDR image (a multiple of DDR_W bytes;
//                  write while idle). The engine's requests are byte offsets into the image.
//   0x58 DDR_STATUS bit 0: a read of the last inference answered SLVERR/DECERR (cleared at start; read-only)
//   0x100 + 4 i    the design's parameters, in the order of vitsdk.fpga.axi.PARAMETERS (read-only; the DDR's
//                  bandwidth and latency are the board's, not the IP's: they are no parameters of it)
//   0x8000 + 4 o   logit o (read-only, int32)
//
// m_axi_gmem (read only; ID 0, so the beats come back in order): each engine request (ddr_req: ddr_len bytes from
// byte ddr_addr of the image) becomes INCR bursts of full DDR_W-byte beats, each at most 256 beats and never
// crossing a 4 KB boundary, up to OUTSTANDING bursts in flight so their latencies overlap. The first burst's
// address is presented in the request's own cycle (vit_axi_read), so the IP adds no cycle to the DDR's latency.
// rready is always 1: the engine takes a beat in every cycle, so the R beats go straight to it (ddr_valid).
`default_nettype none
module vit_axi #(
    parameter integer TM = 4, parameter integer TN = 8, parameter integer R = 4, parameter integer L = 4,
    parameter integer AW = 1024, parameter integer PW = 1024, parameter integer SW = 1024, parameter integer RW = 1024,
    parameter integer WW = 1024, parameter integer XW = 1024, parameter integer KW = 1024, parameter integer CW = 1024,
    parameter integer GW = 256,
    parameter integer OW = 16, parameter integer QW = 1024, parameter integer TMAX = 64, parameter integer CMAX = 64,
    parameter integer LN_LAT = 40, parameter integer RECIP_LAT = 4, parameter integer STREAM = 0,
    parameter integer DDR_W = 16, parameter integer ADDR_W = 16
) (
    input wire ap_clk,
    input wire ap_rst_n,
    input wire [ADDR_W-1:0] s_axi_control_awaddr,
    input wire s_axi_control_awvalid,
    output wire s_axi_control_awready,
    input wire [31:0] s_axi_control_wdata,
    input wire [3:0] s_axi_control_wstrb,
    input wire s_axi_control_wvalid,
    output wire s_axi_control_wready,
    output wire [1:0] s_axi_control_bresp,
    output reg s_axi_control_bvalid,
    input wire s_axi_control_bready,
    input wire [ADDR_W-1:0] s_axi_control_araddr,
    input wire s_axi_control_arvalid,
    output wire s_axi_control_arready,
    output reg [31:0] s_axi_control_rdata,
    output wire [1:0] s_axi_control_rresp,
    output reg s_axi_control_rvalid,
    input wire s_axi_control_rready,
    output wire [63:0] m_axi_gmem_araddr,
    output wire [7:0] m_axi_gmem_arlen,
    output wire [2:0] m_axi_gmem_arsize,
    output wire [1:0] m_axi_gmem_arburst,
    output wire [0:0] m_axi_gmem_arid,
    output wire m_axi_gmem_arlock,
    output wire [3:0] m_axi_gmem_arcache,
    output wire [2:0] m_axi_gmem_arprot,
    output wire [3:0] m_axi_gmem_arqos,
    output wire [3:0] m_axi_gmem_arregion,
    output wire m_axi_gmem_arvalid,
    input wire m_axi_gmem_arready,
    input wire [0:0] m_axi_gmem_rid,
    input wire [8*DDR_W-1:0] m_axi_gmem_rdata,
    input wire [1:0] m_axi_gmem_rresp,
    input wire m_axi_gmem_rlast,
    input wire m_axi_gmem_rvalid,
    output wire m_axi_gmem_rready
);
    localparam [31:0] ID = 32'h56495445, VERSION = 32'd4, NPARAM = 32'd21;
    localparam [ADDR_W-1:0] A_CTRL = 'h00, A_ID = 'h10, A_VERSION = 'h14, A_NPARAM = 'h18, A_BUF_SEL = 'h40,
                            A_BUF_ADDR = 'h44, A_BUF_HI = 'h48, A_BUF_DATA = 'h4c, A_DDR_LO = 'h50, A_DDR_HI = 'h54,
                            A_DDR_STATUS = 'h58;
    localparam integer OUTSTANDING = 8;  // read bursts in flight (the HP ports accept more)

    // ---- the engine ----
    wire done, idle;
    wire [63:0] cycles, mac_cycles, stall_cycles, ddr_bytes;
    reg start;
    reg [3:0] buf_sel;
    reg [1:0] buf_pack;
    reg buf_signed;
    reg [31:0] buf_addr, buf_hi;
    reg [63:0] pend_data;  // the element(s) of the last BUF_DATA write, written one per cycle
    reg [2:0] pend_n;
    wire [31:0] rd_data;
    wire [63:0] wr_data = buf_pack == 2'd0 ? pend_data
                        : buf_pack == 2'd1 ? {{48{buf_signed & pend_data[15]}}, pend_data[15:0]}
                                           : {{56{buf_signed & pend_data[7]}}, pend_data[7:0]};
    wire ddr_req;
    wire [31:0] ddr_addr, ddr_len;
    vit_engine #(.TM(TM), .TN(TN), .R(R), .L(L), .AW(AW), .PW(PW), .SW(SW), .RW(RW), .WW(WW), .XW(XW), .KW(KW), .CW(CW),
                 .GW(GW), .OW(OW), .QW(QW), .TMAX(TMAX), .CMAX(CMAX), .LN_LAT(LN_LAT), .RECIP_LAT(RECIP_LAT),
                 .STREAM(STREAM), .DDR_W(DDR_W)) engine (
        .clk(ap_clk), .start(start), .done(done), .cycles(cycles), .mac_cycles(mac_cycles),
        .stall_cycles(stall_cycles), .ddr_bytes(ddr_bytes), .idle(idle), .wr_en(pend_n != 3'd0), .wr_sel(buf_sel),
        .wr_addr(buf_addr), .wr_data(wr_data), .rd_addr({{(35 - ADDR_W){1'b0}}, s_axi_control_araddr[ADDR_W-2:2]}),
        .rd_data(rd_data), .ddr_req(ddr_req), .ddr_addr(ddr_addr), .ddr_len(ddr_len),
        .ddr_valid(m_axi_gmem_rvalid), .ddr_data(m_axi_gmem_rdata));

    // ---- the weight stream: AXI4 read bursts (the engine takes every beat: rready stays 1) ----
    reg [63:0] ddr_base;
    reg ddr_error;  // DDR_STATUS bit 0
    vit_axi_read #(.DDR_W(DDR_W), .OUTSTANDING(OUTSTANDING)) reader (
        .clk(ap_clk), .rst_n(ap_rst_n), .base(ddr_base), .req(ddr_req), .offset(ddr_addr), .len(ddr_len),
        .araddr(m_axi_gmem_araddr), .arlen(m_axi_gmem_arlen), .arvalid(m_axi_gmem_arvalid),
        .arready(m_axi_gmem_arready), .rvalid(m_axi_gmem_rvalid), .rlast(m_axi_gmem_rlast));
    localparam [2:0] BEAT_SIZE = $clog2(DDR_W);  // AXI size code: 2^size bytes per beat
    assign m_axi_gmem_arsize = BEAT_SIZE;
    assign m_axi_gmem_arburst = 2'b01;  // INCR
    assign m_axi_gmem_arid = 1'b0;
    assign m_axi_gmem_arlock = 1'b0;
    assign m_axi_gmem_arcache = 4'b0011;  // normal non-cacheable bufferable (what Vitis HLS masters issue)
    assign m_axi_gmem_arprot = 3'b000;
    assign m_axi_gmem_arqos = 4'b0000;
    assign m_axi_gmem_arregion = 4'b0000;
    assign m_axi_gmem_rready = 1'b1;

    // ---- ap_ctrl_hs ----
    reg ap_start, ap_done, ap_ready, done_q;
    wire ap_idle = idle && !ap_start && !start;

    // ---- AXI4-Lite: a write takes its address and data together (wstrb is ignored: whole registers); a read
    // waits until the elements of earlier BUF_DATA writes are written ----
    wire write = s_axi_control_awvalid && s_axi_control_wvalid && !s_axi_control_bvalid && pend_n == 3'd0;
    assign s_axi_control_awready = write;
    assign s_axi_control_wready = write;
    assign s_axi_control_bresp = 2'b00;
    assign s_axi_control_arready = !s_axi_control_rvalid && pend_n == 3'd0;  // reads follow earlier writes
    assign s_axi_control_rresp = 2'b00;
    wire read = s_axi_control_arvalid && s_axi_control_arready;
    wire [ADDR_W-1:0] ra = s_axi_control_araddr;

    function [31:0] parameter_value(input [5:0] i);
        case (i)
            0: parameter_value = TM; 1: parameter_value = TN; 2: parameter_value = R; 3: parameter_value = L;
            4: parameter_value = AW; 5: parameter_value = PW; 6: parameter_value = SW; 7: parameter_value = RW;
            8: parameter_value = WW; 9: parameter_value = XW; 10: parameter_value = CW; 11: parameter_value = GW;
            12: parameter_value = OW; 13: parameter_value = QW; 14: parameter_value = TMAX; 15: parameter_value = CMAX;
            16: parameter_value = LN_LAT; 17: parameter_value = RECIP_LAT; 18: parameter_value = STREAM;
            19: parameter_value = DDR_W; 20: parameter_value = KW;
            default: parameter_value = 32'd0;
        endcase
    endfunction

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            s_axi_control_bvalid <= 1'b0; s_axi_control_rvalid <= 1'b0; s_axi_control_rdata <= 32'd0;
            ap_start <= 1'b0; ap_done <= 1'b0; ap_ready <= 1'b0; start <= 1'b0; done_q <= 1'b0;
            buf_sel <= 4'd0; buf_pack <= 2'd0; buf_signed <= 1'b0; buf_addr <= 32'd0; buf_hi <= 32'd0; pend_data <= 64'd0; pend_n <= 3'd0;
            ddr_base <= 64'd0; ddr_error <= 1'b0;
        end else begin
            // the engine takes ap_start when idle (a one-cycle start pulse); its done rising ends the call
            start <= 1'b0;
            if (ap_start && idle && !start) begin
                start <= 1'b1; ap_start <= 1'b0; ddr_error <= 1'b0;
            end else if (m_axi_gmem_rvalid && m_axi_gmem_rresp != 2'b00) ddr_error <= 1'b1;
            done_q <= done;
            if (s_axi_control_bvalid && s_axi_control_bready) s_axi_control_bvalid <= 1'b0;
            if (s_axi_control_rvalid && s_axi_control_rready) s_axi_control_rvalid <= 1'b0;
            // buffer writes: one element per cycle
            if (pend_n != 3'd0) begin
                pend_n <= pend_n - 3'd1;
                buf_addr <= buf_addr + 32'd1;
                pend_data <= buf_pack == 2'd1 ? pend_data >> 16 : pend_data >> 8;
            end
            if (write) begin
                s_axi_control_bvalid <= 1'b1;
                case (s_axi_control_awaddr)
                    A_CTRL: if (s_axi_control_wdata[0]) ap_start <= 1'b1;
                    A_BUF_SEL: begin
                        buf_sel <= s_axi_control_wdata[3:0]; buf_pack <= s_axi_control_wdata[9:8];
                        buf_signed <= s_axi_control_wdata[10];
                    end
                    A_BUF_ADDR: buf_addr <= s_axi_control_wdata;
                    A_BUF_HI: buf_hi <= s_axi_control_wdata;
                    A_DDR_LO: ddr_base[31:0] <= s_axi_control_wdata;
                    A_DDR_HI: ddr_base[63:32] <= s_axi_control_wdata;
                    A_BUF_DATA: begin
                        pend_data <= {buf_hi, s_axi_control_wdata};
                        pend_n <= buf_pack == 2'd0 ? 3'd1 : (buf_pack == 2'd1 ? 3'd2 : 3'd4);
                    end
                    default: ;
                endcase
            end
            if (read) begin
                s_axi_control_rvalid <= 1'b1;
                if (ra[ADDR_W-1]) s_axi_control_rdata <= rd_data;  // the logits window (0x8000 with ADDR_W 16)
                else if (ra >= 'h100) s_axi_control_rdata <= parameter_value(ra[7:2]);
                else case (ra)
                    A_CTRL: s_axi_control_rdata <= {28'd0, ap_ready, ap_idle, ap_done, ap_start};
                    A_ID: s_axi_control_rdata <= ID;
                    A_VERSION: s_axi_control_rdata <= VERSION;
                    A_NPARAM: s_axi_control_rdata <= NPARAM;
                    'h20: s_axi_control_rdata <= cycles[31:0];
                    'h24: s_axi_control_rdata <= cycles[63:32];
                    'h28: s_axi_control_rdata <= mac_cycles[31:0];
                    'h2c: s_axi_control_rdata <= mac_cycles[63:32];
                    'h30: s_axi_control_rdata <= stall_cycles[31:0];
                    'h34: s_axi_control_rdata <= stall_cycles[63:32];
                    'h38: s_axi_control_rdata <= ddr_bytes[31:0];
                    'h3c: s_axi_control_rdata <= ddr_bytes[63:32];
                    A_BUF_SEL: s_axi_control_rdata <= {21'd0, buf_signed, buf_pack, 4'd0, buf_sel};
                    A_BUF_ADDR: s_axi_control_rdata <= buf_addr;
                    A_BUF_HI: s_axi_control_rdata <= buf_hi;
                    A_DDR_LO: s_axi_control_rdata <= ddr_base[31:0];
                    A_DDR_HI: s_axi_control_rdata <= ddr_base[63:32];
                    A_DDR_STATUS: s_axi_control_rdata <= {31'd0, ddr_error};
                    default: s_axi_control_rdata <= 32'd0;
                endcase
            end
            // ap_done / ap_ready: set when the engine finishes, cleared when CTRL is read (set wins)
            if (read && ra == A_CTRL) begin ap_done <= 1'b0; ap_ready <= 1'b0; end
            if (done && !done_q) begin ap_done <= 1'b1; ap_ready <= 1'b1; end
        end
    end
endmodule

// One engine request (`len` bytes from byte `offset` of the image at `base`) as AXI4 INCR read bursts: each as long
// as allowed (256 beats, the rest of the request, the rest of the 4 KB page), issued back to back while fewer than
// OUTSTANDING are in flight. The first burst is presented in the request's cycle (from `req` and its operands; no
// AXI input reaches an output without a register), later ones from the registers that hold what is left.
module vit_axi_read #(parameter integer DDR_W = 16, parameter integer OUTSTANDING = 8) (
    input wire clk,
    input wire rst_n,
    input wire [63:0] base,
    input wire req,
    input wire [31:0] offset,
    input wire [31:0] len,
    output wire [63:0] araddr,
    output wire [7:0] arlen,
    output wire arvalid,
    input wire arready,
    input wire rvalid,
    input wire rlast
);
    localparam integer SHIFT = $clog2(DDR_W);
    localparam [7:0] LIMIT = OUTSTANDING;
    reg [63:0] next_addr;  // the next burst's address
    reg [31:0] left;       // beats of the request not yet asked for
    reg [7:0] inflight;    // bursts asked for whose last beat has not arrived
    wire [63:0] addr = req ? base + {32'd0, offset} : next_addr;
    wire [31:0] beats = req ? len >> SHIFT : left;
    wire [31:0] to_page = (32'd4096 - {20'd0, addr[11:0]}) >> SHIFT;  // beats before the next 4 KB boundary
    wire [31:0] cap = to_page < 32'd256 ? to_page : 32'd256;
    wire [31:0] burst = beats < cap ? beats : cap;
    wire issue = arvalid && arready;
    assign arvalid = beats != 32'd0 && inflight < LIMIT;
    assign araddr = addr;
    assign arlen = burst[7:0] - 8'd1;
    always @(posedge clk) begin
        if (!rst_n) begin
            next_addr <= 64'd0; left <= 32'd0; inflight <= 8'd0;
        end else begin
            next_addr <= issue ? addr + ({32'd0, burst} << SHIFT) : addr;  // held (stable AR) until accepted
            left <= issue ? beats - burst : beats;
            // a last beat of a burst asked for before a reset is not counted (inflight would wrap below 0)
            inflight <= inflight + {7'd0, issue} - {7'd0, rvalid && rlast && inflight != 8'd0};
        end
    end
endmodule
`default_nettype wire
