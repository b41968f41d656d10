"""The report on real results, as the demo makes them: the host runner times a real bundle (vit_nano as .pte
and .tflite in ExecuTorch and LiteRT; energy unavailable, this machine has no RAPL) and the FPGA engine's
Verilator run writes a simulated-latency, estimated-energy result for the same model. The report must carry
their numbers unchanged, label them measured / simulated / estimated, and read the variant from the bundle
manifest.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_bench_host import bundle  # noqa: F401  (the bench tests' cached real bundle: one source of truth)
from vitsdk.report import build_report


@pytest.fixture(scope="module")
def results(bundle, tmp_path_factory) -> Path:  # noqa: F811
    from vitsdk.bench.host import HostOptions, run_host
    from vitsdk.bench.protocol import Protocol
    from vitsdk.fpga import bench_fpga, export_fpga
    from vitsdk.models import create_model

    folder = tmp_path_factory.mktemp("pipeline")
    run_host(bundle, folder / "results", Protocol.quick(), HostOptions(powercap=folder / "no-powercap"))
    # a tiny engine (one small Verilator build) and no Yosys run: the report's labels are what is tested here
    export_fpga(create_model("vit_nano_patch4_28"), folder / "fpga_project", check=False,
                engine={"tokens": 4, "outputs": 16, "lanes": 4}, synth=False)
    doc = bench_fpga(folder / "fpga_project", board="zcu102", synth=False)
    (folder / "results" / "fpga-estimate.json").write_text(json.dumps(doc, indent=2))
    return folder


def test_report_of_host_and_fpga_results(results, bundle):  # noqa: F811
    report, written = build_report([results / "results"], results / "report.html", bundles=[bundle])
    assert not report.problems, report.problems
    by_platform = {}
    for entry in report.entries:
        by_platform.setdefault(entry.platform, []).append(entry)
    host, (fpga,) = by_platform["host"], by_platform["fpga"]
    assert sorted(e.document["runtime"]["name"] for e in host) == ["executorch", "litert"]
    for entry in host:
        doc = json.loads(entry.path.read_text())
        assert entry.figures["latency_ms"].value == doc["latency"]["median_ms"] > 0
        assert entry.figures["latency_ms"].basis == "measured"
        assert entry.figures["energy_mj"].basis == "unavailable" and entry.figures["energy_mj"].value is None
        assert entry.variant.kind == "dense" and entry.variant.precision == "fp32"     # from the manifest
        assert entry.figures["size_bytes"].value == doc["model"]["size_bytes"]
    assert fpga.figures["latency_ms"].basis == "simulated" and fpga.figures["energy_mj"].basis == "estimated"
    assert fpga.figures["energy_mj"].value == pytest.approx(json.loads(fpga.path.read_text())["energy"]["energy_mj"])
    assert fpga.figures["inferences_per_j"].value == pytest.approx(1000 / fpga.figures["energy_mj"].value)
    data = json.loads(written[1].read_text())
    assert {e["platform"] for e in data["entries"]} == {"host", "fpga"}
    html = written[0].read_text()
    assert "estimated · analytical_model" in html and "measured · median of" in html
