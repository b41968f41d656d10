"""The engine's on-chip buffers as banked memories: what each buffer holds, its width, depth, banks, copies and
ports, chosen so that every group of elements vit_engine.v touches in one cycle lies in different memories.
`synth.buffer_resources` synthesises one memory of each (fpga/rtl/vit_buffers.v) and multiplies.

`ENGINE_BUFFERS` names the plan entry that counts each of vit_engine.v's memories: the sequencer's synthesis cuts
exactly those out (`synth.cut_memories`), so a memory added to the engine without an entry here is refused by the
tests rather than left out of the count."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitsdk.fpga.program import NF, OP_LN, OP_MM, Program

# vit_engine.v's memories -> the plan entry that counts them (activation_strips: copies of amem's matrices)
ENGINE_BUFFERS = {
    "prog": "instructions", "amem": "activations", "pmem": "probabilities", "smem": "scores", "rmem": "residual",
    "wmem": "weights", "xmem": "indices", "kmem": "constants", "cmem": "norm_constants", "glut": "gelu_tables",
    "elut": "exp_table", "omem": "logits", "cls": "cls_scores", "order": "token_lists", "drop": "token_lists",
    "facc": "fused_sums",
}


@dataclass(frozen=True)
class BufferSpec:
    """One engine buffer as `copies` x `banks` memories of `depth` words of `width` bits (fpga/rtl/vit_buffers.v).
    A word holds what one bank serves per cycle at one address; the banks of a buffer are separate RAMs with
    their own addresses (skewed banking, `Skewed`), the copies hold the same data for more reads per cycle.
    `ports`: 1, one write and one read port; 2, true dual port (two reads in a cycle without a write).
    `distributed`: a small memory (a few dozen words per bank) in LUT RAM, where a board build puts it, not in
    block RAM (Yosys, told nothing, maps even a 2-word memory to a RAMB18)."""

    width: int
    depth: int
    copies: int
    why: str
    banks: int = 1
    ports: int = 1
    distributed: bool = False

    @property
    def memories(self) -> int:
        return self.copies * self.banks

    @property
    def bytes(self) -> int:
        return self.memories * self.depth * self.width // 8


@dataclass(frozen=True)
class Skewed:
    """Diagonal (skewed) banking of row-major matrices over `banks` RAMs, one element wide each: element
    (row, col) of a matrix of `cols` columns is in bank (row + col) mod B at address
    row * ceil(cols / B) + col // B (plus the matrix's first address in that buffer's banks).

    Any run of up to B consecutive rows of one column lands in B different banks (banks (row + i + col) mod B,
    i < B), and so does any run of up to B consecutive columns of one row: one cycle serves the epilogue's
    TM tokens of an output column and the vector unit's L channels of a token from the same RAMs, without
    changing a cycle of the schedule. The lanes meet the banks rotated by (row + col) mod B (a barrel shifter
    on the data, address logic, not counted). The padding: ceil(cols / B) * B - cols unused slots per row."""

    banks: int

    def row_words(self, cols: int) -> int:
        return -(-int(cols) // self.banks)

    def bank(self, row: int, col: int) -> int:
        return (row + col) % self.banks

    def address(self, row: int, col: int, cols: int) -> int:
        return row * self.row_words(cols) + col // self.banks

    def depth(self, rows: int, cols: int) -> int:
        """Words per bank of a rows x cols matrix."""
        return int(rows) * self.row_words(cols)


def _words(elements: int, lanes: int) -> int:
    """Words of a memory holding `elements` in `lanes` elements per word (at least 2: one address bit)."""
    return max(2, -(-int(elements) // lanes))


def activation_matrices(program: Program) -> list[tuple[int, int, int]]:
    """The activation buffer's matrices as (first element, rows, columns), read off the instruction stream:
    every access to the buffer (the patch input, LayerNorm and epilogue writes, MAC-array operand reads) is a
    run of rows of one stride; runs of the same stride that overlap are one matrix, whose columns are that
    stride (matrices of other strides may share addresses: `region_depth`). An access that falls in no matrix
    of its stride raises (the skewed banking would not hold)."""
    runs = []  # (first element, stride, rows, columns) of each access
    first_mm = next(row for row in program.instructions if row[0] == OP_MM)
    runs.append((int(first_mm[5]), int(first_mm[6]), *program.input_shape))  # the patches the host writes
    for row in program.instructions:
        if row[0] == OP_LN:
            runs.append((int(row[15]), int(row[16]), int(row[1]), int(row[2])))
        if row[0] != OP_MM:
            continue
        M, N, K, flags = int(row[1]), int(row[2]), int(row[3]), int(row[4])
        if flags >> 8 & 3 == 0:  # the epilogue writes M tokens x N outputs
            runs.append((int(row[15]), int(row[16]), M, N))
        if not flags & 1:  # A from this buffer: M tokens x the K columns of a dense walk, any of a linear's inputs
            width = K if flags >> 1 & 1 else int(row[6])
            runs.append((int(row[5]), int(row[6]), M, width))
        if flags >> 1 & 1:  # dense B from this buffer: QK^T reads N tokens of K, AV N channels of V
            bsn, bsk = int(row[8]), int(row[9])
            runs.append((int(row[7]), bsn, N, K) if bsn > bsk else (int(row[7]), bsk, K, N))
    matrices: dict[int, list[list[int]]] = {}
    for base, stride, rows, cols in sorted(runs, key=lambda r: (r[1], r[0])):
        end = base + (rows - 1) * stride + cols
        spans = matrices.setdefault(stride, [])
        if spans and base < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([base, end])
    spans = sorted((start, end, stride) for stride, spans in matrices.items() for start, end in spans)
    stray = [(base, stride) for base, stride, rows, cols in runs
             if not any(s == stride and start <= base and base + (rows - 1) * stride + cols <= end
                        and (base - start) % stride + cols <= stride for start, end, s in spans)]
    if stray:
        raise RuntimeError(f"the activation buffer is not a set of row-major matrices: accesses (first element, "
                           f"stride) outside one matrix {stray}")
    return [(start, -(-(end - start) // stride), stride) for start, end, stride in spans]


def region_depth(matrices: list[tuple[int, int, int]] | set[tuple[int, int, int]], skew: Skewed) -> int:
    """Words per bank of `matrices` (first element, rows, columns) banked by `skew`. Matrices of other strides
    that share addresses are one region the program reuses with another shape in another layer (a compacted
    MLP's hidden width differs per block): the region holds one of them at a time, so it needs the largest
    one's depth, not their sum."""
    total, region_end, deepest = 0, -1, 0
    for start, rows, cols in sorted(matrices):
        if start >= region_end:
            total, deepest = total + deepest, 0
        deepest = max(deepest, skew.depth(rows, cols))
        region_end = max(region_end, start + rows * cols)
    return total + deepest


def buffer_plan(program: Program) -> dict[str, BufferSpec]:
    """The engine's buffers for `program`, banked so that every access vit_engine.v makes in one cycle hits
    different RAMs (one write port and one read port per RAM: the epilogue or vector unit writes while the
    array or vector unit reads). Per buffer, the accesses of one cycle and the banking that serves them:

    - activations (int8): the MAC array reads TM consecutive tokens of one column per strip (TN/R strips,
      each its own kept column) and, in QK^T, the B operand's TN consecutive tokens of one column of K, in
      AV TN consecutive channels of one token of V; the epilogue writes TM tokens of one column, LayerNorm L
      channels of one token. Skewed over max(TM, L, TN) banks; QK^T reads Q and K in the same cycle and
      writes only scores, so the banks are true dual port (Q on one port, K on the other). Each matrix
      (patches, LayerNorm output, q|k|v, attention output, MLP hidden) is laid out on its own rows
      (`activation_matrices`). activation_strips: strips 2..TN/R read their own columns of the linears' inputs
      (not q|k|v, which only QK^T and AV read) from one more copy each of those matrices, written with them.
      The input record's beat (S_LOAD) writes DDR_W consecutive patch values: distinct banks when the bank count
      is at least DDR_W and a patch is whole beats (DeiT-S and vit_nano on the ZCU102/104 engines: 32 banks,
      768- and 16-byte patches); on smaller engines (the tests' 4 x 8) a real one would take ceil(DDR_W / banks)
      cycles per beat, which the simulation does not charge.
    - probabilities (16 bits): softmax writes L consecutive keys of one query, AV reads TM consecutive queries
      of one key: skewed over max(TM, L) banks.
    - scores (32 bits): the QK^T epilogue writes TM queries of one key, softmax reads L keys of one query:
      skewed over max(TM, L) banks. Scores and probabilities of a head are tokens x tokens at the current
      token count: at most TMAX rows of ceil(TMAX / B) words.
    - residual (the program's clamp width): the epilogue reads and writes TM tokens of one channel (residual
      add), LayerNorm reads and token selection copies/fuses L channels of one token: skewed over max(TM, L)
      banks, two regions of TMAX tokens x CMAX channels. The input record writes DDR_W / 4 consecutive channels
      of the embedding per beat (distinct banks while max(TM, L) >= DDR_W / 4 and a token is whole beats).
    - weights (wmem), indices (xmem) and constants (kmem) of the linears: every linear's section on chip, or,
      when the model streams, two halves of the largest section (the double buffers the weight port fills).
      The array reads, per TN/R strip, its kept column's R values and index in one cycle (values and indices
      one bank per strip: a strip's values and indices are runs of their own), the epilogue one channel's
      constants; the weight port writes one DDR_W-byte beat per cycle (words at least a beat wide).
    - norm_constants (cmem): LayerNorm's gain and offset, L consecutive channels of each per cycle: each its own
      memory interleaved over L banks (2L banks), at the width of the largest value.
    - the GELU table once per epilogue lane, the exp table once per vector lane (each lane looks up its own
      entry); the instruction stream one instruction per word (fetched at once); the logits.
    - token selection's small memories (TMAX or CMAX entries): the CLS scores, the kept and dropped token lists
      and the fused token's accumulators, each banked for the L elements the vector unit touches per cycle; they
      and the logits are LUT RAM (`distributed`).

    Element widths are the engine's: int8 activations and weights, 16-bit probabilities, 32-bit scores,
    the residual at the program's clamp width, the exp table at its largest entry."""
    cfg, s = program.config, program.sizes
    TM, TN, L = cfg.tokens, cfg.outputs, cfg.lanes
    strips = TN // program.block.rows
    mm = [row for row in program.instructions if row[0] == OP_MM]
    linears = [row for row in mm if row[4] >> 15 & 1]
    residual_bits = max(int(row[22]) + 1 for row in linears).bit_length() if linears else 32
    exp_bits = max(1, int(max(program.memories["elut"].max(), 1)).bit_length())
    dense_b = any(row[4] >> 1 & 1 for row in mm)  # QK^T / AV read their B operand from the activations
    both = [row for row in mm if row[4] & 3 == 2]  # QK^T: A and B from the activations in the same cycle
    act = Skewed(max(TM, L, TN if dense_b else 1))
    act_terms = "max(TM, L, TN)" if dense_b else "max(TM, L)"
    act_copies, act_ports, act_why = 1, 1, ""
    if both:
        if any(row[4] >> 8 & 3 == 0 for row in both):  # the epilogue writes them too: a second copy
            act_copies, act_why = 2, "two copies: QK^T reads Q and K in one cycle"
        else:
            act_ports, act_why = 2, "true dual port: QK^T reads Q and K in one cycle and writes the scores"
    matrices = activation_matrices(program)
    act_depth = region_depth(matrices, act)

    def holding(base: int, stride: int) -> tuple[int, int, int]:
        return next(m for m in matrices if m[2] == stride and m[0] <= base < m[0] + m[1] * m[2])

    strip_read = {holding(int(row[5]), int(row[6])) for row in linears}  # what the strips read, each its column
    strip_depth = region_depth(strip_read, act)
    vec = Skewed(max(TM, L))
    T, C = s["TMAX"], s["CMAX"]
    weights = program.weight_buffer_elements
    R, beat_bytes = program.block.rows, cfg.ddr_beat_bytes
    beat = max(2, beat_bytes) // 2  # indices per beat of the weight port
    value_word = max(R, beat_bytes)  # one strip's R values read per cycle; one beat written per cycle
    # one strip bank's values (bytes) and indices (entries) per linear: its strips s, s + TN/R, ...
    value_bytes = program.held([-(-layer["strips"] // strips) * layer["col_blocks"] * layer["kept"] * R
                                for layer in program.layers])
    index_entries = program.held([-(-layer["strips"] // strips) * layer["index_run"] for layer in program.layers])
    halves = "; streamed: two halves, each the largest linear's section" if program.streamed else ""
    norm_bits = max(1, int(np.abs(program.memories["cmem"]).max(initial=1))).bit_length() + 1
    plan = {
        "activations": BufferSpec(8, max(2, act_depth), act_copies,
                                  f"skewed over {act_terms} = {act.banks} banks: TM tokens of a column, L or TN "
                                  f"channels of a token" + (f"; {act_why}" if act_why else ""),
                                  banks=act.banks, ports=act_ports),
        "probabilities": BufferSpec(16, max(2, vec.depth(T, T)), 1, f"skewed over max(TM, L) = {vec.banks} banks: "
                                    "L keys of a query (softmax), TM queries of a key (AV)", banks=vec.banks),
        "scores": BufferSpec(32, max(2, vec.depth(T, T)), 1, f"skewed over max(TM, L) = {vec.banks} banks: TM "
                             "queries of a key (epilogue), L keys of a query (softmax)", banks=vec.banks),
        "residual": BufferSpec(residual_bits, max(2, vec.depth(s["RW"] // C, C)), 1,
                               f"skewed over max(TM, L) = {vec.banks} banks: TM tokens of a channel (epilogue), "
                               "L channels of a token (LayerNorm, token selection); two regions", banks=vec.banks),
        "weights": BufferSpec(8 * value_word, _words(value_bytes, value_word), 1, f"one bank per TN/R strip (its "
                              f"values are a run of their own): each strip reads its kept column's R values per "
                              f"cycle; max(R, DDR_W) = {value_word} bytes per word, so a streamed beat is one write "
                              f"into a bank (two at a strip boundary, one each; a word wider than a beat takes it "
                              f"with byte enables){halves}", banks=strips),
        "indices": BufferSpec(16 * beat, _words(index_entries, beat), 1, f"one bank per TN/R strip (strip s in bank "
                              f"s mod TN/R): each strip reads its own kept column; DDR_W / 2 = {beat} indices of one "
                              f"strip per word (its indices are whole 64-byte runs), so a streamed beat is one "
                              f"write{halves}", banks=strips),
        "constants": BufferSpec(8 * max(16, beat_bytes), _words(weights["kmem"], max(16, beat_bytes) // 8), 1,
                                f"one output channel's multiplier, bias and shift (16 bytes) per cycle for the "
                                f"epilogue, a beat per cycle from the weight port: max(16, DDR_W) bytes per "
                                f"word{halves}"),
        "norm_constants": BufferSpec(norm_bits, _words(s["CW"], 2 * L), 1, "LayerNorm's gain and offset, "
                                     "each interleaved over L banks (element i in bank i mod L): L consecutive "
                                     "channels of each per cycle", banks=2 * L),
        "gelu_tables": BufferSpec(8, _words(s["GW"], 1), TM, "one copy per epilogue lane"),
        "exp_table": BufferSpec(exp_bits, 256, L, "one copy per vector lane"),
        "instructions": BufferSpec(64 * NF, _words(len(program.instructions), 1), 1, "one instruction per word"),
        "logits": BufferSpec(32, _words(s["OW"], 1), 1, "the classifier's outputs: the epilogue writes them (one "
                             "token), the host reads them", distributed=True),
        "cls_scores": BufferSpec(32, _words(T, L), 2, "token selection's score per token (its CLS attention summed "
                                 "over heads), interleaved over L banks (token i in bank i mod L): softmax adds to L "
                                 "consecutive tokens per cycle, ranking compares L of them with one candidate, read "
                                 "from the second copy", banks=L, distributed=True),
        "token_lists": BufferSpec(16, _words(T, 1), 1, "the kept tokens in rank order and the dropped ones, a "
                                  "memory each: one entry written per ranked candidate, one read per copied or fused "
                                  "token", banks=2, distributed=True),
        "fused_sums": BufferSpec(52, _words(C, L), 1, "the fused token's weighted sums (52 bits, as the vector "
                                 "lanes take them), interleaved over L banks: L consecutive channels read and "
                                 "written per cycle", banks=L, distributed=True),
    }
    if linears and strips > 1:  # strips 2.. read their own kept columns of the linears' inputs from copies of those
        plan["activation_strips"] = BufferSpec(8, max(2, strip_depth), strips - 1,
                                               "the matrices the linears read, banked like the activations: one "
                                               "copy per TN/R strip after the first", banks=act.banks)
    return plan
