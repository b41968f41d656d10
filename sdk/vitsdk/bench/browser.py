"""The browser device: a bundle's .tflite files run with LiteRT.js in a web page, here or on any phone.

`run_browser(bundle, out_dir, protocol, options)` serves a small benchmark page (`browser_page/`, shipped
in the package) together with the bundle's .tflite files, its reference inputs and the LiteRT.js runtime
(npm `@litertjs/core`, installed into a cache by scripts/setup_browser.sh). The page runs the shared
protocol in JavaScript (`browser_page/protocol.mjs`, `stats.mjs`: tested against schemas/vectors like the
apps' cores) and posts one results document per model file and accelerator, with its outputs on the
reference inputs; the host validates each on arrival and judges the outputs with the same check as every
other device (`bench.numerics.check_outputs`). With `serve=None` it drives Debian's Chromium headless
through Playwright; with `serve="HOST:PORT"` it prints a URL (and a QR code) for a phone and waits.

The server (`bench/browser_server.py`) is safe to leave on a LAN for one run: loopback unless told
otherwise, a random token in every path, a fixed table of files, size-limited and schema-validated posts.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vitsdk.atomic import write_json
from vitsdk.bench.browser_server import PAGE_DIR, BenchServer, PageRun
from vitsdk.bench.protocol import Protocol
from vitsdk.errors import UserError, unknown
from vitsdk.formats.manifest import Bundle, ModelFile, load_bundle
from vitsdk.formats.results import RESULTS, model_block, new_run_id, results_name, tool_block
from vitsdk.hashing import file_sha256

ACCELERATORS = ("wasm", "webgpu", "webnn")
# Chromium as the tests run it (DESIGN.md): no sandbox as root, no GPU, nothing that phones home.
CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic")
def litertjs_pin() -> tuple[str, str]:
    """(npm package, version) of the LiteRT.js runtime, from `browser_page/litertjs.json` (the one pin that
    scripts/setup_browser.sh installs)."""
    pin = json.loads((PAGE_DIR / "litertjs.json").read_text())
    return pin["package"], pin["version"]


def litertjs_dir() -> Path:
    """Where scripts/setup_browser.sh put the runtime: `$VITSDK_LITERTJS_DIR`, else the cache."""
    env = os.environ.get("VITSDK_LITERTJS_DIR")
    if env:
        return Path(env)
    package, version = litertjs_pin()
    cache = Path(os.environ.get("VITSDK_CACHE", Path.home() / ".cache" / "vitsdk"))
    return cache / "litertjs" / version / "node_modules" / package.split("/")[0]


def runtime_routes() -> dict[str, Path]:
    """The runtime's files the page loads, by URL path; UserError naming the set-up when missing."""
    root = litertjs_dir()
    core = root / "core"
    package, version = litertjs_pin()
    needed = [core / "dist" / "index.js", root / "wasm-utils" / "dist" / "index.js", core / "wasm"]
    if not all(p.exists() for p in needed):
        raise UserError(f"the LiteRT.js runtime is not installed (looked in {root}); run scripts/setup_browser.sh "
                        f"(npm install {package}@{version}) or set VITSDK_LITERTJS_DIR")
    installed = json.loads((core / "package.json").read_text()).get("version")
    if installed != version:
        raise UserError(f"{core} holds {package} {installed}, this vitsdk runs {version}; run scripts/setup_browser.sh")
    routes = {"litert/core/dist/index.js": needed[0], "litert/wasm-utils/dist/index.js": needed[1]}
    for f in sorted(needed[2].iterdir()):
        if f.suffix in (".js", ".wasm"):
            routes[f"litert/core/wasm/{f.name}"] = f
    return routes


def find_chromium() -> str:
    named = os.environ.get("VITSDK_CHROMIUM")
    for candidate in [named] if named else (shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise UserError("Chromium not found; run scripts/setup_chromium.sh (apt-get install chromium), set "
                    "VITSDK_CHROMIUM=/path/to/chromium, or use --serve HOST:PORT and open the page on a phone")


def parse_serve(value: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' (loopback); port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]") if sep else ""
    try:
        number = int(port)
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise UserError(f"--serve '{value}': expected HOST:PORT (e.g. 0.0.0.0:8765 for a phone on this network, "
                        f"or :8765 for loopback)") from None
    return host or "127.0.0.1", number


@dataclass(frozen=True)
class BrowserOptions:
    """Args:
        accelerators: LiteRT.js accelerators to try, in order; those the browser lacks are skipped and named.
        threads: WebAssembly threads (only where the page is cross-origin isolated); None: all cores.
        serve: 'HOST:PORT' to wait for a phone; None: run headless Chromium here.
        headless: run headless Chromium here, said explicitly (what `serve=None` does); refused with `serve`.
        timeout_s: give up when the page has not finished by then.
        battery_wh: the phone battery's capacity, for the coarse battery-level energy figure.
        run_id: names the run (default: bundle name + UTC time).
        show_url: called with the page URL in serve mode (the CLI prints it with a QR code).
    """

    accelerators: tuple[str, ...] = ACCELERATORS
    threads: int | None = None
    serve: str | None = None
    headless: bool = False
    timeout_s: float = 3600.0
    battery_wh: float | None = None
    run_id: str | None = None
    show_url: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        if self.headless and self.serve:
            raise UserError("--headless runs the page here and --serve waits for a phone: give one of them")
        for name in self.accelerators:
            if name not in ACCELERATORS:
                raise unknown("accelerator", name, ACCELERATORS)
        if not self.accelerators:
            raise UserError("--accelerator: name at least one of " + ", ".join(ACCELERATORS))
        if self.threads is not None and self.threads < 1:
            raise UserError("--threads must be >= 1")
        if self.battery_wh is not None and self.battery_wh <= 0:
            raise UserError("--battery-wh must be > 0 (the battery's capacity in watt-hours)")
        if self.timeout_s <= 0:
            raise UserError("--timeout must be > 0")


def build_spec(bundle: Bundle, models: list[ModelFile], protocol: Protocol, options: BrowserOptions,
               run_id: str) -> dict:
    """What the page needs: the protocol (the page runs it in JavaScript), what to run and the skeleton of
    each results document."""
    ref = bundle.reference_files()
    ref_inputs = ref[0] if ref and bundle.inside(ref[0]).is_file() else None
    return {"run_id": run_id, "tool": tool_block(),
            "protocol": protocol.to_dict(), "accelerators": list(options.accelerators),
            "threads": options.threads, "battery_wh": options.battery_wh, "litert_version": litertjs_pin()[1],
            "reference_inputs": f"bundle/{ref_inputs}" if ref_inputs else None,
            "models": [{"url": f"bundle/{m.path}", "model": model_block(bundle, m)} for m in models]}


def _drive_headless(url: str, run: PageRun, deadline: float) -> None:
    """Opens the page in Debian's Chromium through Playwright (its own browser download does not work here)
    and waits until the page reports back, fails, or the deadline passes."""
    chromium = find_chromium()
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        raise UserError("headless runs need Playwright: pip install 'vitsdk[browser]' "
                        "(or use --serve HOST:PORT and open the page yourself)") from None
    page_errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vitsdk-chromium-") as profile, sync_playwright() as pw:
        try:
            context = pw.chromium.launch_persistent_context(profile, executable_path=chromium, headless=True,
                                                            args=list(CHROMIUM_FLAGS))
        except PlaywrightError as exc:
            raise UserError(f"cannot start {chromium}: {str(exc).splitlines()[0]}") from None
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.on("console", lambda msg: page_errors.append(msg.text) if msg.type == "error" else None)
            page.on("crash", lambda _page: run.fail("the page crashed (out of memory?)"))
            page.goto(url)
            while not run.finished.is_set():
                if time.monotonic() > deadline:
                    last = f" (last page error: {page_errors[-1][:300]})" if page_errors else ""
                    run.fail(f"the page did not report back before the timeout{last}")
                    break
                page.wait_for_timeout(100)   # lets Playwright dispatch the page's events
        finally:
            context.close()


def run_browser(bundle_path: str | os.PathLike, out_dir: str | os.PathLike, protocol: Protocol = Protocol(),
                options: BrowserOptions = BrowserOptions(), progress: Callable[[str], None] | None = None,
                ) -> list[tuple[Path, dict]]:
    """Benchmarks every .tflite file of the bundle in a browser with `protocol`; returns (results path,
    document) pairs."""
    progress = progress or (lambda _msg: None)
    bundle = load_bundle(bundle_path)
    models = [m for m in bundle.files if m.format == "tflite"]
    if not models:
        have = ", ".join(sorted({m.format for m in bundle.files}))
        raise UserError(f"bundle '{bundle.root}' has no .tflite file (it has: {have}); the browser runs LiteRT "
                        f"files: export one with `vitsdk export ... --target tflite` (or android, all)")
    for m in models:
        if file_sha256(bundle.path_of(m)) != m.sha256:
            raise UserError(f"{bundle.path_of(m)}: sha256 does not match the manifest (re-export the bundle)")
    run_id = options.run_id or new_run_id(bundle.root.resolve().name)
    spec = build_spec(bundle, models, protocol, options, run_id)
    address = parse_serve(options.serve) if options.serve else ("127.0.0.1", 0)
    server = BenchServer(bundle, models, spec, address, progress, runtime_routes())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    deadline = time.monotonic() + options.timeout_s
    try:
        if options.serve is None:
            _drive_headless(server.url(), server.run, deadline)
        else:
            (options.show_url or progress)(server.url())
            if not server.run.finished.wait(max(0.0, deadline - time.monotonic())):
                server.run.fail(f"no page reported back within {options.timeout_s:g} s (--timeout); was the URL "
                                f"opened on a device that reaches this machine?")
    except KeyboardInterrupt:
        server.run.fail("interrupted (Ctrl-C) before the page reported back")
    finally:
        server.shutdown()
        server.server_close()
    run = server.run
    if run.failure:
        raise UserError(f"browser bench: {run.failure}; nothing written")
    for s in run.skipped:
        progress(f"skip {s.get('accelerator')}: {s.get('reason')}")
    if not run.results:
        raise UserError("browser bench: the page ran no accelerator (" +
                        "; ".join(f"{s.get('accelerator')}: {s.get('reason')}" for s in run.skipped) + "); nothing written")
    out = []
    for model, accelerator, doc in run.results:
        assert doc["schema"] == RESULTS.tag
        path = Path(out_dir) / results_name(model.path, "litertjs", "browser", accelerator)
        write_json(path, doc)
        out.append((path, doc))
    return out
