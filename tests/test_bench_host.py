"""The host runner and `vitsdk bench --device host` on a real bundle (vit_nano as .pte and .tflite, run in
the real ExecuTorch and LiteRT runtimes), RAPL read from fake sysfs trees (no RAPL on this machine)."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vitsdk.atomic import atomic_path
from vitsdk.bench import host, rapl, schema
from vitsdk.bench.host import HostOptions, run_host
from vitsdk.bench.protocol import Protocol
from vitsdk.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures" / "bench"
sys.path.insert(0, str(FIXTURES))
VITSDK = [sys.executable, "-m", "vitsdk"]


@pytest.fixture(scope="session")
def bundle() -> Path:
    """Built once per fixture version and cached (exporting takes ~30 s of CPU)."""
    from tiny_bundle import make_bundle

    key = hashlib.sha256((FIXTURES / "tiny_bundle.py").read_bytes() + (FIXTURES / "manifest_helper.py").read_bytes()
                         + importlib.metadata.version("executorch").encode()
                         + importlib.metadata.version("litert-torch").encode()).hexdigest()[:16]
    cache = Path(os.environ.get("VITSDK_CACHE", Path.home() / ".cache" / "vitsdk")) / "test-bundles" / key
    if not (cache / "manifest.json").is_file():
        with atomic_path(cache, is_dir=True) as tmp:
            make_bundle(tmp)
    return cache


QUICK = Protocol.quick()


def test_host_run_writes_valid_results_for_every_model(bundle, tmp_path):
    results = run_host(bundle, tmp_path / "results", HostOptions(protocol=QUICK, powercap=tmp_path / "none"))
    assert sorted(p.name for p, _ in results) == ["model_fp32-executorch-host.json", "model_fp32-litert-host.json"]
    for path, doc in results:
        assert schema.load_results(path) == doc
        assert doc["status"] == "complete" and doc["error"] is None
        lat = doc["latency"]
        assert lat["runs"] >= QUICK.min_runs and lat["warmup_runs"] >= QUICK.warmup_runs
        assert 0 < lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
        assert doc["numerics"]["status"] == "pass" and doc["numerics"]["max_abs_diff"] < 1e-4
        assert doc["energy"] == {"status": "unavailable", "method": "none",
                                 "reason": f"no {tmp_path / 'none'} (no powercap/RAPL support on this machine or "
                                           "in this container)"}
        manifest = json.loads((bundle / "manifest.json").read_text())
        entry = next(f for f in manifest["files"] if f["path"] == doc["model"]["file"])
        assert doc["model"]["sha256"] == entry["sha256"] and doc["runtime"]["name"] == entry["runtime"]


class _FakeRapl:
    """Counters that advance like RAPL's: 5 W while idle, 20 W while the runner is inside the protocol
    loop (`measure`), split evenly over the two package zones; package-1 wraps during the run.

    Energy is integrated lazily from a piecewise-constant power, settled at the exact moments `measure`
    starts and ends, so what a read returns depends on the clock only, not on how a thread gets
    scheduled on a busy machine (an earlier version advanced the files on a thread and drifted under
    CI load)."""

    IDLE_W, BUSY_W = 5.0, 20.0

    def __init__(self, zones: list[Path]) -> None:
        self.lock = threading.Lock()
        self.values = {z: float((z / "energy_uj").read_text()) for z in zones}
        self.tops = {z: float((z / "max_energy_range_uj").read_text()) for z in zones}
        self.power_w = self.IDLE_W
        self.last = time.perf_counter()

    def _settle(self) -> None:
        now = time.perf_counter()
        share_uj = self.power_w * (now - self.last) / len(self.values) * 1e6
        self.last = now
        for zone in self.values:
            self.values[zone] = (self.values[zone] + share_uj) % self.tops[zone]

    def set_power(self, watts: float) -> None:
        with self.lock:
            self._settle()
            self.power_w = watts

    def read_uj(self, zone: Path) -> float:
        with self.lock:
            self._settle()
            return float(int(self.values[zone]))


def _fake_rapl(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "powercap"
    shutil.copytree(FIXTURES / "powercap", root)
    fake = _FakeRapl([root / "intel-rapl:0", root / "intel-rapl:1"])
    monkeypatch.setattr(rapl.RaplZone, "read_uj", lambda zone: fake.read_uj(zone.path))
    real_measure = host.measure

    def busy_measure(*args, **kwargs):
        fake.set_power(_FakeRapl.BUSY_W)
        try:
            return real_measure(*args, **kwargs)
        finally:
            fake.set_power(_FakeRapl.IDLE_W)

    monkeypatch.setattr(host, "measure", busy_measure)
    return root


def test_host_energy_from_rapl_counters(bundle, tmp_path, monkeypatch):
    root = _fake_rapl(tmp_path, monkeypatch)
    protocol = Protocol(warmup_runs=2, warmup_seconds=0, min_runs=20, min_seconds=0.6, max_seconds=5,
                        cooldown_seconds=0, idle_baseline_seconds=0.6, power_sample_period_ms=20)
    results = run_host(bundle, tmp_path / "r", HostOptions(protocol=protocol, powercap=root,
                                                           thermal=FIXTURES / "thermal",
                                                           runtimes=("executorch",)))
    (_, doc), = results
    energy = doc["energy"]
    assert energy["status"] == "measured" and energy["method"] == "rapl"
    assert energy["source"] == "intel-rapl:0 (package-0), intel-rapl:1 (package-1)"
    # 5 W idle and 20 W - 5 W net: the counters are exact, so only the integer-uJ rounding and the
    # estimator's edges are left.
    assert energy["idle_power_w"] == pytest.approx(5.0, rel=0.02), energy
    assert energy["net_power_w"] == pytest.approx(15.0, rel=0.02), energy
    runs = doc["latency"]["runs"]
    assert energy["energy_mj"] == pytest.approx(energy["net_power_w"] * doc["latency"]["duration_s"] / runs * 1e3)
    assert energy["uncertainty_mj"] >= 0 and energy["samples"]["idle_count"] >= 2
    assert doc["thermal"]["before"] == {"state": None, "temperature_c": 47.0}
    assert schema.errors(doc, "results") == []


def test_rapl_reader_zones_and_permissions(tmp_path, monkeypatch):
    zones = rapl.find_zones(FIXTURES / "powercap")
    assert [(z.path.name, z.name) for z in zones] == [("intel-rapl:0", "package-0"), ("intel-rapl:1", "package-1")]
    assert zones[0].read_uj() == 48213947211.0
    with pytest.raises(rapl.RaplUnavailable, match="no RAPL zones"):
        rapl.find_zones(tmp_path)
    real_read = Path.read_text

    def denied(self, *a, **k):  # root reads anything here, so deny the way the kernel does for non-root
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real_read(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(rapl.RaplUnavailable, match="readable by root only"):
        rapl.find_zones(FIXTURES / "powercap")


def test_a_model_that_fails_to_load_is_captured_and_the_others_run(bundle, tmp_path):
    broken = tmp_path / "bundle"
    shutil.copytree(bundle, broken)
    pte = broken / "model_fp32.pte"
    pte.write_bytes(b"not a program" * 10)
    manifest = json.loads((broken / "manifest.json").read_text())
    for f in manifest["files"]:
        if f["path"] == "model_fp32.pte":
            f["sha256"] = hashlib.sha256(pte.read_bytes()).hexdigest()
    (broken / "manifest.json").write_text(json.dumps(manifest))
    results = dict((d["runtime"]["name"], d) for _, d in run_host(broken, tmp_path / "r", HostOptions(protocol=QUICK)))
    assert results["executorch"]["status"] == "failed" and results["executorch"]["latency"] is None
    assert results["executorch"]["error"]
    assert results["litert"]["status"] == "complete"


def test_bundle_faults_are_one_line_errors(bundle, tmp_path):
    newer = tmp_path / "newer"
    shutil.copytree(bundle, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    manifest["schema"] = "vitsdk.manifest/2"
    (newer / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="newer vitsdk"):
        run_host(newer, tmp_path / "r")
    (newer / "manifest.json").write_text(json.dumps(manifest)[:40])
    with pytest.raises(UserError, match="truncated"):
        run_host(newer, tmp_path / "r")
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    with open(tampered / "model_fp32.tflite", "ab") as f:
        f.write(b"x")
    docs = {d["runtime"]["name"]: d for _, d in run_host(tampered, tmp_path / "r2", HostOptions(protocol=QUICK))}
    assert docs["litert"]["status"] == "failed" and "does not match the manifest" in docs["litert"]["error"]


def test_truncated_results_file_is_rejected(tmp_path):
    example = json.loads((Path(__file__).parents[1] / "schemas/vectors/results_examples.json").read_text())
    text = json.dumps(example["cases"][0]["document"])
    (tmp_path / "r.json").write_text(text[: len(text) // 2])
    with pytest.raises(UserError, match="truncated"):
        schema.load_results(tmp_path / "r.json")


def test_cli_host_quick(bundle, tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(VITSDK + ["bench", str(bundle), "--device", "host", "-o", str(out), "--quick",
                                    "--runtime", "litert", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    assert [d["runtime"]["name"] for d in docs] == ["litert"]
    assert [p.name for p in out.iterdir()] == ["model_fp32-litert-host.json"]


@pytest.mark.parametrize("device, module, issue", [("ios", "vitsdk.bench.ios", 7), ("fpga", "vitsdk.fpga.api", 8)])
def test_cli_ios_and_fpga_hand_over_or_name_their_issue(bundle, tmp_path, capsys, device, module, issue):
    """`--device ios|fpga` hands over to the runner of issue #7/#8 when it exists (which here fails cleanly:
    no Mac / no FPGA project in this bundle), else names the issue that brings it."""
    import importlib

    from vitsdk.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(bundle), "--device", device, "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error:") and err.count("\n") == 1, err
    try:
        importlib.import_module(module)
    except ModuleNotFoundError:
        assert f"issue #{issue}" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--device", "andriod"], "did you mean 'android'"),
    (["--runtime", "tflite"], "unknown runtime 'tflite'"),
    (["--min-runs", "0"], "min_runs"),
])
def test_cli_bad_input(bundle, tmp_path, capsys, args, message):
    from vitsdk.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(bundle), "-o", str(tmp_path / "r")] + args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error:") and message in err, err
    assert err.count("\n") == 1 and not (tmp_path / "r").exists()
