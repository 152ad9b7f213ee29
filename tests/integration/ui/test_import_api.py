"""The console's import API over real sockets: a bundle gathered from the session
VictoriaMetrics is uploaded, preflighted and imported into a second, empty one; cancel and
resume go through a proxy that slows every import POST down; wrong credentials through
vmauth fail with a clear answer.

``SlowProxy`` and ``gather_bundle`` are reused by ``tests/e2e/test_import_wizard.py``.
"""

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
import orjson
import pytest

from integration.test_tsdb_client import tls_vm
from promkit.bundle.export import ExportSpec, LocalContext, run_export
from promkit.core.connection import Connection
from promkit.core.tsdb import TSDBClient
from promkit.core.web import TOKEN_HEADER
from support.browser import ConsoleServer, start_console
from support.servers import VMAuthServer, VMServer

pytestmark = pytest.mark.integration
__all__ = ["tls_vm"]  # the HTTPS VictoriaMetrics fixture (self-signed certificate)

STEP = 15_000
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


@dataclass
class SlowProxy:
    """Forwards everything to ``backend``; every ``/api/v1/import`` POST waits ``delay_s``."""

    backend: str
    delay_s: float = 0.4
    imports: int = 0
    server: ThreadingHTTPServer | None = None
    client: httpx.Client = field(
        default_factory=lambda: httpx.Client(timeout=60.0, headers={"Accept-Encoding": "identity"})
    )

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> SlowProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.split("?")[0].endswith("/api/v1/import"):
                    proxy.imports += 1
                    time.sleep(proxy.delay_s)
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP]
                r = proxy.client.request(
                    self.command, proxy.backend + self.path, headers=headers, content=body
                )
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in _HOP | {"content-length", "content-encoding"}:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.client.close()


def gather_bundle(vm: VMServer, out: Path, tag: str, *, series: int = 30) -> tuple[Path, int]:
    """Seed ``series`` series of 1 h (15 s step, ending 3 h ago) and export them with the gather
    engine into ``out``; returns the bundle and its number of samples."""
    end = (int(time.time() * 1000) - 3 * 3600_000) // STEP * STEP
    stamps = list(range(end - 3600_000 + STEP, end + 1, STEP))
    rows = [
        {
            "metric": {"__name__": f"{tag}_load", "instance": f"10.9.0.{i}:9100", "job": "imp"},
            "values": [float(i + k) for k in range(len(stamps))],
            "timestamps": stamps,
        }
        for i in range(series)
    ]
    vm.import_lines(rows)
    vm.flush()
    spec = ExportSpec(
        mode="selector",
        selector=f'{{__name__="{tag}_load"}}',
        start_ms=stamps[0] - STEP,
        end_ms=end + STEP,
        window_ms=3600_000,
    )
    with TSDBClient(Connection.from_url(vm.url)) as client:
        result = run_export(client, spec, LocalContext(out / ".export-staging"), output_dir=out)
    return Path(result.bundle_path), series * len(stamps)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleServer]:
    server = start_console(tmp_path / "console-out")
    yield server
    server.stop()


@pytest.fixture
def tag() -> str:
    return "impapi_" + uuid.uuid4().hex[:8]


def _call(console: ConsoleServer, method: str, route: str, **kw: Any) -> httpx.Response:
    headers = {TOKEN_HEADER: console.token, **kw.pop("headers", {})}
    return httpx.request(
        method, console.url + route.lstrip("/"), headers=headers, timeout=120.0, **kw
    )


def _wait(console: ConsoleServer, job_id: str, until: Callable[[dict[str, Any]], bool]) -> Any:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = _call(console, "GET", "/api/import/status", params={"id": job_id}).json()
        if until(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"import job {job_id} did not get there: {status}")


def _target_samples(url: str, match: str) -> list[int]:
    r = httpx.post(
        f"{url}/api/v1/export",
        data={"match[]": match, "start": "0"},
        headers={"Accept-Encoding": "identity"},
        timeout=60.0,
    )
    r.raise_for_status()
    stamps: list[int] = []
    for line in r.content.splitlines():
        if line.strip():
            stamps.extend(orjson.loads(line)["timestamps"])
    return sorted(stamps)


def test_upload_preflight_import_shift_now_cancel_resume_verify(
    console: ConsoleServer,
    vm: VMServer,
    vm_factory: Callable[..., VMServer],
    tmp_path: Path,
    tag: str,
) -> None:
    bundle, samples = gather_bundle(vm, tmp_path / "gathered", tag)
    target = vm_factory()
    proxy = SlowProxy(target.url).start()
    try:
        up = _call(
            console,
            "POST",
            "/api/import/upload",
            params={"name": bundle.name},
            content=bundle.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert up.status_code == 200, up.text
        ref = up.json()
        assert ref["kind"] == "promkit" and ref["checksum"] is True
        options = {"bundle_id": ref["bundle_id"], "connection": {"url": proxy.url}}

        pre = _call(console, "POST", "/api/import/preflight", json={**options, "shift": "now"})
        assert pre.status_code == 200, pre.text
        report = pre.json()
        assert report["series"] == 30 and report["samples"] == samples
        assert report["target"]["retention_source"] == "flag"  # read from the real VM
        assert report["shifted_last_ms"] == report["now_ms"]
        assert report["samples_outside_retention"] == 0

        start = _call(
            console,
            "POST",
            "/api/import/start",
            json={**options, "shift": "now", "chunk_kib": 16, "verify_timeout_s": 30},
        )
        assert start.status_code == 200, start.text
        job_id = start.json()["job_id"]
        _wait(console, job_id, lambda s: s["completed_windows"] >= 1)
        canceled = _call(console, "POST", "/api/import/cancel", json={"job_id": job_id})
        assert canceled.status_code == 200, canceled.text
        stopped = _wait(console, job_id, lambda s: s["state"] == "canceled")
        assert 0 < stopped["completed_windows"] < stopped["total_windows"], stopped
        resumed = _call(console, "POST", "/api/import/resume", json={"job_id": job_id})
        assert resumed.status_code == 200, resumed.text
        done = _wait(console, job_id, lambda s: s["state"] in ("completed", "failed"))
    finally:
        proxy.stop()
    assert done["state"] == "completed", (done["error"], done["hint"])
    result = done["result"]
    assert result["resumed_from_chunk"] >= 1 and done["resumes"] == 1
    assert result["samples_sent"] == samples and result["dropped_retention"] == 0
    assert result["verification"]["verified"], result["verification"]
    shift = result["shift_ms"]
    source = _target_samples(vm.url, f'{{__name__="{tag}_load"}}')
    landed = _target_samples(target.url, f'{{__name__="{tag}_load"}}')
    assert landed == [t + shift for t in source]  # every sample once, shifted exactly


def test_import_picks_a_bundle_from_the_output_dir_and_refuses_a_wrong_password(
    console: ConsoleServer, vm: VMServer, vmauth: VMAuthServer, tag: str
) -> None:
    bundle, _ = gather_bundle(vm, console.output_dir, tag, series=2)
    listed = _call(console, "GET", "/api/import/bundles").json()
    assert f"out/{bundle.name}" in {b["bundle_id"] for b in listed["bundles"]}
    secret = "not-the-pass-word"
    body = {
        "bundle_id": f"out/{bundle.name}",
        "connection": {
            "url": vmauth.tenant_base(),
            "auth": {"type": "basic", "username": vmauth.username, "password": secret},
        },
    }
    r = _call(console, "POST", "/api/validate", json={"connection": body["connection"]})
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"] and secret not in r.text
    start = _call(console, "POST", "/api/import/start", json=body)
    assert start.status_code in (400, 401), start.text  # refused before any job starts
    assert start.json()["error"] and start.json()["hint"] and secret not in start.text


def test_upload_of_a_damaged_bundle_is_refused(
    console: ConsoleServer, vm: VMServer, tmp_path: Path, tag: str
) -> None:
    bundle, _ = gather_bundle(vm, tmp_path / "gathered", tag, series=2)
    data = bytearray(bundle.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 64] = b"\0" * 64  # inside the compressed data
    r = _call(
        console,
        "POST",
        "/api/import/upload",
        params={"name": "damaged.zip"},
        content=bytes(data),
        headers={"Content-Type": "application/octet-stream"},
    )
    if r.status_code == 200:  # the ZIP directory survived: the damage shows while reading
        pre = _call(
            console,
            "POST",
            "/api/import/preflight",
            json={"bundle_id": r.json()["bundle_id"], "connection": {"url": vm.url}},
        )
        assert pre.status_code == 422, pre.text
        body = pre.json()
    else:
        assert r.status_code == 422, r.text
        body = r.json()
    assert body["error"] and body["hint"]


def test_tls_is_never_downgraded_by_the_console(
    console: ConsoleServer, vm: VMServer, tls_vm: tuple[str, Path], tmp_path: Path, tag: str
) -> None:
    url, cert = tls_vm
    bundle, samples = gather_bundle(vm, console.output_dir, tag, series=2)
    options: dict[str, Any] = {"bundle_id": f"out/{bundle.name}", "connection": {"url": url}}
    for route in ("/api/import/preflight", "/api/import/start"):
        r = _call(console, "POST", route, json=options)
        assert r.status_code == 502, r.text  # a self-signed certificate is refused...
        assert "TLS" in r.json()["error"] and "ca_file" in r.json()["hint"]
    options["connection"]["ca_file"] = str(cert)  # ...until the user says whom to trust
    start = _call(console, "POST", "/api/import/start", json={**options, "verify_timeout_s": 30})
    assert start.status_code == 200, start.text
    done = _wait(console, start.json()["job_id"], lambda s: s["state"] in ("completed", "failed"))
    assert done["state"] == "completed", (done["error"], done["hint"])
    assert done["result"]["samples_sent"] == samples
