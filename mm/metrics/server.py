"""The monitor's HTTP server: the dashboard page, its JSON state, and /metrics.

Edge module. A stdlib ``ThreadingHTTPServer`` on its own daemon thread (the monitor's main
loop stays synchronous), bound to the configured host, 127.0.0.1 by default. Routes, GET or
HEAD only:

- ``/``: the dashboard (mm/dashboard/page.html: one self-contained page, inline CSS and JS,
  no external asset; a Content-Security-Policy header forbids loading any).
- ``/api/state``: the latest ``MonitorState.snapshot()`` as JSON (the page polls it).
- ``/metrics``: Prometheus text format from the monitor's own registry.
- ``/healthz``: ``ok``.

The state comes from a ``provider`` called on demand (the monitor builds it under its lock),
at most once per ``cache_ms``: a dashboard and a Prometheus scraper share one build, and
nothing is built while nobody looks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mm.dashboard import load_page
from mm.metrics.registry import make_registry

log = logging.getLogger("mm")

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
       "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: MonitorHttpServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "mm-monitor"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s: " + format, self.address_string(), *args)

    def _send(self, code: int, ctype: str, body: bytes, head: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if ctype.startswith("text/html"):
            self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, head: bool) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        try:
            if path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", owner.page, head)
            elif path == "/api/state":
                self._send(200, "application/json", owner.current()[1], head)
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(owner.registry), head)
            elif path == "/healthz":
                self._send(200, "text/plain; charset=utf-8", b"ok\n", head)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n", head)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._route(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(head=True)


class MonitorHttpServer:
    """Serves the dashboard, /api/state and /metrics from the last published state."""

    def __init__(self, provider: Callable[[], Mapping[str, Any]], host: str = "127.0.0.1", port: int = 0,
                 cache_ms: int = 200) -> None:
        self.page = load_page()
        self.provider = provider
        self.cache_ns = cache_ms * 1_000_000
        self._enc = msgspec.json.Encoder()
        self._lock = threading.Lock()
        self._cached: tuple[int, Mapping[str, Any], bytes] | None = None
        self.registry = make_registry(lambda: self.current()[0])
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        addr = self._httpd.server_address
        self.host: str | bytes = addr[0]
        self.port = int(addr[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        h = self.host.decode() if isinstance(self.host, bytes) else str(self.host)
        host = f"[{h}]" if ":" in h else h
        return f"http://{host}:{self.port}"

    def current(self) -> tuple[Mapping[str, Any], bytes]:
        """The state and its JSON, built by the provider unless a build is fresh enough."""
        with self._lock:
            now = time.monotonic_ns()
            c = self._cached
            if c is None or now - c[0] >= self.cache_ns:
                state = self.provider()
                c = self._cached = (now, state, self._enc.encode(state))
            return c[1], c[2]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mm-monitor-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
