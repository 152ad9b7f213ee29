"""Helpers for import tests: bundles from real exports, a fault-injecting proxy, export reads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


@dataclass
class FaultProxy:
    """Forwards everything to ``backend``; ``fail(n)`` answers import request ``n`` (0-based)
    with a status instead (e.g. 503), ``None`` = forward it."""

    backend: str
    fail: Callable[[int], int | None] = lambda n: None
    imports: list[int] = field(default_factory=list)  # statuses answered to import requests
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _handler(proxy: FaultProxy, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in _HOP and k.lower() not in (
                    "content-length",
                    "content-encoding",
                ):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            body = self._body()
            if self.path.split("?")[0].endswith("/api/v1/import"):
                with lock:
                    n = len(proxy.imports)
                    status = proxy.fail(n)
                    proxy.imports.append(status or 204)
                if status is not None:
                    self._answer(status, b"injected failure", [])
                    return
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP]
            r = client.request(
                self.command, proxy.backend + self.path, headers=headers, content=body
            )
            self._answer(r.status_code, r.content, list(r.headers.multi_items()))

        do_GET = do_POST = do_HEAD = _forward

    return Handler


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    started: list[tuple[ThreadingHTTPServer, httpx.Client]] = []

    def make(backend: str, fail: Callable[[int], int | None] = lambda n: None) -> FaultProxy:
        proxy = FaultProxy(backend, fail)
        client = httpx.Client(timeout=120.0, headers={"Accept-Encoding": "identity"})
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy, client))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        proxy.server = server
        started.append((server, client))
        return proxy

    yield make
    for server, client in started:
        server.shutdown()
        server.server_close()
        client.close()


def exported(
    url: str, match: str, **params: Any
) -> dict[tuple[tuple[str, str], ...], list[tuple[int, Any]]]:
    """Every (timestamp, value) per series of ``match`` on a VictoriaMetrics, sorted."""
    r = httpx.post(
        f"{url}/api/v1/export",
        data={"match[]": match, "start": "0", **params},
        headers={"Accept-Encoding": "identity"},
        timeout=60.0,
    )
    r.raise_for_status()
    out: dict[tuple[tuple[str, str], ...], list[tuple[int, Any]]] = {}
    for raw in r.content.splitlines():
        if not raw.strip():
            continue
        fixed = raw.replace(b"+Inf", b'"+Inf"').replace(b"-Inf", b'"-Inf"')
        row = orjson.loads(fixed)
        key = tuple(sorted(row["metric"].items()))
        out.setdefault(key, []).extend(zip(row["timestamps"], row["values"], strict=True))
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture
def export_points() -> Callable[..., dict[tuple[tuple[str, str], ...], list[tuple[int, Any]]]]:
    """``export_points(url, match)``: every (timestamp, value) per series, sorted."""
    return exported
