"""The browser device: a bundle's .tflite files run with LiteRT.js in a web page, here or on any phone.

`run_browser(bundle, out_dir, options)` serves a small benchmark page (`browser_page/`, shipped in the
package) together with the bundle's .tflite files, its reference inputs and the LiteRT.js runtime (npm
`@litertjs/core`, installed into a cache by scripts/setup_browser.sh). The page runs the shared protocol
in JavaScript (`browser_page/protocol.mjs`, `stats.mjs`: tested against schemas/vectors like the apps'
cores) and posts one results document per model file and accelerator, with its outputs on the reference
inputs; the host validates each on arrival and judges the outputs with the same check as every other
device (`bench.numerics.check_outputs`). With `serve=None` it drives Debian's Chromium headless through Playwright;
with `serve="HOST:PORT"` it prints a URL (and a QR code) for a phone and waits.

The server is safe to leave on a LAN for one run: it binds loopback unless told otherwise, every path
carries a random token, only a fixed table of files is served (no path from a request ever reaches the
file system), posts are size-limited and schema-validated, and it stops after the run or on Ctrl-C.
"""
from __future__ import annotations

import datetime as dt
import errno
import hmac
import http.server
import json
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from vitsdk.atomic import write_json
from vitsdk.bench.bundle import Bundle, ModelFile, load_bundle
from vitsdk.bench.numerics import check_outputs
from vitsdk.hashing import file_sha256
from vitsdk.bench.protocol import Protocol
from vitsdk.formats.results import RESULTS, model_block, results_name, skipped_numerics, tool_block
from vitsdk.errors import UserError, unknown

PAGE_DIR = Path(__file__).resolve().parent / "browser_page"
PAGE_FILES = ("index.html", "bench.mjs", "stats.mjs", "protocol.mjs", "npy.mjs", "battery.mjs")
ACCELERATORS = ("wasm", "webgpu", "webnn")
MAX_POST_BYTES = 4 << 20   # a results document with 100k samples is ~2 MB; DeiT-S logits for 64 inputs ~1.3 MB
# Chromium as the tests run it (DESIGN.md): no sandbox as root, no GPU, nothing that phones home.
CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".mjs": "text/javascript", ".js": "text/javascript",
                 ".wasm": "application/wasm", ".json": "application/json"}
# Cross-origin isolation lets the page use SharedArrayBuffer, hence LiteRT.js's threaded WebAssembly.
SECURITY_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
                    "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-store",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


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


def lan_address() -> str:
    """This machine's address on its default route (no packet is sent), for the URL a phone opens."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


@dataclass(frozen=True)
class BrowserOptions:
    """Args:
        protocol: the measurement protocol (the page runs it in JavaScript).
        accelerators: LiteRT.js accelerators to try, in order; those the browser lacks are skipped and named.
        threads: WebAssembly threads (only where the page is cross-origin isolated); None: all cores.
        serve: 'HOST:PORT' to wait for a phone; None: run headless Chromium here.
        timeout_s: give up when the page has not finished by then.
        battery_wh: the phone battery's capacity, for the coarse battery-level energy figure.
        run_id: names the run (default: bundle name + UTC time).
        show_url: called with the page URL in serve mode (the CLI prints it with a QR code).
    """

    protocol: Protocol = Protocol()
    accelerators: tuple[str, ...] = ACCELERATORS
    threads: int | None = None
    serve: str | None = None
    timeout_s: float = 3600.0
    battery_wh: float | None = None
    run_id: str | None = None
    show_url: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
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


@dataclass
class _Run:
    """What the page has reported so far (filled by the server's threads, read by the waiting one)."""

    results: list[tuple[ModelFile, str, dict]] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failure: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, reason: str) -> None:
        with self.lock:
            self.failure = self.failure or reason
        self.finished.set()


class BenchServer(http.server.ThreadingHTTPServer):
    """Serves the page, the runtime and the bundle's files under /TOKEN/ and collects the posted results."""

    daemon_threads = True

    def __init__(self, bundle: Bundle, models: list[ModelFile], spec: dict, address: tuple[str, int],
                 progress: Callable[[str], None]):
        self.token = secrets.token_urlsafe(18)
        self.bundle, self.models, self.progress, self.run = bundle, {m.path: m for m in models}, progress, _Run()
        self.routes: dict[str, Path | bytes] = {name: PAGE_DIR / name for name in PAGE_FILES}
        self.routes.update(runtime_routes())
        for m in models:
            self.routes[f"bundle/{m.path}"] = bundle.path_of(m)
        if spec["reference_inputs"]:
            self.routes[spec["reference_inputs"]] = bundle.inside(spec["reference_inputs"].removeprefix("bundle/"))
        self.routes["spec.json"] = json.dumps(spec).encode()
        try:
            super().__init__(address, _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {address[1]} on {address[0]} is in use; pick another with --serve HOST:PORT "
                                f"(port 0 picks a free one)") from None
            raise UserError(f"cannot listen on {address[0]}:{address[1]} ({exc.strerror})") from None

    def url(self, host: str | None = None) -> str:
        bound, port = self.server_address[:2]
        host = host or (lan_address() if bound in ("0.0.0.0", "") else bound)
        return f"http://{host}:{port}/{self.token}/index.html"

    def accept(self, envelope: object) -> str | None:
        """Takes one posted {results, outputs}; returns why it is refused, or None."""
        if not isinstance(envelope, dict) or not isinstance(envelope.get("results"), dict):
            return "the post is not a JSON object with a 'results' document"
        doc = envelope["results"]
        problems = RESULTS.errors(doc)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return f"the results document fails schemas/results.schema.json: {problems[0]}{more}"
        model = self.models.get(doc["model"]["file"])
        if model is None or doc["model"]["sha256"] != model.sha256:
            return f"results for '{doc['model']['file']}', which this run did not serve"
        if doc["device"]["platform"] != "browser" or doc["runtime"]["name"] != "litert.js":
            return "results from another platform or runtime than browser / litert.js"
        if doc["status"] != "failed":
            doc["numerics"] = _judge(self.bundle, model, envelope.get("outputs"))
            problems = RESULTS.errors(doc)
            if problems:
                return f"the numerics check does not fit the schema: {problems[0]}"
        with self.run.lock:
            self.run.results.append((model, doc["runtime"]["delegate"], doc))
        return None


def _judge(bundle: Bundle, model: ModelFile, outputs: object) -> dict:
    """The posted outputs on the reference inputs against the reference outputs (`check_outputs`)."""
    ref = bundle.reference()
    if ref is None:
        return skipped_numerics("the bundle has no reference arrays")
    if not isinstance(outputs, dict) or not isinstance(outputs.get("count"), int) or outputs["count"] < 1:
        return skipped_numerics("the page could not run the reference inputs (shape mismatch)")
    count = outputs["count"]
    try:
        got = np.asarray(outputs["data"], dtype=np.float64)
        got = got.reshape((count,) + ref[1].shape[1:]) if got.size == count * int(np.prod(ref[1].shape[1:])) \
            else got.reshape(count, -1)
    except (TypeError, ValueError) as exc:
        return {"status": "fail", "reason": f"the posted outputs are not {count} numeric rows ({exc})"}
    return check_outputs(bundle, model, lambda _batch: got, (count,) + tuple(ref[0].shape[1:]), np.dtype(np.float32))


class _Handler(http.server.BaseHTTPRequestHandler):
    server: BenchServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the CLI prints progress instead of an access log
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> str | None:
        """The route after /TOKEN/, or None (answered 403) when the token is missing or wrong."""
        path = urlsplit(self.path).path
        token, _, rest = path.lstrip("/").partition("/")
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            self._send(403, b"forbidden: this URL needs the run's token\n")
            return None
        return rest

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        route = self._route()
        if route is None:
            return
        target = self.server.routes.get(route or "index.html")
        if target is None:
            self._send(404, b"not found: only the page, its runtime and the bundle's model files are served\n")
            return
        body = target if isinstance(target, bytes) else target.read_bytes()
        self._send(200, body, CONTENT_TYPES.get(Path(route or "index.html").suffix, "application/octet-stream"))

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        route = self._route()
        if route is None:
            return
        if route not in ("result", "event", "done"):
            self._send(404, b"not found\n")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(411, b"a post needs a Content-Length\n")
            return
        if length > MAX_POST_BYTES:
            self.close_connection = True
            self._send(413, f"a post may hold at most {MAX_POST_BYTES} bytes\n".encode())
            return
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._send(400, b"not JSON\n")
            return
        run = self.server.run
        if route == "result":
            refused = self.server.accept(body)
            if refused:
                run.fail(f"a posted result was rejected: {refused}")
                self._send(400, (refused + "\n").encode())
                return
        elif route == "event":
            kind = body.get("kind") if isinstance(body, dict) else None
            message = str(body.get("message", ""))[:2000] if isinstance(body, dict) else ""
            if kind == "error":
                run.fail(f"the page failed: {message}")
            else:
                self.server.progress(f"page: {message}")
        else:
            skipped = body.get("skipped") if isinstance(body, dict) else None
            with run.lock:
                run.skipped = [s for s in skipped or [] if isinstance(s, dict)]
            run.finished.set()
        self._send(200, b"ok\n")


def build_spec(bundle: Bundle, models: list[ModelFile], options: BrowserOptions, run_id: str) -> dict:
    """What the page needs: the protocol, what to run and the skeleton of each results document."""
    ref = bundle.reference_files()
    ref_inputs = ref[0] if ref and bundle.inside(ref[0]).is_file() else None
    return {"run_id": run_id, "tool": tool_block(),
            "protocol": options.protocol.to_dict(), "accelerators": list(options.accelerators),
            "threads": options.threads, "battery_wh": options.battery_wh, "litert_version": litertjs_pin()[1],
            "reference_inputs": f"bundle/{ref_inputs}" if ref_inputs else None,
            "models": [{"url": f"bundle/{m.path}", "model": model_block(bundle, m)} for m in models]}


def _drive_headless(url: str, run: _Run, deadline: float) -> None:
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


def run_browser(bundle_path: str | os.PathLike, out_dir: str | os.PathLike, options: BrowserOptions = BrowserOptions(),
                progress: Callable[[str], None] | None = None) -> list[tuple[Path, dict]]:
    """Benchmarks every .tflite file of the bundle in a browser; returns (results path, document) pairs."""
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
    run_id = options.run_id or f"{bundle.root.resolve().name}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
    spec = build_spec(bundle, models, options, run_id)
    address = parse_serve(options.serve) if options.serve else ("127.0.0.1", 0)
    server = BenchServer(bundle, models, spec, address, progress)
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
