// Testbench (Verilator) of vit_axi: an AXI4-Lite master driven by a processor model on stdin, so the host
// code that drives the board (vitsdk.fpga.axi.AxiEngine, through vitsdk.fpga.rtl.SimulatedAxi) drives the RTL
// through AXI-Lite transactions only. One command per line, hex numbers:
//   1 ADDR DATA   write DATA to ADDR (no answer)
//   2 ADDR WAIT   wait WAIT clock cycles (the processor's polling interval), read ADDR; answers "R DATA"
//   0 0 0         finish
// Clock: 2 time units; signals change half-way between rising edges, ready is sampled a quarter period later.
`timescale 1ns / 1ps
module tb_vit_axi;
    parameter integer TM = 4, TN = 8, R = 4, L = 4, AW = 1024, PW = 1024, SW = 1024, RW = 1024, WW = 1024,
                      XW = 1024, CW = 1024, GW = 256, OW = 16, QW = 1024, TMAX = 64, CMAX = 64,
                      DDR_NUM = 38, DDR_DEN = 1, DDR_LAT = 100, LN_LAT = 40, RECIP_LAT = 4, STREAM = 0, NOUT = 10;
    localparam integer ADDR_W = 16;
    reg clk = 1'b0;
    reg rst_n = 1'b0;
    reg [ADDR_W-1:0] awaddr = 0, araddr = 0;
    reg awvalid = 1'b0, wvalid = 1'b0, arvalid = 1'b0;
    reg [31:0] wdata = 0;
    wire awready, wready, bvalid, arready, rvalid;
    wire [1:0] bresp, rresp;
    wire [31:0] rdata;
    vit_axi #(.TM(TM), .TN(TN), .R(R), .L(L), .AW(AW), .PW(PW), .SW(SW), .RW(RW), .WW(WW), .XW(XW), .CW(CW),
              .GW(GW), .OW(OW), .QW(QW), .TMAX(TMAX), .CMAX(CMAX), .DDR_NUM(DDR_NUM), .DDR_DEN(DDR_DEN),
              .DDR_LAT(DDR_LAT), .LN_LAT(LN_LAT), .RECIP_LAT(RECIP_LAT), .STREAM(STREAM), .ADDR_W(ADDR_W)) dut (
        .ap_clk(clk), .ap_rst_n(rst_n),
        .s_axi_control_awaddr(awaddr), .s_axi_control_awvalid(awvalid), .s_axi_control_awready(awready),
        .s_axi_control_wdata(wdata), .s_axi_control_wstrb(4'hf), .s_axi_control_wvalid(wvalid),
        .s_axi_control_wready(wready), .s_axi_control_bresp(bresp), .s_axi_control_bvalid(bvalid),
        .s_axi_control_bready(1'b1), .s_axi_control_araddr(araddr), .s_axi_control_arvalid(arvalid),
        .s_axi_control_arready(arready), .s_axi_control_rdata(rdata), .s_axi_control_rresp(rresp),
        .s_axi_control_rvalid(rvalid), .s_axi_control_rready(1'b1));
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
    reg [31:0] addr, data, value;
    initial begin
        repeat (4) @(posedge clk);
        rst_n = 1'b1;
        fd = $fopen("/dev/stdin", "r");
        op = 1;
        while (op != 0) begin
            n = $fscanf(fd, "%h %h %h", op, addr, data);
            if (n != 3) op = 0;
            else if (op == 1) axi_write(addr[ADDR_W-1:0], data);
            else if (op == 2) begin
                for (k = 0; k < data; k = k + 1) @(posedge clk);
                axi_read(addr[ADDR_W-1:0], value);
                $display("R %h", value);
                $fflush();
            end
        end
        $finish;
    end
endmodule
