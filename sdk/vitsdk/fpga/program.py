"""The engine's instruction stream: a quantised model compiled into instructions and buffer images
(`compile_program`), and the sequencer's timing rules applied to them (`cycle_model`, the quick mode).

One Verilog engine (fpga/rtl/) serves every model: the model is data. The instruction fields and flags
below are the ones `vit_engine.v` decodes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vitsdk.errors import DoesNotFit
from vitsdk.fpga.axi import BUFFERS
from vitsdk.fpga.blocksparse import BlockShape, encode
from vitsdk.fpga.engine import EngineConfig
from vitsdk.fpga.quant import QLinear, QNorm, QuantViT
from vitsdk.fpga.weight_image import DDR_ALIGN, WEIGHT_BUFFERS, index_run, section_bytes, weight_memories

NF = 26  # 64-bit words per instruction (vit_engine.v)
OP_END, OP_MM, OP_LN, OP_SM, OP_SEL, OP_START = 0, 1, 2, 3, 4, 5
# A weighted linear's field 8 (bsn, B's stride along the outputs) is its index run: strip s's kept column indices
# start at xbase + s * bsn (`index_run`).
# MM flags (vit_engine.v): bit 0 A from the probability buffer, 1 B dense from activations, 2 packed int8 pairs,
# 4-5 epilogue mode (0 raw, 1 int8, 2 residual add), 8-9 destination (0 act, 1 residual, 2 scores, 3 logits),
# 12 per-channel constants, 13 GELU table, 15 a weighted linear (streams from DDR when the engine's STREAM is set),
# 16 its weights sit in the upper halves of the double buffers (streaming), 17 the fetch it issues (the next linear's
# weights) goes into the upper halves. OP_START and each linear fetch the next linear's record of the weight image:
# field 20 its bytes (`next_bytes`), 23 its byte address (`next_addr`), 24 and 25 the bytes of its values and
# column-index sections (the constants section is the rest).
# OP_START also reads the input record (`Program.record_bytes`, at DDR address 0, before the weight image): field 1
# its address, 2 its bytes, 3 the bytes of its first section (the int8 patches, into amem from field 5); the rest is
# the CLS + position embedding, int32 into rmem from field 15 (vitsdk.fpga.axi.input_record).
FLAG_UPPER, FLAG_NEXT_UPPER = 1 << 16, 1 << 17
MODE_RAW, MODE_ACT, MODE_RES = 0, 1, 2
DST_ACT, DST_RES, DST_SCORE, DST_OUT = 0, 1, 2, 3



@dataclass
class Program:
    """One model on the engine: instructions, buffer images and the layout the simulator is built for."""

    config: EngineConfig
    block: BlockShape
    instructions: list[list[int]]
    memories: dict[str, np.ndarray]  # name -> flat integer image (hex file rtl/<name>.hex); the linears' weights
    # are wmem, xmem, kmem (loaded on chip) or "ddr", the weight image's bytes (streamed): `weight_memories`
    sizes: dict[str, int]  # Verilog parameters (buffer depths, TMAX, CMAX, NOUT); WW, XW, KW are `parameters()`'s
    layers: list[dict]  # per linear: name, tokens, strips, col_blocks, kept, its record's offset and section bytes
    weight_bytes: int  # the linears' values, indices and constants as wmem/xmem/kmem hold them: the weight image
    activation_bytes: int  # every buffer but the weights
    input_shape: tuple[int, int]  # (patches, patch values)
    classes: int

    @property
    def streamed(self) -> bool:
        """The weights stream from DDR (double-buffered) because they do not fit the weight buffer."""
        return self.weight_bytes > self.config.weight_buffer_bytes

    @property
    def record_input_bytes(self) -> int:
        """Bytes of the input record's first section: the int8 patches (`record_sizes`)."""
        return record_sizes(self.input_shape, self.sizes["TMAX"], self.sizes["CMAX"])[0]

    @property
    def record_bytes(self) -> int:
        """Bytes of the input record the engine reads from DDR at the start of every inference (`record_sizes`)."""
        return record_sizes(self.input_shape, self.sizes["TMAX"], self.sizes["CMAX"])[1]

    @property
    def weight_image_bytes(self) -> int:
        """Bytes of the weight image: every linear's record (values, column indices, constants, each section padded
        to DDR_ALIGN): what streaming reads from DDR per inference, and what wmem/xmem/kmem hold on chip."""
        return sum(layer["image_bytes"] for layer in self.layers)

    def held(self, per_linear: list[int]) -> int:
        """What a weight buffer holds of the linears' `per_linear` sizes: all of them when the weights are on chip,
        else the double buffer: two halves, each as large as the largest (linear j loads into half j % 2)."""
        return 2 * max(per_linear) if self.streamed else sum(per_linear)

    @property
    def weight_buffer_elements(self) -> dict[str, int]:
        """Elements of wmem, xmem and kmem (WW, XW, KW): what each holds (`held`) of the linears' sections."""
        return {name: self.held([layer[key] for layer in self.layers]) // (BUFFERS[name][1] // 8)
                for name, key in WEIGHT_BUFFERS.items()}

    @property
    def largest_layer_bytes(self) -> int:
        """Bytes of one half of the double buffers: the largest values, indices and constants sections (not
        necessarily of one linear: each buffer is sized for its own largest section)."""
        return sum(max(layer[key] for layer in self.layers) for key in WEIGHT_BUFFERS.values())

    @property
    def weight_buffer_need(self) -> int:
        """On-chip bytes of wmem, xmem and kmem: every linear's sections, or both halves when streaming."""
        return sum(n * BUFFERS[name][1] // 8 for name, n in self.weight_buffer_elements.items())

    @property
    def on_chip_bytes(self) -> int:
        return self.activation_bytes + self.weight_buffer_need

    def with_config(self, config: EngineConfig) -> "Program":
        """The same instruction stream on an engine of other sizes (the program does not depend on them)."""
        program = replace(self, config=config)
        program.memories = weight_memories(self.memories, self.layers, program.streamed)
        program.check()
        return program

    def check(self) -> None:
        cfg = self.config
        if self.block.rows < 2 or cfg.outputs % self.block.rows:
            raise DoesNotFit(f"engine outputs (TN={cfg.outputs}) must be a multiple of the block rows "
                            f"({self.block.rows}, at least 2): choose other engine sizes or another block shape")
        largest = self.largest_layer_bytes
        if self.streamed and self.weight_buffer_need > cfg.weight_buffer_bytes:
            sections = {layer["name"]: sum(layer[key] for key in WEIGHT_BUFFERS.values()) for layer in self.layers}
            widest = max(sections, key=sections.get)
            raise DoesNotFit(f"the model cannot run on this engine even when streaming: its largest values, "
                            f"column index and constant sections need {largest / 1e6:.2f} MB twice (double "
                            f"buffering) and the weight buffer has {cfg.weight_buffer_bytes / 1e6:.2f} MB (the "
                            f"largest linear: {widest}, {sections[widest] / 1e6:.2f} MB); prune it (vitsdk prune) "
                            f"or pick a board with more on-chip memory (--board)")

    def parameters(self) -> dict[str, int]:
        c = self.config
        num, den = _ratio(c.ddr_bytes_per_cycle)
        buffers = self.weight_buffer_elements
        return {"TM": c.tokens, "TN": c.outputs, "R": self.block.rows, "L": c.lanes, "DDR_NUM": num, "DDR_DEN": den,
                "DDR_LAT": c.ddr_latency, "DDR_W": c.ddr_beat_bytes, "REC_WORDS": self.record_bytes // c.ddr_beat_bytes,
                "REC_IN": self.record_input_bytes,
                "DDR_WORDS": (self.record_bytes + self.weight_image_bytes) // c.ddr_beat_bytes, "LN_LAT": c.ln_latency,
                "RECIP_LAT": c.recip_latency, "STREAM": int(self.streamed), **self.sizes,
                "WW": buffers["wmem"], "XW": buffers["xmem"], "KW": buffers["kmem"]}

    def summary(self) -> dict:
        """What rtl.json records to rebuild the program from its files (`load_program`)."""
        return {"block_shape": str(self.block), "sizes": self.sizes, "layers": self.layers,
                "weight_bytes": self.weight_bytes, "activation_bytes": self.activation_bytes,
                "input_shape": list(self.input_shape), "classes": self.classes}


def record_sizes(input_shape: tuple[int, int], tokens: int, channels: int) -> tuple[int, int]:
    """Bytes of the input record's patches section and of the whole record, which sits at DDR address 0 before the
    weight image: the int8 patches (`input_shape`), then the CLS + position embedding (`tokens` x `channels` int32),
    each padded to DDR_ALIGN."""
    patches = _ceil(input_shape[0] * input_shape[1], DDR_ALIGN) * DDR_ALIGN
    return patches, patches + _ceil(4 * tokens * channels, DDR_ALIGN) * DDR_ALIGN


def _ratio(value: float) -> tuple[int, int]:
    """bytes per cycle as num/den integers (thousandths)."""
    den = 1000
    return max(1, int(round(value * den))), den


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


class _Builder:
    def __init__(self, qv: QuantViT, block: BlockShape, config: EngineConfig) -> None:
        self.qv, self.block, self.cfg = qv, block, config
        self.prog: list[list[int]] = []
        self.w: list[np.ndarray] = []
        self.x: list[np.ndarray] = []
        self.k: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.g: list[np.ndarray] = []
        self.sizes = {"w": 0, "x": 0, "k": 0, "c": 0, "g": 0}
        self.image_bytes = 0  # the weight image so far
        self.layers: list[dict] = []
        self.mm_weighted: list[int] = []  # instruction indices of the linears (for streaming)

    def _put(self, kind: str, values: np.ndarray) -> int:
        base = self.sizes[kind]
        getattr(self, kind).append(np.asarray(values, dtype=np.int64).reshape(-1))
        self.sizes[kind] += int(np.asarray(values).size)
        return base

    def emit(self, op: int, **fields: int) -> None:
        names = {"M": 1, "N": 2, "K": 3, "flags": 4, "abase": 5, "astride": 6, "bbase": 7, "bsn": 8, "bsk": 9,
                 "xbase": 10, "kept": 11, "nblk": 12, "cbase": 13, "lutbase": 14, "dbase": 15, "dstride": 16,
                 "f17": 17, "f18": 18, "f19": 19, "next_bytes": 20, "lo": 21, "hi": 22, "next_addr": 23,
                 "next_values": 24, "next_indices": 25}
        row = [0] * NF
        row[0] = op
        for key, value in fields.items():
            row[names[key]] = int(value)
        self.prog.append(row)

    def linear(self, ql: QLinear, tokens: int, abase: int, astride: int, mode: int, dst: int, dbase: int,
               dstride: int, lut: int | None = None) -> None:
        bs = encode(ql.weight, self.block)
        constants = np.stack([(ql.bias & 0xFFFFFFFF) | ql.m.astype(np.int64) << 32, ql.shift], axis=1)
        run = index_run(bs.col_blocks, bs.kept)
        index = np.pad(bs.index.reshape(bs.strips, -1), ((0, 0), (0, run - bs.col_blocks * bs.kept)))
        (vbase, value_bytes), (xbase, index_bytes), (kbase, constant_bytes) = (
            self._section("w", bs.values, "wmem"), self._section("x", index, "xmem"),
            self._section("k", constants, "kmem"))
        sections = {"value_bytes": value_bytes, "index_bytes": index_bytes, "constant_bytes": constant_bytes}
        nbytes = sum(sections.values())
        self.layers.append({"name": ql.name, "tokens": tokens, "out": bs.out_features, "in": bs.in_features,
                            "strips": bs.strips, "col_blocks": bs.col_blocks, "kept": bs.kept,
                            "balanced": bs.balanced, "index_run": run, "weight_bytes": nbytes,
                            "image_offset": self.image_bytes,
                            "image_bytes": nbytes, **sections,
                            "macs": int(tokens * np.count_nonzero(ql.weight))})
        self.image_bytes += nbytes
        lo, hi = self.res_range
        flags = (1 << 2) | (mode << 4) | (dst << 8) | (1 << 12) | ((lut is not None) << 13) | (1 << 15)
        self.mm_weighted.append(len(self.prog))
        self.emit(OP_MM, M=tokens, N=bs.out_features, K=bs.col_blocks * bs.kept, flags=flags, abase=abase,
                  astride=astride, bbase=vbase, bsn=run, xbase=xbase, kept=bs.kept, nblk=bs.col_blocks,
                  cbase=kbase,
                  lutbase=lut or 0, dbase=dbase, dstride=dstride, f19=bs.strips, lo=lo, hi=hi)

    def _section(self, kind: str, values: np.ndarray, buffer: str) -> tuple[int, int]:
        """Puts one linear's section into its buffer, zero-padded to DDR_ALIGN bytes; returns its first element and
        its bytes."""
        values = np.asarray(values).reshape(-1)
        nbytes = section_bytes(values.size, buffer)
        return self._put(kind, np.pad(values, (0, nbytes // (BUFFERS[buffer][1] // 8) - values.size))), nbytes

    def dense(self, tokens: int, outputs: int, depth: int, abase: int, astride: int, bbase: int, bsn: int, bsk: int,
              a_probs: bool, mode: int, dst: int, dbase: int, dstride: int, m: int = 1, shift: int = 1) -> None:
        flags = int(a_probs) | (1 << 1) | ((not a_probs) << 2) | (mode << 4) | (dst << 8)
        self.emit(OP_MM, M=tokens, N=outputs, K=depth, flags=flags, abase=abase, astride=astride, bbase=bbase,
                  bsn=bsn, bsk=bsk, kept=1, nblk=1, dbase=dbase, dstride=dstride, f17=m, f18=shift)

    def norm(self, qn: QNorm, rows: int, src: int, dbase: int) -> None:
        C = self.qv.config.embed_dim
        cbase = self._put("c", np.concatenate([qn.gain, qn.offset]))
        self.emit(OP_LN, M=rows, N=C, abase=src, astride=C, dbase=dbase, dstride=C, cbase=cbase,
                  f17=self.qv.quant.ln_frac_bits, f18=qn.shift, f19=qn.eps_q)

    @property
    def res_range(self) -> tuple[int, int]:
        bits = self.qv.quant.residual_bits
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def compile_program(qv: QuantViT, block: BlockShape, config: EngineConfig) -> Program:
    """The instruction stream and buffer images of `qv` on an engine of `config`."""
    c = qv.config
    C, D = c.embed_dim, c.head_dim
    N, T0 = c.num_patches, 1 + c.num_patches
    Pdim = c.in_chans * c.patch_size ** 2
    widest_qkv = max(b.qkv.weight.shape[0] for b in qv.blocks)
    widest_av = widest_qkv // 3
    hidden = max(b.fc1.weight.shape[0] for b in qv.blocks)
    # activation buffer regions (int8): input patches, LayerNorm output, q|k|v, attention output, MLP hidden
    IN, LN = 0, N * Pdim
    QKV = LN + T0 * C
    AV = QKV + T0 * widest_qkv
    HID = AV + T0 * widest_av
    AW = HID + T0 * hidden
    RA, RB = 0, T0 * C  # residual regions (token selection copies from one to the other)
    b = _Builder(qv, block, config)
    start = len(b.prog)
    b.emit(OP_START, abase=IN, dbase=RA)  # the input record's address and sizes: below, once its size is known
    b.linear(qv.patch, N, IN, Pdim, MODE_RES, DST_RES, RA + C, C)
    cur, other, tokens = RA, RB, T0
    for blk in qv.blocks:
        H = blk.qkv.weight.shape[0] // (3 * D)
        HD = H * D
        b.norm(blk.ln1, tokens, cur, LN)
        b.linear(blk.qkv, tokens, LN, C, MODE_ACT, DST_ACT, QKV, 3 * HD)
        for h in range(H):
            b.dense(tokens, tokens, D, QKV + h * D, 3 * HD, QKV + HD + h * D, 3 * HD, 1, False, MODE_RAW, DST_SCORE,
                    0, tokens)
            flags = (int(blk.keep is not None)) | (int(blk.keep is not None and h == 0) << 1)
            b.emit(OP_SM, M=tokens, N=tokens, flags=flags, abase=0, dbase=0, f17=blk.score_m, f18=blk.score_shift,
                   f19=qv.quant.prob_bits)
            b.dense(tokens, D, tokens, 0, tokens, QKV + 2 * HD + h * D, 1, 3 * HD, True, MODE_ACT, DST_ACT,
                    AV + h * D, HD, blk.av_m, blk.av_shift)
        b.linear(blk.proj, tokens, AV, HD, MODE_RES, DST_RES, cur, C)
        if blk.keep is not None:
            b.emit(OP_SEL, M=tokens, N=C, K=blk.keep, flags=int(blk.fuse), abase=cur, dbase=other)
            cur, other = other, cur
            tokens = blk.tokens_after(tokens)
        b.norm(blk.ln2, tokens, cur, LN)
        lut = b._put("g", blk.gelu)
        width = blk.fc1.weight.shape[0]
        b.linear(blk.fc1, tokens, LN, C, MODE_ACT, DST_ACT, HID, width, lut=lut)
        b.linear(blk.fc2, tokens, HID, width, MODE_RES, DST_RES, cur, C)
    b.norm(qv.norm, 1, cur, LN)
    classes = qv.head.weight.shape[0]
    b.linear(qv.head, 1, LN, C, MODE_RAW, DST_OUT, 0, classes)
    b.emit(OP_END)

    # The weight fetch chain: START fetches linear 0 into half 0, linear j (weights in half j % 2) fetches linear
    # j + 1 into the other half while it computes. Unused when the weights are on chip (bbase addresses them).
    fetchers = [0, *b.mm_weighted]
    for j, index in enumerate(b.mm_weighted):
        b.prog[index][4] |= FLAG_UPPER if j % 2 else 0
    patches, record = record_sizes((N, Pdim), T0, C)
    b.prog[start][1], b.prog[start][2], b.prog[start][3] = 0, record, patches
    for j, index in enumerate(fetchers[:len(b.layers)]):
        layer, row = b.layers[j], b.prog[index]
        row[20], row[23] = layer["image_bytes"], record + layer["image_offset"]  # the weights follow the record
        row[24], row[25] = layer["value_bytes"], layer["index_bytes"]
        row[4] |= FLAG_NEXT_UPPER if j % 2 else 0

    memories = {
        "wmem": np.concatenate(b.w), "xmem": np.concatenate(b.x), "kmem": np.concatenate(b.k),
        "cmem": np.concatenate(b.c),
        "glut": np.concatenate(b.g) if b.g else np.zeros(256, dtype=np.int64),
        "elut": qv.exp_lut.astype(np.int64),
        "rmem": np.concatenate([qv.embed.reshape(-1), np.zeros(T0 * C, dtype=np.int64)]),
        "prog": np.array(b.prog, dtype=object).reshape(-1),
    }
    sizes = {"AW": AW, "PW": T0 * T0, "SW": T0 * T0, "RW": 2 * T0 * C,
             "CW": memories["cmem"].size, "GW": memories["glut"].size,
             "OW": classes, "QW": memories["prog"].size, "TMAX": T0, "CMAX": C, "NOUT": classes}
    activation_bytes = AW + 6 * T0 * T0 + 6 * T0 * C  # int8 regions, scores + probabilities, two 24-bit residuals
    program = Program(config, block, b.prog, memories, sizes, b.layers,
                      int(sum(layer["weight_bytes"] for layer in b.layers)), int(activation_bytes), (N, Pdim), classes)
    program.memories = weight_memories(memories, b.layers, program.streamed)
    program.check()
    return program


# ---- the quick mode: the sequencer's cycle rules applied to the instruction stream ----

def fetch_cycles(config: EngineConfig, nbytes: int) -> int:
    """Cycles from the engine's request of `nbytes` (cycle t: an input record or a streamed linear's weights) until
    what needs them may start (the first instruction, the streamed layer): the testbench's DDR
    model delivers beat i (DDR_W bytes) in cycle t + DDR_LAT + ceil((i + 1) * DDR_W / bandwidth), one beat per
    cycle at most, the engine writes it into its buffer at the end of that cycle and sees the fetch complete one
    cycle later."""
    num, den = _ratio(config.ddr_bytes_per_cycle)
    width = config.ddr_beat_bytes
    beats = nbytes // width
    last = max(_ceil(beats * width * den, num), _ceil(width * den, num) + beats - 1)
    return config.ddr_latency + last + 2


def cycle_model(program: Program) -> dict:
    """Cycles of one inference by the engine's own timing rules (vit_engine.v state by state: fetch, matmul
    tiles with the epilogue draining behind them, LayerNorm/softmax/selection passes of L lanes, the weight
    fetch chain against the testbench's DDR model), without simulating data. Token selection's fused-token
    pass counts every dropped token. Returns cycles, MAC-busy cycles, stall cycles and DDR bytes, like the
    simulator's counters."""
    cfg = program.config
    TM, TN, L = cfg.tokens, cfg.outputs, cfg.lanes
    cycles = mac = stall = ddr = 0
    fetch_ready = 0  # when the last weight request has fully arrived
    for row in program.instructions:
        op, M, N, K, flags = row[0], row[1], row[2], row[3], row[4]
        cycles += 1  # fetch
        if op == OP_START:  # the input record, requested in the fetch cycle; S_LOAD waits for it
            ready = cycles - 1 + fetch_cycles(cfg, row[2])
            stall += max(0, ready - cycles)
            cycles = max(ready, cycles)
            ddr += row[2]
            if program.streamed and row[20]:  # then S_LOAD's last cycle requests the first linear's weights
                fetch_ready = cycles + fetch_cycles(cfg, row[20])
                ddr += row[20]
            cycles += 1
        elif op == OP_MM:
            if program.streamed and flags >> 15 & 1:
                if cycles < fetch_ready:
                    stall += fetch_ready - cycles
                    cycles = fetch_ready
                if row[20]:
                    fetch_ready = cycles + fetch_cycles(cfg, row[20])
                    ddr += row[20]
            cycles += 1  # init
            steps = K * (1 if flags >> 2 & 1 else 2)
            previous = 0
            for _ in range(_ceil(M, TM)):
                for nt in range(0, N, TN):
                    wait = max(0, previous - steps)
                    cycles += steps + 1 + wait
                    stall += wait
                    mac += steps
                    previous = min(TN, N - nt)
            cycles += previous + 1  # flush: the last tile drains
        elif op == OP_LN:
            cycles += M * (2 * _ceil(N, L) + cfg.ln_latency)
        elif op == OP_SM:
            cycles += M * (3 * _ceil(N, L) + cfg.recip_latency)
        elif op == OP_SEL:
            n = M - 1
            cycles += n * _ceil(n, L) + (K + 1) * _ceil(N, L)
            if flags & 1:
                cycles += (n - K) * _ceil(N, L) + cfg.recip_latency + _ceil(N, L)
    return {"cycles": cycles, "mac_cycles": mac, "stall_cycles": stall, "ddr_bytes": ddr}
