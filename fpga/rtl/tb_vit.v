// Testbench (Verilator) of the vitsdk ViT engine: loads the program and buffers written by
// sdk/vitsdk/fpga/rtl.py (hex files in the working folder) with $readmemh, runs one inference per input image
// and writes the logits and the cycle counters. Usage: Vtb_vit +images=N (files in_<i>.hex, out.txt). Each
// in_<i>.hex is an input record (patches, CLS + position embedding; DDR_W-byte words), put in the DDR model at
// address 0 before its inference, where the engine reads it; a streamed model's weight image follows it.
// tb_vit_axi.v runs the same engine behind its AXI4-Lite registers (vit_axi.v) instead.
`timescale 1ns / 1ps
module tb_vit;
    parameter integer TM = 4, TN = 8, R = 4, L = 4, AW = 1024, PW = 1024, SW = 1024, RW = 1024, WW = 1024,
                      XW = 1024, KW = 1024, CW = 1024, GW = 256, OW = 16, QW = 1024, TMAX = 64, CMAX = 64,
                      DDR_NUM = 38, DDR_DEN = 1, DDR_LAT = 100, DDR_W = 16, DDR_WORDS = 1, LN_LAT = 40,
                      RECIP_LAT = 4, STREAM = 0, NOUT = 10, REC_WORDS = 1, REC_IN = 64;
    reg clk = 1'b0;
    reg start = 1'b0;
    wire done;
    wire [63:0] cycles, mac_cycles, stall_cycles, ddr_bytes;
    wire ddr_req;
    wire [31:0] ddr_addr, ddr_len;
    reg ddr_valid = 1'b0;
    reg [8*DDR_W-1:0] ddr_data = 0;
    vit_engine #(.TM(TM), .TN(TN), .R(R), .L(L), .AW(AW), .PW(PW), .SW(SW), .RW(RW), .WW(WW), .XW(XW), .KW(KW), .CW(CW),
                 .GW(GW), .OW(OW), .QW(QW), .TMAX(TMAX), .CMAX(CMAX), .DDR_W(DDR_W), .LN_LAT(LN_LAT),
                 .RECIP_LAT(RECIP_LAT), .STREAM(STREAM)) dut (
        .clk(clk), .start(start), .done(done), .cycles(cycles), .mac_cycles(mac_cycles),
        .stall_cycles(stall_cycles), .ddr_bytes(ddr_bytes), .ddr_req(ddr_req), .ddr_addr(ddr_addr),
        .ddr_len(ddr_len), .ddr_valid(ddr_valid), .ddr_data(ddr_data), .idle(), .wr_en(1'b0), .wr_sel(4'd0),
        .wr_addr(32'd0), .wr_data(64'd0), .rd_addr(32'd0), .rd_data());
    always #1 clk = ~clk;

    // The DDR: a model with the board's figures (testbench only, not the board's memory controller): the
    // input record, then the weight image ddr.hex (DDR_W bytes per word), DDR_NUM/DDR_DEN bytes per cycle after DDR_LAT cycles. A
    // request the engine issues in cycle t delivers beat i (0-based) in cycle t + DDR_LAT +
    // ceil((i + 1) * DDR_W * DDR_DEN / DDR_NUM), one beat per cycle at most (program.fetch_cycles, the quick
    // mode, counts the same).
    reg [8*DDR_W-1:0] ddr [0:DDR_WORDS-1];
    reg [63:0] now = 0, issued = 0, beat = 0, beats = 0, base = 0;
    always @(posedge clk) begin
        if (ddr_req) begin  // the engine raised it in the cycle that ends now
            issued = now - 1; base = ddr_addr / DDR_W; beats = ddr_len / DDR_W; beat = 0;
        end
        ddr_valid <= 1'b0;
        if (beat < beats && now >= issued + DDR_LAT + ((beat + 1) * DDR_W * DDR_DEN + DDR_NUM - 1) / DDR_NUM) begin
            ddr_valid <= 1'b1; ddr_data <= ddr[base + beat]; beat = beat + 1;
        end
        now = now + 1;
    end

    integer images, img, o, fd;
    reg [8*64-1:0] name;
    initial begin
        if (!$value$plusargs("images=%d", images)) images = 1;
        $readmemh("prog.hex", dut.prog);
        if (STREAM != 0) $readmemh("ddr.hex", ddr, REC_WORDS);  // the linears' weights stream from the DDR model
        else begin  // or sit on chip from the start
            $readmemh("wmem.hex", dut.wmem);
            $readmemh("xmem.hex", dut.xmem);
            $readmemh("kmem.hex", dut.kmem);
        end
        $readmemh("cmem.hex", dut.cmem);
        $readmemh("glut.hex", dut.glut);
        $readmemh("elut.hex", dut.elut);
        fd = $fopen("out.txt", "w");
        for (img = 0; img < images; img = img + 1) begin
            $sformat(name, "in_%0d.hex", img);
            $readmemh(name, ddr, 0, REC_WORDS - 1);  // the input record
            @(posedge clk) start = 1'b1;
            @(posedge clk) start = 1'b0;
            @(posedge done);
            $fwrite(fd, "image %0d cycles %0d mac_cycles %0d stall_cycles %0d ddr_bytes %0d\n", img, cycles,
                    mac_cycles, stall_cycles, ddr_bytes);
            for (o = 0; o < NOUT; o = o + 1) $fwrite(fd, "%0d\n", dut.omem[o]);
        end
        $fclose(fd);
        $finish;
    end
endmodule
