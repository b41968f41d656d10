// Testbench (Verilator) of vit_axi: an AXI4-Lite master driven by a processor model on stdin, so the host
// code that drives the board (vitsdk.fpga.axi.AxiEngine, through vitsdk.fpga.axi_sim.SimulatedAxi) drives the RTL
// through AXI-Lite transactions only, and tb_ddr, a model of the board's DDR, answering the IP's AXI4 master.
// One command per line, hex numbers:
//   1 ADDR DATA   write DATA to ADDR (no answer)
//   2 ADDR WAIT   wait WAIT clock cycles (the processor's polling interval), read ADDR; answers "R DATA"
//   3 0 0         answers "M " and the DDR model's counters (tb_ddr)
//   4 INDEX 0     answers "W WORD": word INDEX of the DDR model's memory (from +ddr_base)
//   5 INDEX WORD  writes WORD (DDR_W bytes) at word INDEX of the DDR model's memory (the host's copy into DDR)
//   0 0 0         finish
// Plusargs: +ddr_base=HEX, the bus address of the DDR model's memory: the input record (REC_WORDS words, written by
// the host), then ddr.hex (loaded from the working folder at the start when present, like the weight image the host
// puts in the board's DDR); +ar_stall=N and
// +extra_latency=N, back-pressure on the IP's master (tb_ddr; both 0 unless given: then the board's DDR rule).
// Clock: 2 time units; signals change half-way between rising edges, ready is sampled a quarter period later.
`timescale 1ns / 1ps
module tb_vit_axi;
    parameter integer TM = 4, TN = 8, R = 4, L = 4, AW = 1024, PW = 1024, SW = 1024, RW = 1024, WW = 1024,
                      XW = 1024, KW = 1024, CW = 1024, GW = 256, OW = 16, QW = 1024, TMAX = 64, CMAX = 64,
                      DDR_NUM = 38, DDR_DEN = 1, DDR_LAT = 100, DDR_W = 16, DDR_WORDS = 1, LN_LAT = 40,
                      RECIP_LAT = 4, STREAM = 0, NOUT = 10, REC_WORDS = 1, REC_IN = 64;
    localparam integer ADDR_W = 16;
    reg clk = 1'b0;
    reg rst_n = 1'b0;
    reg [ADDR_W-1:0] awaddr = 0, araddr = 0;
    reg awvalid = 1'b0, wvalid = 1'b0, arvalid = 1'b0;
    reg [31:0] wdata = 0;
    wire awready, wready, bvalid, arready, rvalid;
    wire [1:0] bresp, rresp;
    wire [31:0] rdata;
    wire [63:0] m_araddr;
    wire [7:0] m_arlen;
    wire [2:0] m_arsize;
    wire [1:0] m_arburst, m_rresp;
    wire m_arvalid, m_arready, m_rlast, m_rvalid, m_rready;
    wire [8*DDR_W-1:0] m_rdata;
    vit_axi #(.TM(TM), .TN(TN), .R(R), .L(L), .AW(AW), .PW(PW), .SW(SW), .RW(RW), .WW(WW), .XW(XW), .KW(KW), .CW(CW),
              .GW(GW), .OW(OW), .QW(QW), .TMAX(TMAX), .CMAX(CMAX), .LN_LAT(LN_LAT), .RECIP_LAT(RECIP_LAT),
              .STREAM(STREAM), .DDR_W(DDR_W), .ADDR_W(ADDR_W)) dut (
        .ap_clk(clk), .ap_rst_n(rst_n),
        .s_axi_control_awaddr(awaddr), .s_axi_control_awvalid(awvalid), .s_axi_control_awready(awready),
        .s_axi_control_wdata(wdata), .s_axi_control_wstrb(4'hf), .s_axi_control_wvalid(wvalid),
        .s_axi_control_wready(wready), .s_axi_control_bresp(bresp), .s_axi_control_bvalid(bvalid),
        .s_axi_control_bready(1'b1), .s_axi_control_araddr(araddr), .s_axi_control_arvalid(arvalid),
        .s_axi_control_arready(arready), .s_axi_control_rdata(rdata), .s_axi_control_rresp(rresp),
        .s_axi_control_rvalid(rvalid), .s_axi_control_rready(1'b1),
        .m_axi_gmem_araddr(m_araddr), .m_axi_gmem_arlen(m_arlen), .m_axi_gmem_arsize(m_arsize),
        .m_axi_gmem_arburst(m_arburst), .m_axi_gmem_arid(), .m_axi_gmem_arlock(), .m_axi_gmem_arcache(),
        .m_axi_gmem_arprot(), .m_axi_gmem_arqos(), .m_axi_gmem_arregion(), .m_axi_gmem_arvalid(m_arvalid),
        .m_axi_gmem_arready(m_arready), .m_axi_gmem_rid(1'b0), .m_axi_gmem_rdata(m_rdata),
        .m_axi_gmem_rresp(m_rresp), .m_axi_gmem_rlast(m_rlast), .m_axi_gmem_rvalid(m_rvalid),
        .m_axi_gmem_rready(m_rready));
    tb_ddr #(.DDR_W(DDR_W), .DDR_NUM(DDR_NUM), .DDR_DEN(DDR_DEN), .DDR_LAT(DDR_LAT), .WORDS(DDR_WORDS),
             .FIRST(REC_WORDS)) ddr (
        .clk(clk), .araddr(m_araddr), .arlen(m_arlen), .arsize(m_arsize), .arburst(m_arburst),
        .arvalid(m_arvalid), .arready(m_arready), .rdata(m_rdata), .rresp(m_rresp), .rlast(m_rlast),
        .rvalid(m_rvalid), .rready(m_rready));
    always #1 clk = ~clk;

    task axi_write(input [ADDR_W-1:0] a, input [31:0] d);
        begin
            @(negedge clk);
            awaddr = a; wdata = d; awvalid = 1'b1; wvalid = 1'b1;
            #0.5;
            while (!(awready && wready)) begin @(negedge clk); #0.5; end
            @(posedge clk);  // the handshake
            @(negedge clk);
            awvalid = 1'b0; wvalid = 1'b0;
        end
    endtask

    task axi_read(input [ADDR_W-1:0] a, output [31:0] d);
        begin
            @(negedge clk);
            araddr = a; arvalid = 1'b1;
            #0.5;
            while (!arready) begin @(negedge clk); #0.5; end
            @(posedge clk);  // the handshake
            @(negedge clk);
            arvalid = 1'b0;
            while (!rvalid) @(negedge clk);
            d = rdata;
        end
    endtask

    integer fd, n, op, k;
    reg [31:0] addr, value;
    localparam integer DATA_W = 8 * DDR_W > 32 ? 8 * DDR_W : 32;
    reg [DATA_W-1:0] data;  // a register's value, a wait, or a DDR word
    initial begin
        repeat (4) @(posedge clk);
        rst_n = 1'b1;
        fd = $fopen("/dev/stdin", "r");
        op = 1;
        while (op != 0) begin
            n = $fscanf(fd, "%h %h %h", op, addr, data);
            if (n != 3) op = 0;
            else if (op == 1) axi_write(addr[ADDR_W-1:0], data[31:0]);
            else if (op == 2) begin
                for (k = 0; k < data; k = k + 1) @(posedge clk);
                axi_read(addr[ADDR_W-1:0], value);
                $display("R %h", value);
                $fflush();
            end else if (op == 5) ddr.mem[addr] = data[8*DDR_W-1:0];
            else if (op == 4) begin
                $display("W %h", ddr.mem[addr]);
                $fflush();
            end else if (op == 3) begin
                $write("M bursts %0d beats %0d longest %0d inflight %0d cross_4k %0d bad_burst %0d outside %0d",
                       ddr.bursts, ddr.beats, ddr.longest, ddr.most_inflight, ddr.cross_4k, ddr.bad_burst, ddr.outside);
                $display(" ar_waits %0d ar_unstable %0d", ddr.ar_waits, ddr.ar_unstable);
                $fflush();
            end
        end
        $finish;
    end
endmodule

// A model of the board's DDR behind an S_AXI_HP port (testbench only, not the board's memory controller; its
// figures are the board's, DDR_NUM/DDR_DEN bytes per cycle after DDR_LAT cycles, as in tb_vit.v): an AXI4 read
// slave holding WORDS words at +ddr_base (the input record, then the weight image ddr.hex from word FIRST), followed
// by 4 KB of other memory (zeros: a
// base address a little off reads it without an error, as on the board). Its timing is tb_vit's DDR rule seen from
// the bus: the reads share one channel of DDR_NUM/DDR_DEN bytes per cycle, a burst's data follows its address
// by DDR_LAT cycles, at most one beat per cycle. A burst accepted in cycle t delivers its beat j in cycle
// max(t + DDR_LAT, end of the channel's earlier bursts) + ceil((j + 1) * DDR_W * DDR_DEN / DDR_NUM), so bursts
// asked for back to back (in flight together) are one request of the engine's rule, with its cycles.
// It checks the master: counts bursts that cross a 4 KB boundary, bursts that are not INCR of full DDR_W-byte
// beats at a DDR_W-aligned address, beats outside its memory (answered DECERR), and cycles where an address the
// model did not accept (arvalid, arready low) was withdrawn or changed in the next (AXI4: held until accepted).
// Back-pressure (plusargs, for tests of the master; not the board's DDR, so the cycles are not tb_vit's):
// +ar_stall=N holds arready low N cycles out of every N + 1 (a burst waits up to N cycles to be accepted), and
// +extra_latency=N answers each burst N cycles later than DDR_LAT, so the master's bursts pile up in flight.
module tb_ddr #(parameter integer DDR_W = 16, DDR_NUM = 38, DDR_DEN = 1, DDR_LAT = 100,
                parameter integer WORDS = 1, FIRST = 0, QUEUE = 64) (
    input wire clk,
    input wire [63:0] araddr,
    input wire [7:0] arlen,
    input wire [2:0] arsize,
    input wire [1:0] arburst,
    input wire arvalid,
    output reg arready,
    output reg [8*DDR_W-1:0] rdata,
    output reg [1:0] rresp,
    output reg rlast,
    output reg rvalid,
    input wire rready
);
    localparam integer SIZE = WORDS + 4096 / DDR_W;
    reg [8*DDR_W-1:0] mem [0:SIZE-1];
    reg [8*DDR_W-1:0] word;
    reg [63:0] base, cycle, channel, last_beat, due, index;  // channel: end of the booked transfers x DDR_NUM
    reg [63:0] q_addr [0:QUEUE-1];
    reg [63:0] q_start [0:QUEUE-1];  // (cycle the burst's first byte may move) x DDR_NUM
    reg [8:0] q_beats [0:QUEUE-1];
    integer head, tail, count, beat, words, fd;
    integer bursts, beats, longest, most_inflight, cross_4k, bad_burst, outside, ar_waits, ar_unstable;
    integer ar_stall, extra_latency;
    reg waited;  // the master's address was not accepted in the previous cycle: it must be presented again
    reg [63:0] waited_addr;
    reg [7:0] waited_len;

    initial begin
        if (!$value$plusargs("ddr_base=%h", base)) base = 64'd0;
        if (!$value$plusargs("ar_stall=%d", ar_stall)) ar_stall = 0;
        if (!$value$plusargs("extra_latency=%d", extra_latency)) extra_latency = 0;
        for (words = 0; words < SIZE; words = words + 1) mem[words] = 0;
        words = FIRST;
        fd = $fopen("ddr.hex", "r");
        if (fd != 0) begin
            while ($fscanf(fd, "%h", word) == 1) begin
                if (words >= WORDS) $fatal(1, "ddr.hex has more than %0d words", WORDS);
                mem[words] = word;
                words = words + 1;
            end
            $fclose(fd);
        end
        cycle = 0; channel = 0; last_beat = 0; head = 0; tail = 0; count = 0; beat = 0;
        bursts = 0; beats = 0; longest = 0; most_inflight = 0; cross_4k = 0; bad_burst = 0; outside = 0;
        ar_waits = 0; ar_unstable = 0; waited = 1'b0; waited_addr = 0; waited_len = 0;
        arready = ar_stall == 0;  // with back-pressure, cycle 0 is one of the N low ones
        rvalid = 1'b0; rlast = 1'b0; rresp = 2'b00; rdata = 0;
    end

    always @(posedge clk) begin
        // the beat presented in this cycle is taken
        if (rvalid && rready) begin
            beat = beat + 1;
            if (beat == q_beats[head]) begin beat = 0; head = (head + 1) % QUEUE; count = count - 1; end
        end
        // an address not accepted last cycle is still presented, unchanged
        if (waited && (!arvalid || araddr != waited_addr || arlen != waited_len)) ar_unstable = ar_unstable + 1;
        waited = arvalid && !arready;
        waited_addr = araddr; waited_len = arlen;
        if (waited) ar_waits = ar_waits + 1;
        // a burst accepted in this cycle books the channel
        if (arvalid && arready) begin
            if (count == QUEUE) $fatal(1, "tb_ddr: more than %0d bursts in flight", QUEUE);
            q_addr[tail] = araddr;
            q_beats[tail] = {1'b0, arlen} + 9'd1;
            q_start[tail] = channel > (cycle + DDR_LAT + extra_latency) * DDR_NUM ? channel
                                                                                  : (cycle + DDR_LAT + extra_latency) * DDR_NUM;
            channel = q_start[tail] + q_beats[tail] * DDR_W * DDR_DEN;
            bursts = bursts + 1;
            beats = beats + q_beats[tail];
            if (q_beats[tail] > longest) longest = q_beats[tail];
            if (araddr[11:0] + q_beats[tail] * DDR_W > 4096) cross_4k = cross_4k + 1;
            if (arburst != 2'b01 || (1 << arsize) != DDR_W || araddr % DDR_W != 0) bad_burst = bad_burst + 1;
            tail = (tail + 1) % QUEUE;
            count = count + 1;
            if (count > most_inflight) most_inflight = count;
        end
        // the beat the next cycle presents, once it is due
        rvalid <= 1'b0;
        if (count != 0) begin
            due = (q_start[head] + (beat + 1) * DDR_W * DDR_DEN + DDR_NUM - 1) / DDR_NUM;
            if (due <= last_beat) due = last_beat + 1;
            if (due <= cycle + 1) begin
                index = (q_addr[head] - base) / DDR_W + beat;
                rvalid <= 1'b1;
                rlast <= beat + 1 == q_beats[head];
                if (q_addr[head] >= base && index < SIZE) begin
                    rdata <= mem[index]; rresp <= 2'b00;
                end else begin
                    rdata <= 0; rresp <= 2'b11;  // DECERR: no memory there
                    outside = outside + 1;
                end
                last_beat = cycle + 1;
            end
        end
        cycle = cycle + 1;
        arready <= ar_stall == 0 || cycle % (ar_stall + 1) == 0;  // cycle: the next one's number
    end
endmodule
