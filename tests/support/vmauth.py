"""vmauth 1.79 in front of a VictoriaMetrics, routed like a managed (tenant) endpoint."""

from __future__ import annotations

import http.server
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import yaml

from support.process import (
    ManagedProcess,
    ServerUnavailable,
    free_port,
    http_ok,
    require_binary,
)

if TYPE_CHECKING:
    from support.servers import VMServer

# vmauth 1.79 appends the whole request path to `url_prefix` (no `drop_src_path_prefix_parts`
# yet), and VictoriaMetrics single-node only understands `/api/v1/*` and `/prometheus/api/v1/*`.
# A managed setup maps `/<tenant>/rw/prometheus/...` and `/<tenant>/prometheus/...` onto the
# storage; this tiny in-process rewriter plays that internal part behind vmauth, while vmauth
# itself does the authentication and the route table (and its "missing route" errors).
_TENANT_PATH = re.compile(r"^/(?P<tenant>[0-9]+)(?:/rw)?/prometheus/(?P<rest>.*)$")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
}
_RW_ROUTES = "|".join(
    [
        "query",
        "query_range",
        "series",
        "labels",
        "label/[^/]+/values",
        "status/[a-z_/]+",
        "import",
        "import/prometheus",
        "write",
    ]
)


class _TenantRewriteHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TenantRewriteServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self) -> None:
        split = urlsplit(self.path)
        match = _TENANT_PATH.match(split.path)
        body = self._body()
        if match is None:
            self.send_error(404, f"rewriter: no tenant path in {split.path}")
            return
        target = f"{self.server.backend}/prometheus/{match['rest']}"
        if split.query:
            target += f"?{split.query}"
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        try:
            self._relay(target, headers, body)
        except httpx.TransportError as exc:  # backend gone: answer like a proxy would
            self.send_error(502, f"rewriter: backend {self.server.backend} failed: {exc}")

    def _relay(self, target: str, headers: list[tuple[str, str]], body: bytes) -> None:
        with self.server.client.stream(self.command, target, headers=headers, content=body) as r:
            self.send_response(r.status_code)
            for k, v in r.headers.multi_items():
                if k.lower() not in _HOP_BY_HOP:
                    self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in r.iter_raw():
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _forward


class _TenantRewriteServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backend: str) -> None:
        super().__init__(("127.0.0.1", 0), _TenantRewriteHandler)
        self.backend = backend
        self.client = httpx.Client(timeout=httpx.Timeout(300.0, connect=5.0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, name="vmauth-rewriter", daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.client.close()


@dataclass
class VMAuthServer:
    """vmauth 1.79.5 in front of the session VictoriaMetrics (``.vm``), set up like a
    managed/vmauth endpoint. ``<t>`` is any tenant number (e.g. ``1011``); every tenant sees
    the same data: seed it with ``vmauth.vm.seed(...)`` / ``vm.import_lines(...)``.

    Routes (identical for both users):

    - ``<url>/<t>/rw/prometheus/api/v1/`` + ``query``, ``query_range``, ``series``, ``labels``,
      ``label/<name>/values``, ``status/...``, ``import``, ``import/prometheus``, ``write``
      (``tenant_base(t)``; queries keep ``/rw/``)
    - ``<url>/<t>/prometheus/api/v1/export`` (``export_base(t)``; export ONLY here)
    - anything else, e.g. ``<t>/rw/prometheus/api/v1/export`` or ``/api/v1/query``:
      HTTP 400 ``cannot determine targetURL: missing route for "<path>"``.
    - ``<url>/health`` and ``<url>/metrics`` are vmauth's own and need no auth (``/metrics``
      holds ``vmauth_*`` series).

    Auth (vmauth 1.79 reads only the ``Authorization`` header, so a "custom header" can only
    be ``Authorization: Basic ...``/``Bearer ...``; ``Proxy-Authorization`` and other names
    are not checked):

    - basic ``username``/``password`` (``user``/``pass-word``); ``basic_auth`` is the tuple
    - bearer ``bearer_token``; ``bearer_headers`` is ``{"Authorization": "Bearer ..."}``
    - no ``Authorization`` header: 401 (``missing `Authorization` request header``);
      a wrong password or token: **400** ``cannot find the provided auth token ...``.
    """

    process: ManagedProcess
    port: int
    vm: VMServer
    config_path: Path
    rewriter: _TenantRewriteServer
    username: str = "user"
    password: str = "pass-word"
    bearer_token: str = "promkit-test-bearer-token"
    default_tenant: str = "1011"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tenant_base(self, tenant: str | int | None = None) -> str:
        """The managed-style base URL ``<url>/<t>/rw/prometheus`` (queries, import)."""
        return f"{self.url}/{self._tenant(tenant)}/rw/prometheus"

    def export_base(self, tenant: str | int | None = None) -> str:
        """``<url>/<t>/prometheus``: the only base under which ``/api/v1/export`` works."""
        return f"{self.url}/{self._tenant(tenant)}/prometheus"

    @property
    def basic_auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    @property
    def bearer_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}"}

    def _tenant(self, tenant: str | int | None) -> str:
        value = str(self.default_tenant if tenant is None else tenant)
        if not value.isdigit():
            raise ValueError(f"vmauth test routes accept numeric tenants only, got {value!r}")
        return value

    def stop(self) -> None:
        self.process.stop()
        self.rewriter.stop()


def vmauth_config(backend: str, username: str, password: str, bearer_token: str) -> str:
    routes = [
        {"src_paths": [f"/[0-9]+/rw/prometheus/api/v1/({_RW_ROUTES})"], "url_prefix": backend},
        {"src_paths": ["/[0-9]+/prometheus/api/v1/export"], "url_prefix": backend},
    ]
    users = [
        {"username": username, "password": password, "url_map": routes},
        {"bearer_token": bearer_token, "url_map": routes},
    ]
    return yaml.safe_dump({"users": users}, sort_keys=False)


def start_vmauth(base_dir: Path, vm: VMServer) -> VMAuthServer:
    binary = require_binary("vmauth")
    rewriter = _TenantRewriteServer(vm.url)
    rewriter.start()
    port = free_port()
    config_path = base_dir / f"vmauth-{port}.yml"
    creds = {
        "username": "user",
        "password": "pass-word",
        "bearer_token": "promkit-test-bearer-token",
    }
    config_path.write_text(vmauth_config(rewriter.url, **creds))
    proc = ManagedProcess(
        name="vmauth",
        argv=[
            binary,
            f"-auth.config={config_path}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-loggerLevel=WARN",
        ],
        log_path=base_dir / f"vmauth-{port}.log",
    )
    proc.start()
    try:
        proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/health"))
    except ServerUnavailable:
        rewriter.stop()
        raise
    return VMAuthServer(
        process=proc, port=port, vm=vm, config_path=config_path, rewriter=rewriter, **creds
    )
