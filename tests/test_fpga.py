"""FPGA path: integer primitives, block-sparse layout, quantisation, the generated project and its RTL engine
(simulated in Verilator: bit-exact against the numpy integer reference, also as the AXI4-Lite IP the board
runs), overflow reporting, the estimator and the results documents. Uses the tiny vit_nano_patch4_28 (trained on Fashion-MNIST when the fixture
checkpoint is present) so everything runs in seconds."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import vitsdk.fpga as F
from vitsdk.errors import UserError
from vitsdk.fpga import intops
from vitsdk.fpga import quant as Q
from vitsdk.fpga.blocksparse import BlockShape, encode
from vitsdk.fpga.extract import calibrate, extract
from vitsdk.models import create_model, load_model

FIXTURES = Path(__file__).parent / "fixtures" / "fpga"
TRAINED = FIXTURES / "vit_nano_fmnist.safetensors"


def nano(**overrides) -> torch.nn.Module:
    """The trained fixture model when present (real attention patterns), else a seeded random one."""
    if TRAINED.exists():
        return load_model(TRAINED, **overrides).eval()
    torch.manual_seed(0)
    return create_model("vit_nano_patch4_28", **overrides).eval()


@pytest.fixture(scope="module")
def fmnist():
    from vitsdk.data import load_dataset
    data = load_dataset("fashion-mnist", "test").subset(300, seed=1)
    c = nano().config
    return data.to_tensor(c.img_size, c.in_chans, c.mean, c.std), data.labels


# A tiny engine (4 x 8 MACs, 4 vector lanes): one Verilator build serves every nano test; Yosys runs only in
# the synthesis tests (on single units), board-sized designs are for benchmarks/fpga.py.
TINY = {"tokens": 4, "outputs": 8, "lanes": 4}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fmnist):
    """vit_nano with token dropping at blocks 1 and 2, exported, RTL-simulated once for the module."""
    model = nano(keep_rate=0.7)
    out = tmp_path_factory.mktemp("fpga") / "project"
    return model, F.export_fpga(model, out, block_shape="8x16", reference=fmnist[0][:16], engine=TINY, synth=False)


# ---- integer primitives ----

def test_isqrt_is_exact_floor_sqrt():
    rng = np.random.default_rng(0)
    values = np.concatenate([np.arange(0, 300), rng.integers(0, 2**62, 2000), [2**62 - 1, 4**30, 4**30 - 1]])
    got = intops.isqrt(values.astype(np.int64))
    assert [int(g) for g in got] == [math.isqrt(int(v)) for v in values]


def test_multiplier_and_round_shift():
    real = np.array([1e-9, 3.7e-4, 0.5, 0.99, 123.0])
    m, shift = intops.multiplier(real)
    assert np.all(m < 2**31) and np.all(shift >= 1)
    assert np.allclose(m / np.exp2(shift.astype(float)), real, rtol=1e-8)
    # round half up with an arithmetic (floor) shift, like C++ on int64
    assert intops.round_shift(np.array([-3, -2, -1, 0, 1, 2, 3]), 1).tolist() == [-1, -1, 0, 0, 1, 1, 2]
    with pytest.raises(OverflowError):
        intops.multiplier(2.0**31)


@pytest.mark.parametrize("pct", [100.0, 99.99, 99.0, 90.0])
def test_calibration_percentile_equals_numpys_over_every_value_without_keeping_them(pct):
    """extract.Magnitudes keeps only the largest values a percentile needs (calibrating DeiT-S/B kept every
    activation of 256 images, tens of GB, and the export was killed for memory) and still gives exactly
    np.percentile's value over all of them, whatever the batches: a rank off by one or the wrong
    interpolation changes the bits."""
    from vitsdk.fpga.extract import Magnitudes
    rng = np.random.default_rng(int(pct * 100))
    for batches, size in ((1, 7), (3, 1000), (5, 20011)):
        parts = [np.abs(rng.standard_normal(size) * rng.uniform(0.1, 10)).astype(np.float32) for _ in range(batches)]
        kept = Magnitudes(pct, batches * size)
        for part in parts:
            kept.add(part)
        every = np.concatenate(parts).astype(np.float64)
        assert kept.value() == (every.max() if pct == 100.0 else np.percentile(every, pct))
        assert kept.top.size <= max(1, math.ceil((every.size - 1) * (1 - pct / 100)) + 2)
    with pytest.raises(RuntimeError, match="calibration saw 7 values where 8 were expected"):
        short = Magnitudes(pct, 8)
        short.add(parts[0][:7])
        short.value()


def test_softmax_is_a_distribution_and_ordered():
    scores = np.array([[100, 50, 0, -400], [0, 0, 0, 0]], dtype=np.int64)
    p = intops.softmax(scores, *[int(v[0]) for v in intops.multiplier(5.0)], 8, intops.exp2_lut())
    assert abs(int(p[0].sum()) - 256) <= 2 and p[1].tolist() == [64, 64, 64, 64]
    assert p[0, 0] > p[0, 1] > p[0, 2] >= p[0, 3]


def test_select_tokens_breaks_ties_to_the_lower_index():
    assert intops.select_tokens(np.array([[5, 9, 9, 1, 9]]), 3).tolist() == [[1, 2, 4]]


# ---- block-sparse layout ----

def test_encode_round_trips_and_measures_pruned_work():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, size=(48, 64))
    for s in range(0, 48, 16):  # balanced column pruning: 8 of 16 columns kept in every 16x16 block
        for b in range(0, 64, 16):
            w[s:s + 16, b + rng.permutation(16)[:8]] = 0
    bs = encode(w, BlockShape(16, 16))
    assert np.array_equal(bs.dense(), w)
    assert bs.kept == 8 and bs.balanced and bs.work_fraction == 0.5
    small = rng.integers(1, 5, size=(10, 20))
    dense = encode(small, BlockShape(4, 8))  # partial edge blocks are padded
    assert np.array_equal(dense.dense(), small) and dense.strips == 3 and dense.col_blocks == 3
    assert dense.work_fraction == pytest.approx(24 / 20)


@pytest.mark.parametrize("shape", ["3x16", "128x16", "16x12", "16x0", "16-16"])
def test_unsupported_block_shapes_are_user_errors(shape):
    with pytest.raises(UserError, match="block shape"):
        BlockShape.parse(shape)


# ---- the generated project ----

def test_rtl_matches_the_integer_reference_bit_for_bit(exported, fmnist):
    """The export's Verilator run compared its reference outputs; here 12 more images. The project holds the
    RTL design (engine, IP top, testbenches, buffer images), the weights and the board runner, and no HLS C++."""
    from vitsdk.fpga.rtl import simulate_project
    model, ex = exported
    assert ex.rtl is not None and len(ex.rtl.cycles) == 16  # export already compared its reference outputs
    patches = Q.quantize_input(ex.model, fmnist[0][16:28].numpy())
    result, _ = simulate_project(ex.path, ex.project, patches)
    reference = Q.forward_int(ex.model, patches)
    assert result.logits.dtype == np.int32 and np.array_equal(result.logits, reference)
    project = ex.path
    for rel in ("rtl/vit_engine.v", "rtl/vit_axi.v", "rtl/tb_vit_axi.v", "rtl/prog.hex", "rtl/rtl.json",
                "weights.bin", "weights.json", "board/run_board.py", "tb/inputs.bin"):
        assert (project / rel).is_file(), rel
    assert not list(project.glob("firmware")) and not (project / "build_prj.tcl").exists()
    assert ex.project["format"] == "vitsdk.fpga_project/2" and "csim_sources" not in ex.project
    assert ex.project["tokens_per_block"] == [50, 50, 36, 26, 26]


def test_an_hls_project_of_an_older_vitsdk_is_refused_with_how_to_export_again(tmp_path):
    import json
    (tmp_path / "project.json").write_text(json.dumps({"format": "vitsdk.fpga_project/1", "top": "vit_top"}))
    with pytest.raises(UserError, match=r"HLS C\+\+ project of an older vitsdk \(retired\): export the model again"):
        F.read_project(tmp_path)


@pytest.mark.parametrize("older", ["vitsdk.fpga_rtl/1", "vitsdk.fpga_rtl/2"])
def test_an_rtl_project_of_an_older_engine_is_refused(exported, tmp_path, monkeypatch, older):
    """rtl.json of format vitsdk.fpga_rtl/1 (each linear's record held its values only; its indices and constants sat
    in xmem/cmem, three cmem words per channel) or /2 (the engine computed LayerNorm's statistics and reciprocals in
    one combinational cycle; no vit_shared_units.v among its files): it does not run on this engine, so it is
    refused with "export it again" before anything is read from its files or built."""
    import json
    import shutil

    from vitsdk.fpga.project import RTL_FORMAT
    from vitsdk.fpga.rtl import simulate_project
    _, ex = exported
    copy = tmp_path / "copy"
    shutil.copytree(ex.path, copy)
    record = json.loads((copy / "rtl" / "rtl.json").read_text())
    assert record["format"] == RTL_FORMAT == "vitsdk.fpga_rtl/3"
    (copy / "rtl" / "rtl.json").write_text(json.dumps({**record, "format": older}))
    monkeypatch.setenv("VITSDK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match=r"rtl\.json was written by an older vitsdk .*: export the model again") as err:
        simulate_project(copy, ex.project)
    assert "\n" not in str(err.value) and not (tmp_path / "cache").exists()


def test_int_reference_agrees_with_fp32_within_quantisation_error(exported, fmnist):
    model, ex = exported
    images = fmnist[0][:80]
    ints = Q.forward_int(ex.model, Q.quantize_input(ex.model, images.numpy()))
    logits = Q.logits_float(ex.model, ints)
    assert np.array_equal(ints.argmax(1), logits.argmax(1))  # one head scale: the raw int32 logits rank classes
    with torch.no_grad():
        fp32 = model(images).double().numpy()
    spread = fp32.max(1) - fp32.min(1)
    assert np.median(np.abs(logits - fp32).max(1) / spread) < 0.1
    assert np.mean(logits.argmax(1) == fp32.argmax(1)) >= 0.9


@pytest.mark.skipif(not TRAINED.exists(), reason="needs the trained fixture (tests/fixtures/fpga/train_nano.py)")
def test_int8_accuracy_drop_on_fashion_mnist_is_small(fmnist):
    images, labels = fmnist
    model = nano()
    ex_model = Q.quantize(extract(model), calibrate(model, images[:200]))
    pred = Q.forward_int(ex_model, Q.quantize_input(ex_model, images.numpy())).argmax(1)
    with torch.no_grad():
        fp32 = model(images).argmax(1).numpy()
    drop = np.mean(fp32 == labels) - np.mean(pred == labels)
    assert drop <= 0.015, f"int8 accuracy drop {100 * drop:.1f} points on 300 images"


def test_pruned_artifact_exports_with_its_block_shape_and_stays_bit_exact(tmp_path, fmnist):
    from vitsdk.sparsity import BlockPruneConfig, prune_, save_pruned
    model = nano()
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    save_pruned(model, tmp_path / "pruned")
    ex = F.export_fpga(tmp_path / "pruned", tmp_path / "fpga", calibration=fmnist[0][:64], reference=fmnist[0][:4],
                       engine={**TINY, "outputs": 16}, synth=False)
    assert ex.project["block_shape"] == "16x16"
    fc1 = next(layer for layer in ex.project["layers"] if layer["name"] == "blocks.0.mlp.fc1")
    assert fc1["work_fraction"] == pytest.approx(0.5) and fc1["balanced"]
    assert np.array_equal(ex.rtl.logits, Q.forward_int(ex.model, Q.quantize_input(ex.model, fmnist[0][:4].numpy())))



def test_masked_model_from_prune_exports_with_its_block_shape(tmp_path, fmnist):
    """A model pruned in memory (no artifact folder) brings its block shape through its recorded prune history."""
    from vitsdk.sparsity import BlockPruneConfig, prune_
    model = nano()
    prune_(model, BlockPruneConfig(block_shape=(8, 16), ratio=0.5))
    ex = F.export_fpga(model, tmp_path / "fpga", calibration=fmnist[0][:32], reference=fmnist[0][:2], engine=TINY,
                       synth=False, check=False)
    assert ex.project["block_shape"] == "8x16"


# ---- bad input ----

def test_fixed_point_overflow_is_reported_per_layer(fmnist):
    model = nano()
    with torch.no_grad():
        model.blocks[1].mlp.fc2.bias[3] = 1e9
    with pytest.raises(UserError, match=r"fixed-point overflow: .*blocks\.1\.mlp\.fc2: bias"):
        Q.quantize(extract(model), calibrate(model, fmnist[0][:32]))
    model = nano()  # ranges calibrated on dim images, then run on real ones: saturation, named per layer
    qv = Q.quantize(extract(model), calibrate(model, fmnist[0][:32] * 0.2))
    report = Q.overflow_report(qv, fmnist[0][:32].numpy())
    assert report["input"]["saturated"] > 0
    with pytest.raises(UserError, match=r"fixed-point overflow: input: .*% of outputs saturate"):
        Q.check_overflow(report, 0.01)
    Q.check_overflow(Q.overflow_report(qv, fmnist[0][:32].numpy() * 0.2), 0.01)


@pytest.mark.parametrize("setting,fits,over", [("residual_bits", 17, 18), ("prob_bits", 14, 15)])
def test_quantisation_the_engines_lanes_cannot_carry_is_refused(setting, fits, over):
    """The lanes carry a 17-bit LayerNorm std (residual values of 17 bits at most) and divide softmax rows by a
    reciprocal that is exact up to prob_bits 14: one bit more is a UserError that names the limit, not an export
    that fails its own bit-exact check."""
    assert getattr(Q.QuantConfig(**{setting: fits}), setting) == fits
    with pytest.raises(UserError, match=rf"{setting} must be in \d+\.\.{fits} .*got {over}"):
        Q.QuantConfig(**{setting: over})


def test_unsupported_model_options_are_user_errors():
    with pytest.raises(UserError, match="attention sparsity"):
        extract(create_model("vit_nano_patch4_28", attn_keep=0.5))


def test_artifact_with_a_block_the_engine_cannot_map_is_refused(tmp_path):
    from vitsdk.sparsity import BlockPruneConfig, prune_, save_pruned
    model = create_model("vit_nano_patch4_28")
    prune_(model, BlockPruneConfig(block_shape=(0, 16), ratio=0.5))  # 0: blocks as tall as each layer
    save_pruned(model, tmp_path / "pruned")
    with pytest.raises(UserError, match=r"pruning block .*pass an engine block shape"):
        F.export_fpga(tmp_path / "pruned", tmp_path / "fpga", check=False)
    assert not (tmp_path / "fpga").exists()


def test_converter_interface_refuses_float_precisions(tmp_path):
    with pytest.raises(UserError, match="int8 only"):
        F.to_fpga(create_model("vit_nano_patch4_28"), (torch.zeros(1, 1, 28, 28),), tmp_path / "fpga", "fp32")


def test_bench_without_a_project_says_how_to_make_one(tmp_path):
    with pytest.raises(UserError, match="no FPGA project"):
        F.bench_fpga(tmp_path)


def test_manifest_path_outside_the_bundle_is_refused(tmp_path):
    """A bundle whose manifest names an FPGA project that resolves outside the bundle (here through a symlink,
    which the schema's path pattern cannot see) is refused before anything is read there, even though a
    valid-looking project.json waits at that path: the manifest goes through formats.manifest.Bundle."""
    import json
    import shutil

    outside = tmp_path / "elsewhere"
    (outside / "vit_int8").mkdir(parents=True)
    (outside / "vit_int8" / "project.json").write_text(json.dumps({"format": "not-read"}))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "report" / "bundles" / "pruned" / "manifest.json", bundle)
    (bundle / "fpga").symlink_to(outside)  # the fixture's fpga entry is fpga/vit_int8
    with pytest.raises(UserError, match="points outside the bundle"):
        F.read_project(bundle)
    (bundle / "manifest.json").write_text(json.dumps({"files": [{"path": "fpga/vit_int8", "runtime": "fpga"}]}))
    with pytest.raises(UserError, match="manifest.json: not a vitsdk.manifest file"):
        F.read_project(bundle)  # a manifest without its version is refused too, not guessed at


# ---- estimator ----

def test_unknown_board_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown board 'zcu10'.*zcu102.*zcu104"):
        F.get_board("zcu10")
    assert {"zcu102", "zcu104", "kv260"} <= set(F.list_boards())


def test_the_ddr_stream_is_capped_at_one_beat_per_cycle_of_the_weight_port():
    """ZCU102: 60% of 19.2 GB/s at 300 MHz is 38.4 bytes/cycle, more than one 16-byte beat per cycle of the
    engine's weight port: design_for gives the port's 16, and the board's figure with a 64-byte port. A port width
    the weight image's layout does not serve is one error naming the valid ones. A bandwidth above one beat per
    cycle, the user's or the dataclass's, is refused naming both fields (the DDR models deliver one beat per cycle
    at most, so it would be recorded in the project but never simulated)."""
    from vitsdk.fpga.engine import EngineConfig, design_for
    block = BlockShape.parse("16x16")
    zcu102 = F.get_board("zcu102")
    assert design_for(zcu102, block).ddr_bytes_per_cycle == 16
    assert design_for(zcu102, block, ddr_beat_bytes=64).ddr_bytes_per_cycle == pytest.approx(38.4)
    with pytest.raises(UserError, match=r"ddr_beat_bytes must be one of 1, 2, 4, 8, 16, 32, 64.*got 24"):
        EngineConfig(ddr_beat_bytes=24)
    default = EngineConfig()
    assert default.ddr_bytes_per_cycle == default.ddr_beat_bytes == 16
    too_fast = r"ddr_bytes_per_cycle {} is more than its weight port carries \(ddr_beat_bytes {}: .*at most {}, or"
    with pytest.raises(UserError, match=too_fast.format(r"38\.4", 16, 16)):
        design_for(zcu102, block, ddr_bytes_per_cycle=38.4)
    with pytest.raises(UserError, match=too_fast.format(16, 8, 8)):
        EngineConfig(ddr_beat_bytes=8)  # the default bandwidth on a narrower port: the user lowers it too
    assert design_for(zcu102, block, ddr_beat_bytes=8).ddr_bytes_per_cycle == 8


def test_estimate_is_within_2x_of_heatvit_on_zcu102():
    """HeatViT (ZCU102, int8, 300 MHz, DeiT-S with token pruning): 9.15 ms at 10.7 W."""
    model = create_model("deit_small_patch16_224", keep_rate=0.7)
    est = F.estimate(model, "zcu102")
    assert 9.15 / 2 <= est.latency_ms <= 9.15 * 2
    assert 10.7 / 2 <= est.power_w <= 10.7 * 2
    assert not est.weights_on_chip  # 22 M int8 weights do not fit in the ZCU102's 4 MB of BRAM
    assert est.parameters["clock_mhz"] == 300.0 and est.parameters["macs_per_dsp"] == 2


def test_pruning_and_token_dropping_reduce_the_estimate():
    from vitsdk.sparsity import BlockPruneConfig, prune_
    dense = create_model("vit_micro_patch4_28")
    pruned = create_model("vit_micro_patch4_28")
    prune_(pruned, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    dropped = create_model("vit_micro_patch4_28", keep_rate=0.7)
    dropped.load_state_dict(pruned.state_dict(), strict=False)
    e = [F.estimate(m, "kv260", "16x16") for m in (dense, pruned, dropped)]
    assert e[0].latency_ms > e[1].latency_ms > e[2].latency_ms
    assert e[0].energy_mj > e[1].energy_mj > e[2].energy_mj
    assert e[1].weight_bytes < 0.6 * e[0].weight_bytes
    assert F.estimate(create_model("vit_nano_patch4_28"), "kv260").weights_on_chip


def test_bench_results_are_simulated_latency_and_estimated_energy(exported):
    from vitsdk.formats.results import RESULTS
    _, ex = exported
    result = F.bench_fpga(ex.path, "zcu102", synth=False)
    assert RESULTS.errors(result) == []
    lat, extra = result["latency"], result["runtime"]["extra"]
    assert lat["status"] == "simulated" and "Verilator" in lat["method"] and lat["cv"] is None
    assert lat["median_ms"] == pytest.approx(extra["cycles"] / 300e3)  # cycles at the stated 300 MHz
    assert result["energy"]["status"] == "estimated" and result["energy"]["energy_mj"] > 0
    assert result["energy"]["model_parameters"]["macs_issued"] == extra["mac_cycles"] * 32
    assert result["numerics"]["status"] == "pass" and result["numerics"]["tolerance"] == 0.0
    assert extra["macs_per_cycle"] <= extra["peak_macs_per_cycle"] == 32


def test_bench_counts_the_resources_of_a_bundle_exported_without_yosys(exported):
    """A bundle exported with synth=False records no resources, so `bench_fpga` counts them from the project's
    program (loaded from rtl/, with the tables and constants buffer_plan sizes by their values: before, the
    loaded program had none and the count died with a KeyError)."""
    from vitsdk.fpga.engine import design_for
    from vitsdk.fpga.program import compile_program
    from vitsdk.fpga.synth import engine_resources
    _, ex = exported
    assert ex.project["engine"]["resources"] is None
    extra = F.bench_fpga(ex.path, "zcu102")["runtime"]["extra"]
    board, block = F.get_board("zcu102"), BlockShape(8, 16)
    fresh = engine_resources(compile_program(ex.model, block, design_for(board, block, **TINY)), board)["total"]
    assert extra["fits"] is True
    assert (extra["yosys_bram36"], extra["yosys_lut"], extra["yosys_dsp"]) == (fresh["bram36"], fresh["lut"], fresh["dsp"])


# ---- honest labels: one simulated/estimated figure is not a distribution ----

def _single_figure_doc(exported, status: str) -> dict:
    from vitsdk.fpga.bench import single_figure_latency
    _, ex = exported
    doc = F.bench_fpga(ex.path, "zcu102", synth=False)
    doc["latency"] = single_figure_latency(1.25, status, "test figure")
    return doc


@pytest.mark.parametrize("status", ["simulated", "estimated"])
def test_schema_refuses_a_single_figure_dressed_up_as_a_distribution(exported, status):
    """Catches a writer that repeats one simulated/estimated figure as min/p99 with cv 0 and stable: true."""
    from vitsdk.formats.results import RESULTS
    doc = _single_figure_doc(exported, status)
    assert RESULTS.errors(doc) == []
    for key, fake in (("cv", 0.0), ("p99_ms", 1.25), ("min_ms", 1.25), ("runs", 1)):
        bad = {**doc, "latency": {**doc["latency"], key: fake}}
        assert RESULTS.errors(bad), key
    bad = {**doc, "latency": {**doc["latency"], "stability": {"stable": True, "drift": None}}}
    assert RESULTS.errors(bad)
    assert RESULTS.errors({**doc, "latency": {**doc["latency"], "status": "guessed"}})


def test_estimate_results_say_estimated_with_no_spread(exported):
    from vitsdk.fpga.bench import estimate_result
    _, ex = exported
    doc = estimate_result(F.estimate(create_model("vit_nano_patch4_28"), "zcu104"), F.get_board("zcu104"),
                          ex.project)
    lat = doc["latency"]
    assert lat["status"] == "estimated" and "quick mode" in lat["method"]
    assert lat["runs"] == 0 and lat["cv"] is None and lat["p99_ms"] is None and lat["stability"]["stable"] is None
    assert lat["median_ms"] > 0


def test_bench_table_and_report_mark_every_latency_cell(exported, tmp_path):
    """The `vitsdk bench` table and the report's Markdown say meas./sim./est. in each latency cell."""
    import json as _json

    from vitsdk.cli.bench import print_table
    from vitsdk.cli.console import console
    from vitsdk.report import build_report
    sim = _single_figure_doc(exported, "simulated")
    est = _single_figure_doc(exported, "estimated")
    est["latency"]["median_ms"] = 2.5
    with console.capture() as captured:
        print_table([(tmp_path / "a.json", sim), (tmp_path / "b.json", est)])
    text = captured.get()
    assert "1.25 (sim.)" in text and "2.5 (est.)" in text and "unstable" not in text
    results = tmp_path / "results"
    results.mkdir()
    for name, doc in (("sim.json", sim), ("est.json", est)):
        (results / name).write_text(_json.dumps(doc))
    build_report([results], tmp_path / "report.md")
    md = (tmp_path / "report.md").read_text()
    assert "1.25 ms (sim.)" in md and "2.5 ms (est.)" in md


# ---- the RTL engine (Verilator) and its resources (Yosys) ----

def test_rtl_is_bit_exact_with_the_fused_token_and_its_cycles_repeat(tmp_path, fmnist):
    """EViT's fused token at keep 0.7: the Verilator run of the engine equals forward_int bit for bit, the cycle
    count is identical between images and between two runs, and the quick mode (program.cycle_model) is within 10%."""
    from vitsdk.fpga.rtl import simulate_project
    from vitsdk.fpga.program import cycle_model
    model = nano(keep_rate=0.7, fuse_token=True)
    ex = F.export_fpga(model, tmp_path / "p", block_shape="8x16", calibration=fmnist[0][:64],
                       reference=fmnist[0][:4], engine=TINY, synth=False)
    assert ex.project["tokens_per_block"] == [50, 50, 37, 28, 28]  # CLS + kept + the fused token
    patches = Q.quantize_input(ex.model, fmnist[0][4:10].numpy())
    first, program = simulate_project(ex.path, ex.project, patches)
    second, _ = simulate_project(ex.path, ex.project, patches)
    assert np.array_equal(first.logits, Q.forward_int(ex.model, patches))
    assert len(set(first.cycles + second.cycles + ex.rtl.cycles)) == 1
    assert abs(cycle_model(program)["cycles"] / first.cycles[0] - 1) <= 0.10
    # weights on chip: DDR holds only the input record (patches, embedding), read once per inference
    assert first.mac_cycles[0] < first.cycles[0] and first.ddr_bytes[0] == program.record_bytes


def test_streamed_weights_stall_on_the_ddr_model_and_stay_exact(exported, fmnist):
    """A weight buffer smaller than the weights: every linear streams (double-buffered) at 1 byte/cycle, the
    simulated DDR bytes are the weights, stalls appear, the logits do not change, the quick mode follows."""
    from dataclasses import replace

    from vitsdk.fpga.rtl import simulate_project
    from vitsdk.fpga.engine import EngineConfig
    from vitsdk.fpga.program import cycle_model
    _, ex = exported
    engine = EngineConfig(**{k: ex.project["engine"][k] for k in EngineConfig.__dataclass_fields__})
    slow = replace(engine, weight_buffer_bytes=20000, ddr_bytes_per_cycle=1.0)
    patches = Q.quantize_input(ex.model, fmnist[0][:2].numpy())
    sim, program = simulate_project(ex.path, ex.project, patches, config=slow)
    assert program.streamed and sim.stall_cycles[0] > 0
    assert sim.ddr_bytes[0] == program.record_bytes + program.weight_image_bytes  # the input record, the weights
    assert np.array_equal(sim.logits, Q.forward_int(ex.model, patches))
    assert sim.cycles[0] > ex.rtl.cycles[0]
    quick = cycle_model(program)
    assert (quick["cycles"], quick["stall_cycles"]) == (sim.cycles[0], sim.stall_cycles[0])


def test_streamed_export_fetches_its_weights_through_the_ddr_port(tmp_path, fmnist):
    """Exported with a weight buffer below its weights: rtl/ ships the weight image as ddr.hex (no wmem/xmem/kmem.hex),
    each linear's record holds its values, column indices and per-channel constants (each section, and each block
    strip's indices, whole 64-byte blocks), and the engine holds none of them whole: wmem, xmem and kmem are double buffers whose halves are each
    as large as the largest such section (WW, XW, KW), and the fit check counts exactly those bytes. Every weight
    reaches the engine through its ddr_* port from the testbench's DDR model (at design_for's 16 bytes/cycle on the
    ZCU102: one 16-byte beat per cycle): bit-exact logits, DDR bytes = the image, cycles and stalls = the quick mode's.
    One byte changed in a values, an index or a constants section of the image changes the logits, so nothing
    reaches the engine another way. On an engine where the weights fit, the same project runs from wmem/xmem/kmem
    split out of its image, with the same logits."""
    from vitsdk.fpga.program import cycle_model
    from vitsdk.fpga.project import read_rtl, verified_files
    from dataclasses import replace

    from vitsdk.fpga.axi import ddr_hex
    from vitsdk.fpga.rtl import load_program, read_weight_image, simulate, simulate_project
    model = nano(keep_rate=0.7)
    ex = F.export_fpga(model, tmp_path / "p", block_shape="8x16", reference=fmnist[0][:2],
                       engine={**TINY, "weight_buffer_bytes": 20000}, synth=False)
    files = verified_files(ex.path, read_rtl(ex.path), ex.project["rtl_sha256"])
    program = load_program(read_rtl(ex.path), files)
    parameters, layers = program.parameters(), program.layers
    assert "ddr.hex" in files and parameters["STREAM"] == 1
    assert not {"wmem.hex", "xmem.hex", "kmem.hex"} & set(files)
    sections = ("value_bytes", "index_bytes", "constant_bytes")
    for layer in layers:
        assert all(layer[key] % 64 == 0 for key in sections) and layer["image_offset"] % 64 == 0
        assert layer["image_bytes"] == sum(layer[key] for key in sections)
        assert layer["constant_bytes"] == 16 * -(-layer["out"] // 4) * 4  # 16 bytes per output channel
        # each block strip's indices are whole 64-byte blocks: no beat holds two strips' (banked by strip)
        assert layer["index_run"] % 32 == 0 and layer["index_bytes"] == 2 * layer["strips"] * layer["index_run"]
    halves = {name: max(layer[key] for layer in layers) // size
              for name, key, size in (("WW", "value_bytes", 1), ("XW", "index_bytes", 2), ("KW", "constant_bytes", 8))}
    assert {name: parameters[name] for name in halves} == {name: 2 * n for name, n in halves.items()}
    held = parameters["WW"] + 2 * parameters["XW"] + 8 * parameters["KW"]  # the engine's on-chip weight bytes
    assert program.weight_buffer_need == held <= 20000 < program.weight_bytes == program.weight_image_bytes
    assert [work.weight_bytes for work in F.workload(model, "8x16").linears] == [n["image_bytes"] for n in layers]
    image = read_weight_image(files, layers)
    assert image.size == program.weight_image_bytes == (parameters["DDR_WORDS"] - parameters["REC_WORDS"]) * \
        parameters["DDR_W"]  # the DDR image: the input record, then the weight image
    patches = Q.quantize_input(ex.model, fmnist[0][2:4].numpy())
    sim = simulate(files, parameters, patches)
    assert np.array_equal(sim.logits, Q.forward_int(ex.model, patches))
    quick = cycle_model(program)
    assert sim.ddr_bytes[0] == program.record_bytes + image.size == quick["ddr_bytes"] and sim.stall_cycles[0] > 0
    assert (sim.cycles[0], sim.stall_cycles[0]) == (quick["cycles"], quick["stall_cycles"])
    assert len(set(sim.cycles)) == 1 and len(set(sim.ddr_bytes)) == 1  # the second image streams the same way
    on_chip, _ = simulate_project(ex.path, ex.project, patches,  # the image split into wmem/xmem/kmem again
                                  config=replace(program.config, weight_buffer_bytes=program.weight_bytes))
    assert np.array_equal(on_chip.logits, sim.logits) and on_chip.ddr_bytes[0] == program.record_bytes
    # the classifier's record: its first value and the first byte of its bias feed logit 0 only, its first kept
    # column index the logits of the first block strip (R = 8 classes)
    head, strip = layers[-1], program.block.rows
    values, indices = head["image_offset"], head["image_offset"] + head["value_bytes"]
    constants = indices + head["index_bytes"]
    for offset, flip, fed in ((values, 0x40, 1), (indices, 0x01, strip), (constants + 1, 0x10, 1)):
        broken = image.astype(np.int64)
        broken[offset] ^= flip
        (tmp_path / "ddr.hex").write_text(ddr_hex(broken, parameters["DDR_W"]))
        tampered = simulate({**files, "ddr.hex": tmp_path / "ddr.hex"}, parameters, patches)
        assert not np.array_equal(tampered.logits[:, 0], sim.logits[:, 0]), offset - head["image_offset"]
        assert np.array_equal(tampered.logits[:, fed:], sim.logits[:, fed:])  # only those classes read that byte


def test_a_streamed_engine_with_two_block_strips_reads_both_halves_right(fmnist, tmp_path):
    """TN = 16 with 8-row blocks: two strips each read their own kept column's index and values in the same
    cycle from the half the weight port filled (the other streamed tests have one strip). Bit-exact with
    forward_int, and the quick mode equals the simulation to the cycle."""
    from vitsdk.fpga.program import cycle_model
    from vitsdk.fpga.project import read_rtl, verified_files
    from vitsdk.fpga.rtl import load_program
    ex = F.export_fpga(nano(keep_rate=0.7), tmp_path / "p", block_shape="8x16", reference=fmnist[0][:2],
                       engine={**TINY, "outputs": 16, "weight_buffer_bytes": 20000}, synth=False)
    program = load_program(read_rtl(ex.path), verified_files(ex.path, read_rtl(ex.path), ex.project["rtl_sha256"]))
    assert program.streamed and program.config.outputs // program.block.rows == 2
    patches = Q.quantize_input(ex.model, fmnist[0][:2].numpy())
    assert np.array_equal(ex.rtl.logits, Q.forward_int(ex.model, patches))
    quick = cycle_model(program)
    assert (ex.rtl.cycles[0], ex.rtl.stall_cycles[0], ex.rtl.ddr_bytes[0]) == \
        (quick["cycles"], quick["stall_cycles"], quick["ddr_bytes"])


def test_tampered_rtl_sources_are_refused_before_anything_runs(exported, tmp_path, monkeypatch):
    import shutil

    from vitsdk.fpga.rtl import simulate_project
    _, ex = exported
    copy = tmp_path / "copy"
    shutil.copytree(ex.path, copy)
    engine = copy / "rtl" / "vit_engine.v"
    text = engine.read_text()
    assert "sum = sum + $signed" in text
    engine.write_text(text.replace("sum = sum + $signed", "sum = sum - $signed"))
    monkeypatch.setenv("VITSDK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match=r"vit_engine\.v do\(es\) not match the sha256"):
        simulate_project(copy, ex.project)
    assert not (tmp_path / "cache").exists()  # nothing was built


def test_tampered_testbench_files_are_refused_before_anything_runs(exported, tmp_path, monkeypatch):
    """The reference inputs and expected logits (tb/) are checked against project.json's sha256 before the
    simulator runs on them: an edited input image was simulated and reported as a numerics failure (exit 0), an
    edited expected file would have judged the engine against made-up logits. A project without the record (an
    older vitsdk's) is refused with "export it again"."""
    import json
    import shutil

    from vitsdk.fpga.project import EXPECTED, INPUTS, reference_io
    from vitsdk.fpga.rtl import simulate_project
    _, ex = exported
    monkeypatch.setenv("VITSDK_CACHE", str(tmp_path / "cache"))
    for name in (INPUTS, EXPECTED):
        copy = tmp_path / name.replace("/", "_")
        shutil.copytree(ex.path, copy)
        data = bytearray((copy / name).read_bytes())
        data[-1] ^= 1
        (copy / name).write_bytes(bytes(data))
        with pytest.raises(UserError, match=rf"{name} do\(es\) not match the sha256 in project\.json") as err:
            simulate_project(copy, ex.project)
        assert "\n" not in str(err.value)
        with pytest.raises(UserError, match=r"not match the sha256"):
            reference_io(copy, ex.project)
    assert not (tmp_path / "cache").exists()  # nothing was built
    project = json.loads((ex.path / "project.json").read_text())
    for record in ({}, {INPUTS: project["reference"]["sha256"][INPUTS]}):  # none, or one file left unchecked
        project["reference"]["sha256"] = record
        with pytest.raises(UserError, match=r"records no sha256 of its testbench files .*export it again"):
            reference_io(ex.path, project)


def test_rtl_simulator_is_built_in_the_cache_and_writes_nothing_into_the_project(exported, tmp_path, monkeypatch):
    """Verilator builds copies of the sha256-checked rtl/ sources in the cache; the project folder is unchanged
    (no binary, no outputs), and the results equal the export's."""
    import shutil

    from vitsdk.fpga.rtl import simulate_project
    from vitsdk.hashing import path_sha256
    _, ex = exported
    copy = tmp_path / "copy"
    shutil.copytree(ex.path, copy)
    monkeypatch.setenv("VITSDK_CACHE", str(tmp_path / "cache"))
    before = path_sha256(copy)
    result, _ = simulate_project(copy, ex.project)
    assert np.array_equal(result.logits, ex.rtl.logits) and result.cycles == ex.rtl.cycles and result.build_seconds > 0
    assert path_sha256(copy) == before
    assert list((tmp_path / "cache" / "rtl").glob("*/Vtb_vit"))


def test_missing_verilator_says_how_to_install(exported, monkeypatch):
    import shutil as _shutil

    from vitsdk.fpga.rtl import simulate_project
    _, ex = exported
    real = _shutil.which
    monkeypatch.setattr(_shutil, "which", lambda name, *a, **k: None if name == "verilator" else real(name, *a, **k))
    monkeypatch.setenv("VITSDK_CACHE", "/nonexistent-vitsdk-cache")
    with pytest.raises(UserError, match="apt-get install -y verilator yosys"):
        simulate_project(ex.path, ex.project)


def test_yosys_counts_the_packed_mac_array_and_the_fit_check_refuses_with_numbers(exported):
    """One row of 8 int8 MACs is 4 DSP48E2 (two MACs per DSP by packing); a board too small for the engine is
    refused with the counts."""
    from dataclasses import replace

    from vitsdk.fpga.synth import Resources, check_fit, fit_report, parse_stat, resources_of, synthesize
    res, cells, _ = synthesize("vit_mac_array", {"TM": 1, "TN": 8, "R": 8}, "xcup")
    assert cells["DSP48E2"] == 4 and res.dsp == 4 and res.lut > 100 and res.ff == 8 * 32
    log = "   Number of cells:   7\n     DSP48E2   3\n     LUT6   2\n     RAMB18E2   2\n\n"
    assert resources_of(parse_stat(log)) == Resources(dsp=3, lut=2, ff=0, carry=0, bram36=1.0, uram=0)
    board = replace(F.get_board("kv260"), dsp=3)
    assert fit_report(res, F.get_board("kv260"))["fits"]
    report = fit_report(res, board)
    assert not report["fits"] and report["use_percent"]["dsp"] == pytest.approx(133.3)
    with pytest.raises(UserError, match=r"does not fit the Kria KV260 .*dsp 4 > 3 \(Yosys count\)"):
        check_fit(report, board, "the engine")


# ---- the FPGA device's bench interface (run_fpga) ----

def test_run_fpga_writes_one_validated_results_file(exported, tmp_path):
    """The device interface names the file like the CLI always did and writes the document it returns."""
    import json as _json

    from vitsdk.fpga.bench import FpgaOptions, run_fpga
    _, ex = exported
    messages = []
    [(path, doc)] = run_fpga(ex.path, tmp_path / "out", None, FpgaOptions(synth=False), messages.append)
    assert path == tmp_path / "out" / "project_json-fpga-fpga.json"
    assert _json.loads(path.read_text()) == doc and doc["latency"]["status"] == "simulated"
    assert messages and "Verilator" in messages[0]


def test_run_fpga_refuses_an_invalid_document_and_writes_nothing(tmp_path, monkeypatch):
    """A results document that breaks the schema is an error naming the JSON path; no file is left behind."""
    import vitsdk.fpga.bench as bench
    from vitsdk.fpga.bench import FpgaOptions, run_fpga
    monkeypatch.setattr(bench, "bench_fpga", lambda *a, **k: {"schema": "vitsdk.results/1", "model": {"file": "x"}})
    with pytest.raises(UserError, match="fpga results for .*does not match results.schema.json"):
        run_fpga(tmp_path, tmp_path / "out", None, FpgaOptions())
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError, match=r"unknown board 'zcu10'.*zcu102"):
        FpgaOptions(board="zcu10")


def test_package_exports_are_not_shadowed_by_submodules():
    """`vitsdk.fpga` imports lazily; a submodule named like an export (the old estimate.py next to `estimate`)
    would replace the function by the module once any code imported it."""
    import importlib
    import pkgutil
    import types

    for info in pkgutil.iter_modules(F.__path__):
        importlib.import_module(f"vitsdk.fpga.{info.name}")
    for name in F.__all__:
        assert not isinstance(getattr(F, name), types.ModuleType), name


@pytest.mark.parametrize("keep, fuse", [(0.7, False), (0.7, True), (0.999, True)])
def test_token_counts_follow_the_models_token_selection(keep, fuse):
    """The engine's token counts (quantised model, quick-mode workload) equal the PyTorch model's, including a
    keep rate that keeps every token (no selection, so no fused token either)."""
    from vitsdk.models import count
    model = create_model("vit_nano_patch4_28", keep_rate=keep, fuse_token=fuse).eval()
    fv = extract(model)
    qv = Q.quantize(fv, calibrate(model, torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))))
    blocks = count(model).blocks
    expected = [b.tokens_attn for b in blocks] + [blocks[-1].tokens_mlp]
    assert qv.tokens == expected == F.workload(fv).tokens_per_block


def test_benchmark_slice_keeps_each_blocks_token_count_and_composes_by_ratio():
    """benchmarks/fpga.py --simulate subset: a slice that keeps every token-selecting block runs each kept block
    at the token count it has in the whole model; the whole's counters are the quick mode's scaled by the slice's
    simulated / quick ratio (unchanged when the quick mode is exact, and the ratio when it is not)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fpga_benchmark", Path(__file__).parents[1] / "benchmarks" / "fpga.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model = create_model("vit_micro_patch4_28", keep_rate=0.7).eval()  # selects at blocks 3, 6, 9
    fv = extract(model)
    ranges = calibrate(model, torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    whole = Q.quantize(fv, ranges).tokens
    part_fv, part_ranges = bench.slice_of(fv, ranges, [3, 6, 9, 10])
    assert Q.quantize(part_fv, part_ranges).tokens == [whole[3], whole[6], whole[9], whole[10], whole[-1]]
    quick = {"cycles": 1000, "stall_cycles": 10, "ddr_bytes": 0}
    assert bench.composed(quick, {"cycles": 200, "stall_cycles": 0, "ddr_bytes": 0},
                          {"cycles": 200, "stall_cycles": 3, "ddr_bytes": 0}) == quick
    assert bench.composed(quick, {"cycles": 200, "stall_cycles": 5, "ddr_bytes": 0},
                          {"cycles": 210, "stall_cycles": 5, "ddr_bytes": 0})["cycles"] == 1050
