"""FPGA resources and composition: the engine's buffers synthesised by Yosys into BRAM/URAM (fpga/rtl/vit_buffers.v)
and used by the board-fit check, and a slice of a model whose weights stream from DDR streaming too (the slice
benchmarks/fpga.py simulates to compose DeiT-S). Uses vit_nano_patch4_28 and the tiny engine of test_fpga.py."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from vitsdk.errors import UserError
from vitsdk.fpga import quant as Q
from vitsdk.fpga.blocksparse import BlockShape
from vitsdk.fpga.boards import BRAM36_BYTES, get_board
from vitsdk.fpga.engine import EngineConfig
from vitsdk.fpga.extract import calibrate, extract
from vitsdk.fpga.program import compile_program, cycle_model
from vitsdk.models import create_model

BLOCK = BlockShape(8, 16)
TINY = EngineConfig(tokens=4, outputs=8, lanes=4)


@pytest.fixture(scope="module")
def nano():
    """vit_nano (seeded random weights: resources and cycles depend on shapes only) dropping tokens at keep 0.7."""
    torch.manual_seed(0)
    model = create_model("vit_nano_patch4_28", keep_rate=0.7).eval()
    images = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    fv, ranges = extract(model), calibrate(model, images)
    return fv, ranges, Q.quantize(fv, ranges), images


def test_yosys_maps_buffers_to_block_ram_and_ultraram():
    """One copy of a buffer is a RAM Yosys maps to RAMB18E2/RAMB36E2 (ULTRA=0) or URAM288 (ULTRA=1) on xcup and
    to RAMB18E1/RAMB36E1 on xc7: 4096 x 9 bits is one RAMB36 worth, 8192 x 72 two URAM288 (4K x 72 each); the
    true dual-port bank (PORTS=2: two reads in a cycle) is one RAMB36 as well, its second port the RAM's own. A
    memory Yosys left in LUTs or flip-flops counts no BRAM, a second port built as a second RAM counts two: both
    fail here. A distributed bank (the small selection memories) is LUT RAM: 25 x 32 bits is three RAM32M16
    (eight LUTs each, 14 bits of 32 words) and the read register's 32 flip-flops, no block RAM; counting a
    RAM32M16 as one LUT, as before, fails here too."""
    from vitsdk.fpga.buffer_plan import BufferSpec
    from vitsdk.fpga.synth import resources_of, synthesize_buffers
    jobs = {"bram": (BufferSpec(9, 4096, 1, "test"), False), "uram": (BufferSpec(72, 8192, 1, "test"), True),
            "tdp": (BufferSpec(9, 4096, 1, "test", ports=2), False),
            "lutram": (BufferSpec(32, 25, 1, "test", distributed=True), False)}
    cells, _ = synthesize_buffers(jobs, "xcup")
    assert cells["lutram"].get("RAM32M16") == 3
    assert resources_of(cells["lutram"]) == resources_of({"LUT6": 24, "FDRE": 32})
    assert resources_of(cells["bram"]).bram36 == 1.0 and resources_of(cells["bram"]).uram == 0
    assert resources_of(cells["tdp"]).bram36 == 1.0 and resources_of(cells["tdp"]).lut == 0
    assert cells["uram"].get("URAM288") == 2 and resources_of(cells["uram"]).bram36 == 0
    old, _ = synthesize_buffers({"bram": jobs["bram"]}, "xc7")
    assert resources_of(old["bram"]).bram36 == 1.0 and any(name.endswith("E1") for name in old["bram"])


def test_a_yosys_timeout_is_one_user_error_and_caches_nothing():
    """Yosys stopped by its timeout (a real run given 0.05 s) is a UserError naming what it synthesised, not a
    RuntimeError traceback, and leaves no cache entry (the same spec times out again)."""
    from vitsdk.fpga.buffer_plan import BufferSpec
    from vitsdk.fpga.synth import synthesize_buffers
    jobs = {"odd": (BufferSpec(13, 77, 1, "test"), False)}
    for _ in range(2):
        with pytest.raises(UserError, match=r"yosys did not finish the buffers in 0 s"):
            synthesize_buffers(jobs, "xc7", timeout_s=0.05)


def test_engine_bram_is_the_sum_of_the_synthesised_buffers_and_refuses_a_small_part(nano):
    """engine_resources' BRAM36 is Yosys' count of every buffer times its copies (not bytes / 4608); a part
    with fewer BRAM36 than that is refused by the fit check with the count."""
    from vitsdk.fpga.buffer_plan import buffer_plan
    from vitsdk.fpga.synth import check_fit, engine_resources
    _, _, qv, _ = nano
    program = compile_program(qv, BLOCK, TINY)
    board = get_board("zcu102")  # no UltraRAM: every buffer is in BRAM
    report = engine_resources(program, board)
    buffers = report["buffers"]["buffers"]
    assert set(buffers) == set(buffer_plan(program))
    assert report["total"]["bram36"] == sum(b["each"]["bram36"] * b["banks"] * b["copies"]
                                            for b in buffers.values()) > 0
    assert all(b["in"] == "bram" for b in buffers.values()) and report["total"]["uram"] == 0
    # the activations are int8 banks, skewed over max(TM=4, L=4, TN=8) = 8 (QK^T's B operand reads TN tokens of
    # a column), one copy for TN/R = 1 strip, true dual port: QK^T reads Q (A) and K (B) in the same cycle
    activations = buffers["activations"]
    assert (activations["width"], activations["banks"], activations["copies"], activations["ports"]) == (8, 8, 1, 2)
    # counted by hand: the exp table, 16 bits x 256 = 4 Kbit, is one RAMB18 (18 Kbit, half a BRAM36) per copy,
    # one copy per vector lane (L=4)
    exp = buffers["exp_table"]
    assert (exp["width"], exp["depth"], exp["copies"]) == (16, 256, 4) and exp["each"]["bram36"] * 4 == 4 * 0.5
    small = replace(board, bram_bytes=int(report["total"]["bram36"] - 1) * BRAM36_BYTES)
    refused = engine_resources(program, small)
    assert not refused["fits"] and any(o.startswith("bram36 ") for o in refused["over"])
    with pytest.raises(UserError, match=r"bram36 .* > .*\(Yosys count\)"):
        check_fit(refused, small, "the engine")


def test_the_sequencer_is_the_simulated_engine_synthesised_with_its_units_as_black_boxes(nano):
    """synthesize_control synthesises vit_engine.v itself (the module Verilator runs) with the MAC array, the lanes
    and the shared unit as black boxes and the buffers cut out at their ports. Every unit instance survives to the
    end: a unit whose outputs reached no buffer port would be optimised away with the logic that feeds it, and the
    count would miss it. No buffer became RAM or flip-flops (the activation buffer alone has more bits than the
    count has flip-flops). engine_resources adds the sequencer once to the units' and the buffers' counts."""
    from vitsdk.fpga.synth import engine_resources, synthesize_control
    _, _, qv, _ = nano
    program = compile_program(qv, BLOCK, TINY)
    parameters = program.parameters()
    res, cells, _ = synthesize_control(parameters, "xcup")
    assert (cells["vit_mac_array"], cells["vit_shared_units"]) == (1, 1)
    assert (cells["vit_epilogue_lane"], cells["vit_vector_lane"]) == (TINY.tokens, TINY.lanes)
    assert res.bram36 == res.uram == 0 and res.lut > 0 and 0 < res.ff < 8 * parameters["AW"]
    report = engine_resources(program, get_board("zcu102"))
    units = report["units"]
    assert units["sequencer"] == {"copies": 1, "each": res.to_dict()}
    for key in ("dsp", "lut", "ff", "carry"):
        assert report["total"][key] == (sum(u["each"][key] * u["copies"] for u in units.values())
                                        + report["buffers"]["total"][key])


def test_every_memory_cut_from_the_sequencer_is_counted_by_the_buffer_plan(nano):
    """The sequencer's count cuts every memory out of vit_engine.v; each must be counted by the buffer plan. Yosys
    lists the memories it cuts (a memory added to the engine without a plan entry fails here, as the CLS scores,
    token lists, fused-token sums and logits did when the plan left them out), and a program that selects tokens,
    with TN/R = 2 strips, gets every entry: the cut memories' ones and the strips' activation copies. The CLS
    scores are L banks of ceil(TMAX / L) words, two copies (the candidate ranking compares with L of them)."""
    from vitsdk.fpga.buffer_plan import ENGINE_BUFFERS, buffer_plan
    from vitsdk.fpga.synth import cut_memories
    _, _, qv, _ = nano
    program = compile_program(qv, BLOCK, replace(TINY, outputs=16))
    assert cut_memories(program.parameters()) == sorted(ENGINE_BUFFERS)
    plan = buffer_plan(program)
    assert set(plan) == set(ENGINE_BUFFERS.values()) | {"activation_strips"}
    scores, T = plan["cls_scores"], program.sizes["TMAX"]
    assert (scores.banks, scores.depth, scores.copies) == (TINY.lanes, -(-T // TINY.lanes), 2)
    assert plan["logits"].depth == max(2, program.sizes["OW"]) and plan["fused_sums"].banks == TINY.lanes
    small = {"logits", "cls_scores", "token_lists", "fused_sums"}  # LUT RAM, as a board build places them
    assert {name for name, spec in plan.items() if spec.distributed} == small


def test_a_model_that_cannot_stream_names_its_largest_linear(nano):
    """A weight buffer too small for two of the largest sections is refused with the sizes and the linear that
    needs the most (it named the first linear, the patch embedding, the smallest of vit_nano's)."""
    from vitsdk.fpga.weight_image import WEIGHT_BUFFERS
    _, _, qv, _ = nano
    fits = compile_program(qv, BLOCK, TINY)
    sections = {layer["name"]: sum(layer[key] for key in WEIGHT_BUFFERS.values()) for layer in fits.layers}
    largest = max(sections.values())
    assert sections["patch_embed"] < largest  # the old message's layer
    with pytest.raises(UserError, match=r"cannot run on this engine even when streaming: .* \(the largest linear: "
                                        r"(\S+), ") as err:
        compile_program(qv, BLOCK, replace(TINY, weight_buffer_bytes=largest))
    assert sections[err.value.args[0].split("largest linear: ")[1].split(",")[0]] == largest
    assert "\n" not in str(err.value)


def test_a_model_that_cannot_stream_is_refused_before_calibration(monkeypatch, tmp_path):
    """Whether the weights can stream depends on their int8 block-sparse sections alone, so export_fpga refuses
    such a model before calibrating on every image and running the integer overflow check (minutes for
    DeiT-S/B: the refusal came only after them), and writes nothing."""
    import vitsdk.fpga.export as fpga_export
    from vitsdk.errors import DoesNotFit

    def not_reached(*args, **kwargs):
        raise AssertionError("the overflow check ran before the fit was known")

    monkeypatch.setattr(fpga_export.Q, "overflow_report", not_reached)
    torch.manual_seed(0)
    model = create_model("vit_nano_patch4_28").eval()
    out = tmp_path / "project"
    with pytest.raises(DoesNotFit, match=r"cannot run on this engine even when streaming"):
        fpga_export.export_fpga(model, out, block_shape="8x16", engine={**vars(TINY), "weight_buffer_bytes": 4096},
                                synth=False, check=False)
    assert not out.exists()


@pytest.mark.parametrize("tokens,lanes", [(4, 2), (2, 4)])
@pytest.mark.parametrize("rows,cols", [(7, 5), (6, 8), (9, 3)])
def test_skewed_banking_serves_a_column_of_tokens_and_a_run_of_channels_in_one_cycle(tokens, lanes, rows, cols):
    """The skewed banking the plan counts for scores, probabilities, residual and activations (B = max(TM, L)
    banks): every TM consecutive rows of a column (the epilogue's write, the MAC array's read) and every L
    consecutive columns of a row (the vector unit) fall in distinct banks, and (bank, address) is one-to-one
    within the counted depth, onto it but for ceil(cols / B) * B - cols padding slots per row. Token banking
    (bank = row mod TM), the old plan's one wide word per L channels (bank = col mod L) or a depth of
    rows * cols / B would each fail here."""
    from vitsdk.fpga.buffer_plan import Skewed
    skew = Skewed(max(tokens, lanes))
    column_groups = [[(r + i, c) for i in range(tokens) if r + i < rows] for r in range(rows) for c in range(cols)]
    row_groups = [[(r, c + l) for l in range(lanes) if c + l < cols] for r in range(rows) for c in range(cols)]
    for group in column_groups + row_groups:
        banks = [skew.bank(r, c) for r, c in group]
        assert len(set(banks)) == len(banks), group
    depth = skew.depth(rows, cols)
    slots = {(skew.bank(r, c), skew.address(r, c, cols)) for r in range(rows) for c in range(cols)}
    assert len(slots) == rows * cols  # one-to-one
    assert all(0 <= bank < skew.banks and 0 <= address < depth for bank, address in slots)
    assert skew.banks * depth - len(slots) == rows * (skew.row_words(cols) * skew.banks - cols)
    assert depth == rows * -(-cols // skew.banks)


def test_activation_matrices_are_the_compiled_layout(nano):
    """The activation buffer's matrices read off vit_nano's instruction stream are the regions compile_program
    lays out (patches 49 x 16, LayerNorm output 50 x 32, q|k|v 50 x 96, attention output 50 x 32, MLP hidden
    50 x 64: 50 tokens with CLS, 32 channels), back to back and filling the buffer (AW)."""
    from vitsdk.fpga.buffer_plan import activation_matrices
    _, _, qv, _ = nano
    program = compile_program(qv, BLOCK, TINY)
    matrices = activation_matrices(program)
    assert [(rows, cols) for _, rows, cols in matrices] == [(49, 16), (50, 32), (50, 96), (50, 32), (50, 64)]
    ends = [start + rows * cols for start, rows, cols in matrices]
    assert [start for start, _, _ in matrices] == [0] + ends[:-1] and ends[-1] == program.sizes["AW"]


def test_strip_copies_hold_what_the_linears_read(nano):
    """With TN/R = 2 strips (TM=4, TN=16, L=4, rows of 8) the second strip reads its own kept column of each
    linear's input, so the matrices the linears read (patches, LayerNorm output, attention output, MLP hidden)
    get one more copy; q|k|v, which only QK^T and AV read from the first copy's two ports, does not. Counted by
    hand over max(4, 4, 16) = 16 skewed banks, ceil(columns / 16) words per row: 49 x 1 + 50 x 2 + 50 x 2 +
    50 x 4 = 449 words (the first copy: + 50 x 6 for q|k|v = 749)."""
    from vitsdk.fpga.buffer_plan import buffer_plan
    _, _, qv, _ = nano
    plan = buffer_plan(compile_program(qv, BLOCK, replace(TINY, outputs=16)))
    first, strips = plan["activations"], plan["activation_strips"]
    assert (first.banks, first.depth, first.copies, first.ports) == (16, 749, 1, 2)
    assert (strips.banks, strips.depth, strips.copies, strips.ports) == (16, 449, 1, 1)
    assert "activation_strips" not in buffer_plan(compile_program(qv, BLOCK, TINY))  # one strip: one copy


def test_score_and_residual_bram_is_the_hand_count_of_their_banks(nano):
    """Scores and residual of vit_nano (50 tokens, 32 channels) on TM=4, L=4 are max(TM, L) = 4 skewed banks.
    Counted by hand: a score bank holds 50 query rows of ceil(50 / 4) = 13 words of 32 bits (650 x 32 = 20.8
    Kbit > a RAMB18's 18 Kbit, within a RAMB36's 1K x 36: 1 BRAM36), four banks = 4 BRAM36; a residual bank
    holds two regions of 50 tokens x 32 / 4 = 8 words (800 words at the clamp width, 16 bits here: one RAMB18
    at 1K x 18, half a BRAM36), four banks = 2 BRAM36."""
    from vitsdk.fpga.synth import buffer_resources
    _, _, qv, _ = nano
    program = compile_program(qv, BLOCK, TINY)
    buffers = buffer_resources(program, get_board("zcu102"))["buffers"]
    scores, residual = buffers["scores"], buffers["residual"]
    assert (scores["width"], scores["depth"], scores["banks"], scores["copies"]) == (32, 650, 4, 1)
    assert scores["each"]["bram36"] * scores["banks"] == 4.0
    assert (residual["width"], residual["depth"], residual["banks"], residual["copies"]) == (16, 800, 4, 1)
    assert residual["each"]["bram36"] * residual["banks"] == 2.0


def test_buffers_move_to_ultraram_when_block_ram_is_short(nano):
    """On a part with UltraRAM (ZCU104) the weights go to URAM; with the BRAM cut below what the buffers need,
    more buffers move to URAM and the design fits again, by Yosys' counts in both placements."""
    from vitsdk.fpga.synth import engine_resources
    _, _, qv, _ = nano
    program = compile_program(qv, BLOCK, TINY)
    board = get_board("zcu104")
    roomy = engine_resources(program, board)
    assert roomy["buffers"]["buffers"]["weights"]["in"] == "uram" and roomy["total"]["uram"] > 0
    need = roomy["total"]["bram36"]
    short = replace(board, bram_bytes=int(need // 2) * BRAM36_BYTES)
    moved = engine_resources(program, short)
    in_uram = [name for name, b in moved["buffers"]["buffers"].items() if b["in"] == "uram"]
    assert len(in_uram) > 1 and moved["total"]["bram36"] <= need // 2 and moved["fits"]
    assert moved["total"]["uram"] > roomy["total"]["uram"]


def test_a_slice_of_a_streaming_model_streams_and_composes_its_ddr_bytes(nano, tmp_path):
    """The whole model streams its weights (weight buffer below its weights); the slice benchmarks/fpga.py
    simulates (embedding, blocks 1 and 2, head) would fit on chip alone but streams as well, in Verilator: DDR
    bytes = its input record and its weights, bit-exact logits, and the composed DDR bytes are the whole model's.
    Without slice_program the slice on the same engine would load its weights once (DDR bytes: the record only)."""
    from vitsdk.fpga import rtl
    from vitsdk.fpga.project import verified_files
    from vitsdk.fpga.quick_mode import composed, slice_of, slice_program
    fv, ranges, qv, images = nano
    probe = compile_program(qv, BLOCK, TINY)
    part_qv = Q.quantize(*slice_of(fv, ranges, [1, 2]))
    part_bytes = compile_program(part_qv, BLOCK, TINY).weight_bytes
    engine = replace(TINY, weight_buffer_bytes=(part_bytes + probe.weight_bytes) // 2, ddr_bytes_per_cycle=2.0)
    whole = compile_program(qv, BLOCK, engine)
    assert whole.streamed and not compile_program(part_qv, BLOCK, engine).streamed  # the case being fixed
    part = slice_program(whole, part_qv)
    assert part.streamed and part.config.tokens == engine.tokens and part.config.outputs == engine.outputs
    assert part_qv.tokens == [qv.tokens[1], qv.tokens[2], qv.tokens[3]]  # each block sees the whole's tokens
    files = verified_files(tmp_path, rtl.write_rtl(part, tmp_path))
    patches = Q.quantize_input(part_qv, images[:1].numpy())
    run = rtl.simulate(files, part.parameters(), patches)
    assert np.array_equal(run.logits, Q.forward_int(part_qv, patches))
    assert run.ddr_bytes[0] == part.record_bytes + part.weight_bytes and run.stall_cycles[0] > 0
    sim = {"cycles": run.cycles[0], "mac_cycles": run.mac_cycles[0], "stall_cycles": run.stall_cycles[0],
           "ddr_bytes": run.ddr_bytes[0]}
    whole_quick = cycle_model(whole)
    total = composed(whole_quick, cycle_model(part), sim)
    assert total["ddr_bytes"] == whole.record_bytes + whole.weight_bytes == whole_quick["ddr_bytes"]
    on_chip = slice_program(compile_program(qv, BLOCK, TINY), part_qv)  # the whole fits on chip: the slice too
    assert not on_chip.streamed and on_chip.config == TINY


def test_an_engine_that_does_not_fit_is_resized_to_fewer_token_lanes_unless_the_user_chose_them(nano):
    """`fitted` halves TM when design_for's engine does not fit the part (its resources say why), keeps the
    program's instructions, and leaves an engine whose token tile the user chose as it is (check_fit refuses
    it). A part with exactly the TM=4 engine's BRAM: TM=8 is too big, TM=4 fits."""
    from vitsdk.fpga.synth import engine_resources, fitted
    _, _, qv, _ = nano
    board = get_board("zcu102")
    small = compile_program(qv, BLOCK, TINY)  # TM = 4
    need = engine_resources(small, board)["total"]["bram36"]
    part = replace(board, bram_bytes=math.ceil(need) * BRAM36_BYTES)
    big = small.with_config(replace(TINY, tokens=8))
    assert not engine_resources(big, part)["fits"]
    program, resources = fitted(big, part, min_tokens=4)
    kept, refused = fitted(big, part, sized_by_user=True, min_tokens=4)
    assert program.config.tokens == 4 and resources["fits"] and program.instructions == big.instructions
    assert resources["resized"]["tokens"] == [8, 4] and "bram36" in resources["resized"]["why"]
    assert kept.config.tokens == 8 and not refused["fits"] and "resized" not in refused


def test_the_plan_counts_streamed_weights_as_their_double_buffers_and_on_chip_weights_whole(nano):
    """buffer_plan's weights (wmem), indices (xmem) and constants (kmem): when the model streams, two halves of
    the largest linear's section of each, counted by hand from the compiled layers' section bytes (not every
    linear's, which the engine no longer holds); on chip, every linear's. Indices are one bank per TN/R strip."""
    from vitsdk.fpga.buffer_plan import buffer_plan
    _, _, qv, _ = nano
    on_chip = compile_program(qv, BLOCK, replace(TINY, outputs=16))
    streamed = on_chip.with_config(replace(on_chip.config, weight_buffer_bytes=on_chip.weight_image_bytes // 3))
    assert streamed.streamed and not on_chip.streamed
    sections = {"weights": "value_bytes", "indices": "index_bytes", "constants": "constant_bytes"}
    for program, size in ((streamed, lambda key: 2 * max(layer[key] for layer in program.layers)),
                          (on_chip, lambda key: sum(layer[key] for layer in program.layers))):
        plan = buffer_plan(program)
        for name, key in sections.items():
            spec, need = plan[name], size(key)
            word = spec.width * spec.banks // 8  # bytes at one address across the banks
            assert need <= spec.bytes < need + word, (name, need, spec.bytes)
        assert plan["indices"].banks == 16 // BLOCK.rows


def test_a_region_reused_with_another_width_is_counted_once_at_its_largest():
    """A compacted model's MLP hidden width differs per block (the demo's: 36, 37, 34 channels), so the program
    writes the same activation region with other strides in other layers. activation_matrices returns each
    shape (it raised 'not a set of row-major matrices' and failed the demo's export), and region_depth counts
    the region once, at its largest shape's depth (the region holds one layer's matrix at a time), not the sum."""
    from types import SimpleNamespace

    from vitsdk.fpga.program import NF, OP_MM
    from vitsdk.fpga.buffer_plan import Skewed, activation_matrices, region_depth

    def linear(width: int) -> list[int]:  # 10 tokens x 16 inputs at 0 -> 10 tokens x `width` outputs at 200
        row = [0] * NF
        row[0], row[1], row[2], row[3], row[4] = OP_MM, 10, width, 16, (1 << 15) | (1 << 2)
        row[5], row[6], row[15], row[16] = 0, 16, 200, width
        return row

    program = SimpleNamespace(instructions=[linear(36), linear(37), linear(34)], input_shape=(10, 16))
    matrices = activation_matrices(program)
    assert sorted(matrices) == [(0, 10, 16), (200, 10, 34), (200, 10, 36), (200, 10, 37)]
    skew = Skewed(4)
    assert region_depth(matrices, skew) == skew.depth(10, 16) + skew.depth(10, 37)
    assert region_depth(matrices, skew) < sum(skew.depth(rows, cols) for _, rows, cols in matrices)


def test_a_compacted_model_gets_a_buffer_plan():
    """End to end for the case above: vit_nano pruned 16x16 at 50% and compacted has MLP hidden widths that
    differ per block (47, 47, 52, 49 with this seed), and its program's buffer plan is made (it raised, and
    the demo's `vitsdk export --target fpga` of its compacted model failed with it)."""
    from vitsdk.fpga.buffer_plan import buffer_plan
    from vitsdk.sparsity import BlockPruneConfig, compact, prune_
    torch.manual_seed(0)
    model = create_model("vit_nano_patch4_28", keep_rate=0.7).eval()
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    model = compact(model)
    widths = [block.mlp.fc1.weight.shape[0] for block in model.blocks]
    assert len(set(widths)) > 1
    images = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    qv = Q.quantize(extract(model), calibrate(model, images))
    plan = buffer_plan(compile_program(qv, BlockShape(16, 16), replace(TINY, outputs=16)))
    assert plan["activations"].depth >= 2 and plan["activations"].banks == 16
