"""Helpers for fire integration tests: configs on disk, the CLI in-process, a fault proxy."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from promkit.fire.cli import app


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run ``promkit fire ...`` in-process, mapping PromkitError to its exit code."""
    from promkit.core.errors import PromkitError

    runner = CliRunner()
    result = runner.invoke(app, list(args), catch_exceptions=True)
    exc = result.exception
    if isinstance(exc, PromkitError):
        return CliResult(exc.exit_code, result.stdout, f"error: {exc.message}")
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def write(data: dict[str, Any]) -> Path:
        path = tmp_path / f"fire-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def metric() -> str:
    return f"fire_src_{uuid.uuid4().hex[:10]}"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class FaultProxy:
    """Forwards to ``upstream``; answers ``script`` statuses first (then forwards)."""

    upstream: str
    script: list[int]
    body: bytes = b"injected failure"
    always: int | None = None
    seen: list[int] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/write"

    def start(self) -> None:
        proxy = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    status = proxy.always or (proxy.script.pop(0) if proxy.script else 0)
                if status:
                    proxy.seen.append(status)
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", str(len(proxy.body)))
                    self.end_headers()
                    self.wfile.write(proxy.body)
                    return
                r = httpx.post(
                    proxy.upstream,
                    content=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
                proxy.seen.append(r.status_code)
                self.send_response(r.status_code)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    started: list[FaultProxy] = []

    def make(upstream: str, script: list[int] | None = None, **kw: Any) -> FaultProxy:
        p = FaultProxy(upstream, list(script or []), **kw)
        p.start()
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


@pytest.fixture
def fire_cli() -> Callable[..., CliResult]:
    return run_cli
