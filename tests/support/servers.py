"""Real servers for tests: start on free loopback ports with temp data dirs, stop by PID.

This module is the one import point (`from support.servers import ...`); each server kind
lives in its own module (process, vmauth, postgres, object_storage, docker_image).

Every server is a ``ManagedProcess``: a command, a readiness URL polled with a deadline, a
log file kept for failure messages. Nothing here is a fake: the binaries come from the
Debian packages that ``scripts/install-system-deps.sh`` installs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from support.object_storage import GCSServer, S3Server, start_gcs, start_s3
from support.postgres import PostgresServer, start_postgres
from support.process import (
    IN_CI,
    ManagedProcess,
    ServerUnavailable,
    free_port,
    http_ok,
    require_binary,
)
from support.vmauth import VMAuthServer, start_vmauth

__all__ = [
    "IN_CI",
    "GCSServer",
    "ManagedProcess",
    "PostgresServer",
    "PrometheusServer",
    "S3Server",
    "ServerUnavailable",
    "VMAuthServer",
    "VMServer",
    "free_port",
    "http_ok",
    "require_binary",
    "start_gcs",
    "start_postgres",
    "start_prometheus",
    "start_s3",
    "start_victoria_metrics",
    "start_vmauth",
]


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


# --------------------------------------------------------------------------- Prometheus


@dataclass
class PrometheusServer:
    """Prometheus with ``--web.enable-remote-write-receiver`` scraping itself every second
    (job ``prometheus``), so ``up{job="prometheus"}`` has data a second or two after start."""

    process: ManagedProcess
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def remote_write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def query(self, promql: str, **params: Any) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql, **params}, timeout=30.0)
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result

    def wait_for(self, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll ``query`` until it returns a non-empty result (e.g. after a remote write)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.stop()


def start_prometheus(base_dir: Path) -> PrometheusServer:
    binary = require_binary("prometheus")
    port = free_port()
    data_dir = base_dir / f"prometheus-{port}"
    data_dir.mkdir(parents=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        ],
    }
    config_path = data_dir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    proc = ManagedProcess(
        name="prometheus",
        argv=[
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={data_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--web.enable-admin-api",
            "--log.level=warn",
        ],
        log_path=base_dir / f"prometheus-{port}.log",
    )
    proc.start()
    proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/-/ready"))
    return PrometheusServer(process=proc, port=port, data_dir=data_dir)
