"""Real servers for tests: start on free loopback ports with temp data dirs, stop by PID.

Every server is a ``ManagedProcess``: a command, a readiness URL polled with a deadline, a
log file kept for failure messages. Nothing here is a fake: the binaries come from the
Debian packages that ``scripts/install-system-deps.sh`` installs.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import yaml

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


class ServerUnavailable(RuntimeError):
    """A server binary is missing or did not become ready."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServerUnavailable(f"{name} is not installed (run scripts/install-system-deps.sh)")
    return path


def _primary_group(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


@dataclass
class ManagedProcess:
    """A child process started for a test session and stopped by PID."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None  # run as this system user (PostgreSQL refuses root)
    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(self.env) if self.env is not None else None,
            cwd=self.cwd,
            user=self.user,
            group=_primary_group(self.user) if self.user is not None else None,
            extra_groups=[] if self.user is not None else None,
            start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, probe: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll ``probe`` until it returns True; fail with the log tail on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerUnavailable(f"{self.name} exited early:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                if probe():
                    return
            time.sleep(0.1)
        self.stop()
        raise ServerUnavailable(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, self.stop_signal)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)


def http_ok(url: str, **kwargs: Any) -> Callable[[], bool]:
    def probe() -> bool:
        return httpx.get(url, timeout=2.0, **kwargs).status_code < 500

    return probe


# --------------------------------------------------------------------------- VictoriaMetrics


@dataclass
class VMServer:
    """A running VictoriaMetrics single-node with helpers to seed and read it."""

    process: ManagedProcess
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def flush(self) -> None:
        """Make freshly imported samples visible to queries and /api/v1/series at once."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=30.0).raise_for_status()

    def import_lines(self, lines: Iterable[Mapping[str, Any] | bytes | str]) -> None:
        """POST VM JSON lines to /api/v1/import, then flush."""
        body = bytearray()
        for line in lines:
            if isinstance(line, bytes):
                body += line.rstrip(b"\n")
            elif isinstance(line, str):
                body += line.rstrip("\n").encode()
            else:
                body += orjson.dumps(line)
            body += b"\n"
        r = httpx.post(f"{self.url}/api/v1/import", content=bytes(body), timeout=120.0)
        if r.status_code != 204:
            raise AssertionError(f"import failed: {r.status_code} {r.text}")
        self.flush()

    def seed(
        self,
        metric: str,
        labels: Mapping[str, str],
        values: Iterable[float],
        timestamps_ms: Iterable[int],
    ) -> None:
        """Import one series."""
        self.import_lines(
            [
                {
                    "metric": {"__name__": metric, **labels},
                    "values": list(values),
                    "timestamps": list(timestamps_ms),
                }
            ]
        )

    def query(self, promql: str, **params: Any) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql, **params}, timeout=30.0)
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result

    def export(self, match: str, **params: Any) -> list[dict[str, Any]]:
        """Raw samples of ``match`` as parsed JSON lines (test-sized data only)."""
        r = httpx.post(
            f"{self.url}/api/v1/export",
            data={"match[]": match, **params},
            headers={"Accept-Encoding": "identity"},
            timeout=60.0,
        )
        r.raise_for_status()
        return [orjson.loads(x) for x in r.content.splitlines() if x.strip()]

    def stop(self) -> None:
        self.process.stop()


def start_victoria_metrics(
    base_dir: Path, *, extra_args: Iterable[str] = (), name: str = "victoria-metrics"
) -> VMServer:
    binary = require_binary("victoria-metrics")
    port = free_port()
    data_dir = base_dir / f"{name}-{port}"
    data_dir.mkdir(parents=True)
    proc = ManagedProcess(
        name=name,
        argv=[
            binary,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={data_dir}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
            *extra_args,
        ],
        log_path=base_dir / f"{name}-{port}.log",
    )
    proc.start()
    proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/health"))
    return VMServer(process=proc, port=port, data_dir=data_dir)


# --------------------------------------------------------------------------- vmauth

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
