// The engine's on-chip buffers as synthesisable RAM, for Yosys' BRAM/URAM count (sdk/vitsdk/fpga/synth.py).
//
// vit_engine.v keeps its buffers as behavioural arrays; each of them is, in hardware, BANKS x COPIES of one
// memory (sdk/vitsdk/fpga/buffer_plan.py). A buffer the engine accesses both as a column of tokens and as a
// run of channels of one token (activations, probabilities, scores, residual) is skewed over banks one element
// wide (element (row, col) in bank (row + col) mod B, `buffer_plan.Skewed`), each bank its own RAM with its own
// address; the others are one memory whose word holds what the engine reads at one address per cycle (the TN
// weights of a tile's strips, one instruction). Copies hold the same data for more reads per cycle (the MAC
// array's strips, the lanes' lookup tables). synth.py chooses WIDTH, DEPTH, ULTRA and DISTRIBUTED per buffer
// of a design, synthesises one memory with `synth_xilinx -family xcup|xc7` and multiplies its cells by the banks
// and copies.
//
// PORTS = 1: one write port (the epilogue, the vector unit or the DDR fill) and one synchronous read port.
// PORTS = 2: true dual port, for a buffer that is read twice in a cycle in which nothing writes it: port A
// writes at waddr or reads there (rdata_a), port B reads at raddr (the activations' QK^T: Q on A, K on B).
// Both are patterns Yosys' memory_libmap maps to RAMB18E2/RAMB36E2 (ULTRA = 0) or URAM288 (ULTRA = 1,
// UltraScale+ parts that have UltraRAM); DISTRIBUTED = 1 (the small selection memories, the logits) asks for LUT
// RAM (RAM32M16/RAM64M8 and the read register's flip-flops).
`default_nettype none
module vit_buffer_bank #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 1024,
    parameter integer ULTRA = 0,
    parameter integer DISTRIBUTED = 0,
    parameter integer PORTS = 1
) (
    input wire clk,
    input wire we,
    input wire [$clog2(DEPTH)-1:0] waddr,
    input wire [WIDTH-1:0] wdata,
    input wire [$clog2(DEPTH)-1:0] raddr,
    output reg [WIDTH-1:0] rdata,
    output reg [WIDTH-1:0] rdata_a
);
    generate
        if (ULTRA != 0) begin : uram
            (* ram_style = "ultra" *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge clk) begin
                if (we) mem[waddr] <= wdata;
                rdata <= mem[raddr];
                rdata_a <= PORTS > 1 ? mem[waddr] : {WIDTH{1'b0}};
            end
        end else if (DISTRIBUTED != 0) begin : lutram
            (* ram_style = "distributed" *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge clk) begin
                if (we) mem[waddr] <= wdata;
                rdata <= mem[raddr];
                rdata_a <= PORTS > 1 ? mem[waddr] : {WIDTH{1'b0}};
            end
        end else begin : bram
            (* ram_style = "block" *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge clk) begin
                if (we) mem[waddr] <= wdata;
                rdata <= mem[raddr];
                rdata_a <= PORTS > 1 ? mem[waddr] : {WIDTH{1'b0}};
            end
        end
    endgenerate
endmodule
`default_nettype wire
