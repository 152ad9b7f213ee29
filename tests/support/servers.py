"""Real servers for tests: start on free loopback ports with temp data dirs, stop by PID.

Every server is a ``ManagedProcess``: a command, a readiness URL polled with a deadline, a
log file kept for failure messages. Nothing here is a fake: the binaries come from the
Debian packages that ``scripts/install-system-deps.sh`` installs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

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


@dataclass
class ManagedProcess:
    """A child process started for a test session and stopped by PID."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
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
            os.killpg(self.proc.pid, signal.SIGTERM)
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
