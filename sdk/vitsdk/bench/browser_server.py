"""The browser device's HTTP server: serves the benchmark page, the LiteRT.js runtime and the bundle's
.tflite files, and collects the results documents the page posts (`bench/browser.py` runs it).

It is safe to leave on a LAN for one run: it binds loopback unless told otherwise, every path carries a
random token, only a fixed table of files is served (no path from a request ever reaches the file
system), posts are size-limited and schema-validated, and it stops after the run or on Ctrl-C. Each
posted document's outputs on the reference inputs are judged here with the check every device uses
(`bench.numerics.check_outputs`).
"""
from __future__ import annotations

import errno
import hmac
import http.server
import json
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from vitsdk.bench.numerics import check_outputs
from vitsdk.errors import UserError
from vitsdk.formats.manifest import Bundle, ModelFile
from vitsdk.formats.results import RESULTS, skipped_numerics

PAGE_DIR = Path(__file__).resolve().parent / "browser_page"
PAGE_FILES = ("index.html", "bench.mjs", "stats.mjs", "protocol.mjs", "npy.mjs", "battery.mjs")
MAX_POST_BYTES = 4 << 20   # a results document with 100k samples is ~2 MB; DeiT-S logits for 64 inputs ~1.3 MB
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".mjs": "text/javascript", ".js": "text/javascript",
                 ".wasm": "application/wasm", ".json": "application/json"}
# Cross-origin isolation lets the page use SharedArrayBuffer, hence LiteRT.js's threaded WebAssembly.
SECURITY_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
                    "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-store",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def lan_address() -> str:
    """This machine's address on its default route (no packet is sent), for the URL a phone opens."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


@dataclass
class PageRun:
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
    """Serves the page, the runtime (`runtime`: its files by URL path) and the bundle's files under /TOKEN/ and
    collects the posted results."""

    daemon_threads = True

    def __init__(self, bundle: Bundle, models: list[ModelFile], spec: dict, address: tuple[str, int],
                 progress: Callable[[str], None], runtime: dict[str, Path]):
        self.token = secrets.token_urlsafe(18)
        self.bundle, self.models, self.progress, self.run = bundle, {m.path: m for m in models}, progress, PageRun()
        self.routes: dict[str, Path | bytes] = {name: PAGE_DIR / name for name in PAGE_FILES}
        self.routes.update(runtime)
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
