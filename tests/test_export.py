"""vitsdk export: real exports of a small trained ViT to every target and precision, run in the real runtimes.

One bundle with every file target and precision is exported once per module (that is the slow part);
the tests then check the manifest, the files and the numbers. Core ML cannot run on Linux: its files
are checked as validated-not-executed. No mocks.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vitsdk.converters import ExportOptions, export
from vitsdk.converters.common import size_of
from vitsdk.bench.runtimes import load
from vitsdk.errors import UserError
from vitsdk.formats.manifest import MANIFEST, Bundle
from vitsdk.hashing import path_sha256

MODEL = "vit_nano_patch4_28"


def train_briefly(model: torch.nn.Module, steps: int = 200, batch: int = 64) -> torch.nn.Module:
    """A couple of hundred AdamW steps on Fashion-MNIST: enough for meaningful logits (a random ViT's
    logits are ~0, which makes relative parity figures and int8 calibration meaningless)."""
    from vitsdk.data import load_dataset

    c = model.config
    data = load_dataset("fashion-mnist", "train").subset(steps * batch, seed=1)
    x = data.to_tensor(c.img_size, c.in_chans, c.mean, c.std)
    y = torch.from_numpy(data.labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    model.train()
    for step in range(steps):
        index = slice(step * batch, (step + 1) * batch)
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from vitsdk.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = train_briefly(create_model(MODEL, keep_rate=0.7))  # trained with token dropping
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "nano.safetensors")


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory) -> tuple[Bundle, list[str]]:
    """Every file target x precision, token dropping on (keep 0.7), int8 calibrated on Fashion-MNIST; and the
    export's log lines."""
    out = tmp_path_factory.mktemp("export") / "bundle"
    lines: list[str] = []
    result = export(str(checkpoint), output=out, keep_rate=0.7, log=lines.append,
                    options=ExportOptions(target="all", precisions=("fp32", "fp16", "int8-dynamic", "int8", "int8-full"),
                                          calib_data="fashion-mnist", calib_samples=32,
                                          accuracy_data="fashion-mnist", accuracy_samples=128))
    return result, lines


@pytest.fixture(scope="module")
def bundle(exported) -> Bundle:
    return exported[0]


EXPECTED = {("executorch", "fp32"), ("executorch", "fp16"), ("executorch", "int8"), ("executorch", "int8-dynamic"),
            ("tflite", "fp32"), ("tflite", "fp16"),
            ("tflite", "int8-dynamic"), ("tflite", "int8"), ("tflite", "int8-full"), ("coreml", "fp32"), ("coreml", "fp16"),
            ("coreml", "int8"), ("fpga", "int8")}


def test_bundle_has_every_target_and_precision(exported):
    bundle, log = exported
    assert {(f["target"], f["precision"]) for f in bundle.entries()} == EXPECTED
    assert MANIFEST.errors(bundle.manifest) == []
    assert json.loads((bundle.root / "manifest.json").read_text()) == bundle.manifest
    # a log line per file, with size and time
    assert sum("MiB" in line for line in log) == len(EXPECTED)


def test_manifest_describes_model_input_and_sparsity(bundle):
    m = bundle.manifest
    assert m["schema"] == "vitsdk.manifest/1"
    assert m["model"]["name"] == MODEL and m["model"]["keep_rate"] == 0.7
    assert m["source"]["kind"] == "checkpoint" and len(m["source"]["sha256"]) == 64
    assert m["sparsity"]["keep_rate"] == 0.7 and m["sparsity"]["tokens_per_block"] == [50, 36, 26, 26]
    assert m["input"]["shape"] == [1, 1, 28, 28] and m["input"]["layout"] == "NCHW"
    assert m["input"]["mean"] == pytest.approx([0.2860]) and m["input"]["std"] == pytest.approx([0.3530])
    assert m["exporters"]["executorch"] and m["exporters"]["coremltools"]
    for f in bundle.entries():
        assert f["macs"] == m["accounting"]["macs"] > 0


def test_files_match_their_checksums_and_sizes(bundle):
    for f in bundle.entries():
        path = bundle.root / f["path"]
        assert path.exists()
        assert path_sha256(path) == f["sha256"]
        assert size_of(path) == f["size_bytes"] > 0


def test_reference_data_is_real_and_consistent(bundle):
    inputs, outputs = bundle.reference()
    labels = np.load(bundle.root / bundle.manifest["reference"]["labels"])
    assert inputs.shape == (8, 1, 28, 28) and inputs.dtype == np.float32
    assert outputs.shape == (8, 10) and labels.shape == (8,)
    from vitsdk.models import load_model

    model = load_model(bundle.manifest["source"]["spec"], keep_rate=0.7).eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(inputs)).numpy(), outputs, rtol=1e-5, atol=1e-6)


def test_fpga_project_is_verified_by_its_rtl_simulation(bundle):
    """The fpga target's RTL engine ran in Verilator at export; its logits are compared like a runtime's."""
    f = bundle.file("fpga", "int8")
    v = f["verification"]
    assert v["executed"] is True and v["status"] == "passed" and "Verilator simulation" in v["runtime"]
    assert v["rel_diff"] <= v["tolerance"] and v["top1_agreement"] >= 0.75
    np.testing.assert_array_equal(np.load(bundle.root / v["outputs"]),
                                  np.load(bundle.root / f["path"] / "sim_outputs.npy"))
    assert (bundle.root / f["path"] / "project.json").is_file()


def test_fpga_estimate_names_the_bundle_like_the_other_runners(bundle, tmp_path):
    """`vitsdk bench BUNDLE --device fpga` results carry the manifest's sha256 and file entry, so the report
    finds the bundle's sparsity for the FPGA row too (it said "sparsity unknown" before)."""
    import hashlib

    from vitsdk.fpga import bench_fpga
    from vitsdk.report.load import load
    from vitsdk.report.variant import variant_of

    f = bundle.file("fpga", "int8")
    doc = bench_fpga(bundle.root, "zcu102", synth=False)  # the engine the export sized for the ZCU102
    assert doc["model"]["file"] == f["path"] and doc["model"]["sha256"] == f["sha256"]
    assert doc["model"]["manifest_sha256"] == hashlib.sha256((bundle.root / "manifest.json").read_bytes()).hexdigest()
    (tmp_path / "fpga.json").write_text(json.dumps(doc))
    loaded = load([tmp_path], bundles=[bundle.root])
    variant = variant_of(doc, loaded.manifest_for(doc))
    assert variant.token_dropped is True and variant.keep_rate == 0.7 and "unknown" not in variant.kind


def test_a_modified_fpga_member_is_refused_by_its_manifest_sha256(bundle, tmp_path, monkeypatch):
    """`vitsdk bench BUNDLE --device fpga` checks the project folder against the sha256 the manifest lists for it
    before reading anything else: an engine edited with rtl.json's and project.json's hashes rewritten to match
    (every check inside the project passes) was rebuilt and simulated, exit 0."""
    import shutil

    from vitsdk.fpga import bench_fpga
    from vitsdk.hashing import file_sha256

    copy = tmp_path / "bundle"
    shutil.copytree(bundle.root, copy)
    project = copy / bundle.file("fpga", "int8")["path"]
    engine = project / "rtl" / "vit_engine.v"
    engine.write_text(engine.read_text() + "// edited\n")
    rtl = json.loads((project / "rtl" / "rtl.json").read_text())
    rtl["files"]["vit_engine.v"] = file_sha256(engine)
    (project / "rtl" / "rtl.json").write_text(json.dumps(rtl))
    meta = json.loads((project / "project.json").read_text())
    meta["rtl_sha256"] = file_sha256(project / "rtl" / "rtl.json")
    (project / "project.json").write_text(json.dumps(meta))
    monkeypatch.setenv("VITSDK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match=r"does not match the sha256 manifest\.json records for .*modified after "
                                        r"export"):
        bench_fpga(copy, "zcu102", synth=False)
    assert not (tmp_path / "cache").exists()  # nothing was built


@pytest.mark.parametrize("target,precision", sorted(p for p in EXPECTED if p[0] not in ("coreml", "fpga")))
def test_runtime_files_rerun_to_their_recorded_outputs(bundle, target, precision):
    """Loads the file again in its real runtime: same outputs as recorded, parity within tolerance."""
    f = bundle.file(target, precision)
    v = f["verification"]
    assert v["executed"] is True and v["status"] == "passed"
    assert v["rel_diff"] <= v["tolerance"]
    predict = load(f["runtime"], bundle.root / f["path"]).predict
    inputs, reference = bundle.reference()
    outputs = np.concatenate([predict(x[None]) for x in inputs])
    np.testing.assert_allclose(outputs, np.load(bundle.root / v["outputs"]), rtol=1e-5, atol=1e-6)
    rel = np.abs(outputs - reference).max() / np.abs(reference).max()
    assert rel == pytest.approx(v["rel_diff"], rel=1e-3, abs=1e-9)
    if precision == "fp32":
        assert rel <= 1e-4 and v["top1_agreement"] == 1.0


def test_fp32_files_agree_with_pytorch_on_accuracy_set(bundle):
    for target in ("executorch", "tflite"):
        acc = bundle.file(target, "fp32")["accuracy"]
        assert acc["top1_agreement"] == 1.0 and acc["top1"] == acc["top1_pytorch"]
    assert bundle.manifest["accuracy"]["top1"] > 0.4  # the briefly trained model learned something (chance: 0.1)


def test_quantized_files_are_smaller_and_close_in_accuracy(bundle):
    """Loose bound for a 300-image test set and a 200-step model; benchmarks/export.py measures the
    1,000-image quality bar (<= 1 point)."""
    for target, precision in (("executorch", "int8"), ("tflite", "int8"), ("tflite", "int8-dynamic")):
        f = bundle.file(target, precision)
        assert f["size_bytes"] < bundle.file(target, "fp32")["size_bytes"]
        assert f["accuracy"]["top1"] >= f["accuracy"]["top1_pytorch"] - 0.04
    assert bundle.file("tflite", "fp16")["size_bytes"] < bundle.file("tflite", "fp32")["size_bytes"]
    full = bundle.file("tflite", "int8-full")
    assert load("litert", bundle.root / full["path"]).input_dtype == np.int8  # integer I/O
    assert full["accuracy"]["top1"] >= full["accuracy"]["top1_pytorch"] - 0.15


def test_executorch_is_delegated_to_xnnpack(bundle):
    d = bundle.file("executorch", "fp32")["delegation"]
    # token selection (topk/gather) stays on portable kernels; everything else runs in XNNPACK
    assert d["coverage"] >= 0.9
    assert set(d["non_delegated_ops"]) <= {"aten_topk_default", "aten_gather_default", "aten_mean_dim",
                                           "aten_expand_copy_default", "aten_slice_copy_tensor",
                                           "aten_unsqueeze_copy_default"}


def test_tflite_files_run_on_the_android_apps_litert_and_executorch(bundle):
    """Every (op, version) each exported .tflite names is registered by the LiteRT release the Android app pins
    (schemas/runtime_versions.json vs schemas/litert_op_versions.json); the manifest names the app's runtimes,
    and its ExecuTorch is the one that wrote the .pte files."""
    from vitsdk.bench.android import litert_op_gaps, tflite_op_versions

    files = [f for f in bundle.entries() if f["target"] == "tflite"]
    assert len(files) == 5
    for f in files:
        ops = tflite_op_versions(bundle.root / f["path"])
        assert "FULLY_CONNECTED" in ops and litert_op_gaps(ops) == [], f["path"]
    assert bundle.manifest["app_runtimes"]["executorch"] == bundle.manifest["exporters"]["executorch"]


def test_coreml_files_are_validated_not_executed(bundle):
    for precision, compute in (("fp16", "fp16"), ("fp32", "fp32"), ("int8", "fp16")):
        f = bundle.file("coreml", precision)
        v = f["verification"]
        assert v["executed"] is False and v["status"] == "validated" and "macOS" in v["reason"]
        assert v["inputs"][0]["shape"] == [1, 1, 28, 28] and v["outputs"][0]["shape"] == [1, 10]
        assert {"softmax", "layer_norm", "linear", "topk"} <= set(v["ops"])
        assert f["coreml"]["compute_precision"] == compute
    assert "constexpr_affine_dequantize" in bundle.file("coreml", "int8")["verification"]["ops"]
    fp16 = bundle.file("coreml", "fp16")["verification"]["fp16_compute"]
    assert fp16["finite"] and fp16["method"].startswith("estimated")


def test_bench_reads_the_manifest(bundle):
    """The one reader accepts what the converters write: the Bundle `export` returns is the one `Bundle.load`
    reads back (files, runtime, precision, checksums, the manifest's own sha256), with the same reference arrays."""
    import hashlib

    loaded = Bundle.load(bundle.root)
    assert loaded == bundle
    assert loaded.manifest_sha256 == hashlib.sha256((bundle.root / "manifest.json").read_bytes()).hexdigest()
    assert {(f.path, f.runtime, f.precision, f.sha256, f.target) for f in loaded.files} == \
        {(f["path"], f["runtime"], f["precision"], f["sha256"], f["target"]) for f in bundle.entries()}
    inputs, outputs = loaded.reference()
    assert inputs.shape[0] == outputs.shape[0] == 8
    assert np.array_equal(outputs, np.load(bundle.root / bundle.manifest["reference"]["outputs"]))


def test_runtimes_refuse_files_that_are_not_models(tmp_path):
    bogus = tmp_path / "bogus.pte"
    bogus.write_bytes(b"not a model" * 10)
    with pytest.raises(UserError, match="cannot load ExecuTorch program"):
        load("executorch", bogus)
    with pytest.raises(UserError, match="cannot load LiteRT model"):
        load("litert", bogus)
    with pytest.raises(UserError, match="does not exist"):
        load("litert", tmp_path / "missing.tflite")


def test_failed_verification_leaves_nothing(tmp_path):
    """An impossible tolerance makes verification fail: the export raises and no bundle (or temp folder)
    remains."""
    from vitsdk.models import create_model

    out = tmp_path / "bundle"
    with pytest.raises(UserError, match="verification failed for tflite fp32"):
        export(create_model(MODEL), output=out,
               options=ExportOptions(target="tflite", tolerances={"fp32": 1e-15}, reference_data=None))
    assert list(tmp_path.iterdir()) == []


def test_pruned_artifact_exports_with_its_sparsity(tmp_path):
    """A block-pruned artifact (sparsity.json + model.safetensors) exports compacted; the manifest carries
    the pruning settings and the file matches PyTorch."""
    from vitsdk import sparsity
    from vitsdk.models import create_model

    model = create_model(MODEL)
    sparsity.prune_(model, sparsity.BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    folder = sparsity.save_pruned(model, tmp_path / "pruned")
    bundle = export(str(folder), output=tmp_path / "bundle", target="tflite")
    m = bundle.manifest
    assert m["source"]["kind"] == "pruned"
    assert m["sparsity"]["pruning"]["ratio"] == 0.5 and m["sparsity"]["pruning"]["block_shape"] == [16, 16]
    assert m["accounting"]["macs"] < m["sparsity"]["pruning"]["macs_dense"]
    v = bundle.file("tflite", "fp32")["verification"]
    assert v["status"] == "passed" and v["rel_diff"] <= 1e-4
    assert MANIFEST.errors(m) == []
