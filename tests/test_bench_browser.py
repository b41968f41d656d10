"""`vitsdk bench --device browser`: the real page in Debian's headless Chromium with the real LiteRT.js runtime
on a vit_nano bundle exported by the real exporter (fp32 and int8), the page's JavaScript statistics against
the shared vectors (run with node), and the server's refusals. The phone is the only part not here: the
same page and server serve it, so `--serve` is checked up to the point where a phone would open the URL."""
from __future__ import annotations

import functools
import http.client
import json
import math
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vitsdk.bench.browser import BrowserOptions, build_spec, litertjs_dir, litertjs_pin, run_browser, runtime_routes
from vitsdk.bench.browser_server import MAX_POST_BYTES, PAGE_DIR, BenchServer
from vitsdk.formats.manifest import load_bundle
from vitsdk.bench.protocol import Protocol
from vitsdk.formats.results import load_results

VECTORS = Path(__file__).resolve().parents[1] / "schemas" / "vectors"
NODE = shutil.which("node")


def _required(present: bool, message: str):
    """`make test` installs this (scripts/setup_*.sh): its absence fails the test, never skips it."""
    def decorate(test):
        if present:
            return test

        @functools.wraps(test)
        def missing(*args, **kwargs):
            pytest.fail(message)
        return missing
    return decorate


needs_runtime = _required((litertjs_dir() / "core" / "dist" / "index.js").is_file(),
                          "LiteRT.js is not installed: run scripts/setup_browser.sh")
needs_node = _required(NODE is not None, "node is not installed: run scripts/setup_browser.sh")
# one worker builds the module's bundle and Chromium run when the suite runs with --dist loadgroup
pytestmark = pytest.mark.xdist_group("browser")
needs_chromium = _required(bool(shutil.which("chromium") or shutil.which("chromium-browser")),
                           "Chromium is not installed: run scripts/setup_chromium.sh as root")


TRAINED = Path(__file__).parent / "fixtures" / "fpga" / "vit_nano_fmnist.safetensors"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """vit_nano_patch4_28 trained on Fashion-MNIST (the FPGA tests' fixture: a random ViT's near-equal logits
    would make int8 top-1 agreement a coin toss) as fp32 and int8 .tflite, by the real exporter."""
    from vitsdk.converters.bundle import export

    out = tmp_path_factory.mktemp("browser") / "bundle"
    export(TRAINED, target="tflite", output=out, precision="fp32,int8", calib_data="fashion-mnist",
           calib_samples=32, reference_samples=8)
    return out


@pytest.fixture(scope="module")
def headless(bundle, tmp_path_factory):
    """One headless Chromium run for several checks: (results, progress lines, results folder)."""
    out = tmp_path_factory.mktemp("results")
    lines: list[str] = []
    protocol = Protocol(warmup_runs=2, warmup_seconds=0.0, min_runs=12, min_seconds=0.0, max_seconds=20.0,
                        cooldown_seconds=0.0, idle_baseline_seconds=0.0)
    results = run_browser(bundle, out, protocol, BrowserOptions(accelerators=("wasm", "webgpu"), timeout_s=240),
                          progress=lines.append)
    return results, lines, out


@needs_runtime
@needs_chromium
def test_headless_page_measures_fp32_and_int8_with_passing_numerics(headless, bundle):
    results, lines, out = headless
    by_precision = {doc["model"]["precision"]: (path, doc) for path, doc in results}
    assert sorted(by_precision) == ["fp32", "int8"]
    for path, doc in by_precision.values():
        assert load_results(path) == doc     # written, and schema-valid when read back
        assert (doc["status"], doc["device"]["platform"], doc["runtime"]["name"]) == ("complete", "browser", "litert.js")
        assert doc["runtime"]["version"] == litertjs_pin()[1] and doc["runtime"]["delegate"] == "wasm"
        assert "Chrome" in doc["device"]["user_agent"] and doc["device"]["os"] == "linux"
        lat = doc["latency"]
        assert lat["runs"] == len(lat["samples_ms"]) >= 12 and lat["warmup_runs"] == 2
        assert lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"] <= lat["max_ms"] and lat["min_ms"] > 0
        assert lat["load_ms"] > 0 and lat["first_ms"] > 0
        # the loopback page is cross-origin isolated (COOP/COEP), so LiteRT.js runs its threaded build
        assert doc["runtime"]["extra"]["cross_origin_isolated"] is True and doc["runtime"]["extra"]["wasm_threads"]
        assert doc["energy"]["status"] == "unavailable" and doc["energy"]["reason"]
        assert doc["runtime"]["extra"]["accelerators_unavailable"].startswith("webgpu: ")
    fp32, int8 = by_precision["fp32"][1]["numerics"], by_precision["int8"][1]["numerics"]
    assert fp32["status"] == "pass" and fp32["rel_diff"] <= fp32["tolerance"] and fp32["top1_agree"] == 1.0
    assert int8["status"] == "pass" and int8["top1_agree"] >= 0.9
    # LiteRT.js computed what native LiteRT computed for the same int8 file when the exporter verified it
    native = {f["precision"]: f["verification"] for f in json.loads((bundle / "manifest.json").read_text())["files"]}
    assert int8["max_abs_diff"] == pytest.approx(native["int8"]["max_abs_diff"], rel=0.05)
    assert int8["max_abs_diff"] > 100 * fp32["max_abs_diff"]
    assert any("skip webgpu" in line for line in lines)   # --disable-gpu: no adapter, named instead of faked


@needs_runtime
@needs_chromium
def test_browser_results_are_their_own_rows_in_the_report(headless, tmp_path, run_cli):
    results, _, out = headless
    done = run_cli("report", *(p for p, _ in results), "-o", tmp_path / "report.html")
    assert done.returncode == 0, done.stderr
    entries = {e["model"]["precision"]: e for e in json.loads((tmp_path / "report.json").read_text())["entries"]}
    assert sorted(entries) == ["fp32", "int8"] and {e["platform"] for e in entries.values()} == {"browser"}
    for _, doc in results:
        assert entries[doc["model"]["precision"]]["figures"]["latency_ms"]["value"] == doc["latency"]["median_ms"]
    page = (tmp_path / "report.html").read_text()
    assert page.count("<td>browser</td>") == 2 and "litert.js" in page


@needs_runtime
@needs_chromium
def test_serve_mode_collects_the_results_of_a_page_opened_elsewhere(bundle, tmp_path):
    """--serve as a phone would use it; the phone is Chromium started by hand on the printed URL, without
    Playwright (a real phone is the one thing not here)."""
    from vitsdk.bench.browser import CHROMIUM_FLAGS, find_chromium

    opened, urls = [], []

    def open_url(url: str) -> None:
        urls.append(url)
        opened.append(subprocess.Popen([find_chromium(), "--headless", *CHROMIUM_FLAGS,
                                        f"--user-data-dir={tmp_path / 'profile'}", url],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    protocol = Protocol(warmup_runs=1, warmup_seconds=0.0, min_runs=5, min_seconds=0.0, cooldown_seconds=0.0,
                        idle_baseline_seconds=0.0)
    try:
        results = run_browser(bundle, tmp_path / "out", protocol, BrowserOptions(
            accelerators=("wasm",), serve="127.0.0.1:0", timeout_s=120, show_url=open_url))
    finally:
        for proc in opened:
            proc.kill()
            proc.wait()
    assert len(opened) == 1
    assert sorted(d["model"]["precision"] for _, d in results) == ["fp32", "int8"]
    assert all(d["numerics"]["status"] == "pass" and d["latency"]["runs"] == 5 for _, d in results)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p, _ in results)
    with pytest.raises(urllib.error.URLError):     # the server stopped after the run
        urllib.request.urlopen(urls[0], timeout=5)


@needs_runtime
def test_serve_mode_stops_on_ctrl_c_with_one_error_line(bundle, tmp_path):
    import signal
    import sys

    # Ctrl-C in a terminal: SIGINT at its default disposition. A child inherits an ignored SIGINT, and under the
    # full parallel suite the worker process ignores it, so Python installed no KeyboardInterrupt handler and the
    # server waited on (the stack below showed it). -X faulthandler: if the process does not stop, SIGABRT makes
    # it print every thread's stack, so a failure says where it hung.
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "vitsdk", "bench", str(bundle), "--device",
                             "browser", "--serve", "127.0.0.1:0", "-o", str(tmp_path / "out")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:                     # the URL is printed, then the server waits for the page
        if "waiting for the page" in line:
            break
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"still running 60 s after Ctrl-C; its threads when stopped:\n{err}")
    assert proc.returncode == 2 and err.strip().startswith("error:") and "Ctrl-C" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _node(script: str, *args: str) -> dict:
    done = subprocess.run([NODE, "--input-type=module", "-e", script, *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


VECTOR_SCRIPT = """
import {readFileSync} from "node:fs";
const [page, vectors] = process.argv.slice(1);
const {latencyStats} = await import(`${page}/stats.mjs`);
const {measure} = await import(`${page}/protocol.mjs`);
const load = (n) => JSON.parse(readFileSync(`${vectors}/${n}`, "utf8")).cases;
const stats = {}, schedule = {};
for (const c of load("stats.json")) {
  const s = latencyStats(c.samples_ms, c.cv_max, c.drift_max);
  stats[c.name] = {...s, drift: s.stability.drift, stable: s.stability.stable};
}
for (const c of load("schedule.json")) {
  let now = 0, i = 0;
  const t = await measure(async () => { now += c.run_seconds[i++ % c.run_seconds.length]; }, c.protocol, () => now);
  schedule[c.name] = {first_ms: t.firstMs, warmup_runs: t.warmupRuns, runs: t.samplesMs.length, duration_s: t.durationS};
}
console.log(JSON.stringify({stats, schedule}));
"""


@pytest.fixture(scope="module")
def js_vectors() -> dict:
    return _node(VECTOR_SCRIPT, str(PAGE_DIR), str(VECTORS))


def _cases(name: str) -> list[dict]:
    return json.loads((VECTORS / name).read_text())["cases"]


def _close(got, want) -> bool:
    if want is None or got is None or isinstance(want, bool):
        return got is want or got == want and type(got) is type(want)
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


@needs_node
@pytest.mark.parametrize("kind,case", [("stats", c) for c in _cases("stats.json")]
                         + [("schedule", c) for c in _cases("schedule.json")],
                         ids=lambda v: v if isinstance(v, str) else v["name"])
def test_js_stats_and_protocol_match_the_shared_vectors(js_vectors, kind, case):
    """stats.mjs against stats.json, protocol.mjs's loop on a simulated clock against schedule.json."""
    got = js_vectors[kind][case["name"]]
    for key, want in case["expected"].items():
        assert _close(got[key], want), (key, got[key], want)


BATTERY_SCRIPT = """
const {batteryEnergy} = await import(`${process.argv[1]}/battery.mjs`);
const r = (level, charging, t_s) => ({level, charging, t_s});
const w = (a, b) => ({before: a, after: b});
const run = w(r(0.80, false, 0), r(0.75, false, 1800));
const idle = w(r(0.75, false, 1800), r(0.74, false, 3600));
console.log(JSON.stringify({
  no_api: batteryEnergy({api: false, active: null, idle: null, inferences: 10, capacityWh: 15}),
  charging: batteryEnergy({api: true, active: w(r(1, true, 0), r(1, true, 60)), idle: null, inferences: 10, capacityWh: 15}),
  no_capacity: batteryEnergy({api: true, active: run, idle, inferences: 90000, capacityWh: null}),
  too_short: batteryEnergy({api: true, active: w(r(0.80, false, 0), r(0.79, false, 60)), idle, inferences: 3000, capacityWh: 15}),
  no_idle: batteryEnergy({api: true, active: run, idle: null, inferences: 90000, capacityWh: 15}),
  measured: batteryEnergy({api: true, active: run, idle, inferences: 90000, capacityWh: 15}),
}));
"""


@needs_node
def test_js_battery_energy_is_a_number_only_when_measured_unplugged_long_and_with_a_baseline():
    got = _node(BATTERY_SCRIPT, str(PAGE_DIR))
    for name in ("no_api", "charging", "no_capacity", "too_short", "no_idle"):
        assert got[name]["status"] == "unavailable" and got[name]["method"] == "none", name
        assert "energy_mj" not in got[name], name
    assert "Battery Status API" in got["no_api"]["reason"] and "charging" in got["charging"]["reason"]
    assert "--battery-wh" in got["no_capacity"]["reason"] and "fewer than 3" in got["too_short"]["reason"]
    m = got["measured"]
    joules = 15 * 3600                                   # J per unit of battery level
    active_w, idle_w = 0.05 * joules / 1800, 0.01 * joules / 1800
    assert m["status"] == "measured" and m["method"] == "battery_level_delta" and m["reason"].startswith("coarse")
    assert m["energy_mj"] == pytest.approx((active_w - idle_w) * 1800 / 90000 * 1e3)
    se = math.hypot(0.01 / math.sqrt(6) * joules / 1800, 0.01 / math.sqrt(6) * joules / 1800) * 1800 / 90000 * 1e3
    assert m["uncertainty_mj"] == pytest.approx(math.hypot(se, 0.1 * m["energy_mj"]))


@pytest.fixture
def server(bundle):
    """The server alone, as a phone would reach it (no browser needed)."""
    b = load_bundle(bundle)
    models = [m for m in b.files if m.format == "tflite"]
    spec = build_spec(b, models, Protocol(), BrowserOptions(), "t")
    srv = BenchServer(b, models, spec, ("127.0.0.1", 0), lambda m: None, runtime_routes())
    import threading

    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


@needs_runtime
def test_server_refuses_tokenless_and_out_of_bundle_requests(server):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    ok = f"{base}/{server.token}"
    status, body, headers = _get(f"{ok}/index.html")
    assert status == 200 and b"bench.mjs" in body
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin" and headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    served = sorted(r for r in server.routes if r.startswith("bundle/"))
    assert served == ["bundle/reference/inputs.npy", "bundle/tflite-fp32.tflite", "bundle/tflite-int8.tflite"]
    assert all(_get(f"{ok}/{r}")[0] == 200 for r in served)
    assert _get(f"{base}/index.html")[0] == 403                                  # no token
    assert _get(f"{base}/{server.token[:-1]}x/index.html")[0] == 403             # wrong token
    assert _get(f"{base}/bundle/manifest.json")[0] == 403
    for path in ("bundle/manifest.json", "bundle/reference/outputs.npy", "bundle/../manifest.json", "bundle/%2e%2e/%2e%2e/etc/passwd",
                 "../../etc/passwd", "litert/core/package.json", "browser.py"):
        assert _get(f"{ok}/{path}")[0] == 404, path
    assert not server.run.results and not server.run.finished.is_set()


@needs_runtime
def test_server_rejects_oversized_and_schema_invalid_results(server):
    ok = f"http://127.0.0.1:{server.server_address[1]}/{server.token}"
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.putrequest("POST", f"/{server.token}/result")
    conn.putheader("Content-Length", str(MAX_POST_BYTES + 1))   # refused from the header, before any body is read
    conn.endheaders(b"{}")
    assert conn.getresponse().status == 413
    conn.close()
    assert not server.run.finished.is_set()
    status, body, _ = _get(f"{ok}/result", json.dumps({"results": {"schema": "vitsdk.results/1"}}).encode())
    assert status == 400 and b"results.schema.json" in body
    assert server.run.finished.is_set() and "rejected" in server.run.failure and not server.run.results


def test_cli_bad_input_is_one_error_line(bundle, tmp_path, run_cli, monkeypatch):
    import os

    env = dict(os.environ)
    pte_only = tmp_path / "pte_only"
    shutil.copytree(bundle, pte_only)
    manifest = json.loads((pte_only / "manifest.json").read_text())
    for f in manifest["files"]:
        f.update(format="pte")
    (pte_only / "manifest.json").write_text(json.dumps(manifest))
    cases = [
        ((pte_only,), {}, "has no .tflite file"),
        ((bundle,), {"VITSDK_LITERTJS_DIR": str(tmp_path / "none")}, "scripts/setup_browser.sh"),
        ((bundle,), {"VITSDK_CHROMIUM": str(tmp_path / "no-chromium")}, "scripts/setup_chromium.sh"),
        ((bundle, "--serve", "127.0.0.1:99999"), {}, "expected HOST:PORT"),
        ((bundle, "--accelerator", "wasn"), {}, "did you mean 'wasm'"),
        ((bundle, "--headless", "--serve", ":0"), {}, "give one of them"),
        ((bundle, "--serve", ":0", "--timeout", "1"), {}, "no page reported back within 1 s"),
    ]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cases.append(((bundle, "--serve", f"127.0.0.1:{busy.getsockname()[1]}"), {}, "is in use"))
        for args, extra, message in cases:
            out = tmp_path / "out"
            done = run_cli("bench", args[0], "--device", "browser", "-o", out, "--quick", *args[1:],
                           env={**env, **extra})
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], (args, done.stderr)
            assert not out.exists() or not any(out.iterdir()), args
