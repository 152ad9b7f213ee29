"""A small, realistic VictoriaMetrics-cluster-like data set for the console's tests.

Seeded into the session ``vm`` with unique job names (``<tag>-vmstorage`` ...), so several
test modules can share one server. Instances are private IPs that must never appear in an
obfuscated preview or bundle; one label value (``flag``) carries an IP literal too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from support.servers import VMServer

STEP_MS = 15_000


@dataclass(frozen=True)
class SeededCluster:
    tag: str
    start_ms: int
    end_ms: int
    jobs: dict[str, list[str]]  # job -> instances
    app_jobs: list[str]  # the selector-mode jobs (``<tag>_http_requests_total``)
    app_ips: list[str]

    @property
    def storage_job(self) -> str:
        return f"{self.tag}-vmstorage"

    @property
    def select_job(self) -> str:
        return f"{self.tag}-vmselect"

    @property
    def app_metric(self) -> str:
        return f"{self.tag}_http_requests_total"

    @property
    def ips(self) -> list[str]:
        hosts = {i.rsplit(":", 1)[0] for insts in self.jobs.values() for i in insts}
        return sorted(hosts)

    @property
    def originals(self) -> list[str]:
        """Every value an obfuscated output must not contain."""
        return [*self.ips, *self.app_ips, *self.jobs, *self.app_jobs]


def seed_cluster(vm: VMServer, tag: str, *, minutes: int = 30) -> SeededCluster:
    """Seed ``minutes`` of data every 15 s, ending a minute ago (aligned to the step)."""
    end = (int(time.time() * 1000) - 60_000) // STEP_MS * STEP_MS
    start = end - minutes * 60_000
    stamps = list(range(start, end + 1, STEP_MS))
    third = 10 + sum(map(ord, tag)) % 200  # keep IPs of different tags apart
    jobs = {
        f"{tag}-vmstorage": [f"10.{third}.0.1:8482", f"10.{third}.0.2:8482"],
        f"{tag}-vmselect": [f"10.{third}.1.1:8481"],
        f"{tag}-vminsert": [f"10.{third}.2.1:8480"],
    }
    app_jobs = [f"{tag}-api", f"{tag}-web"]
    lines: list[dict[str, Any]] = []
    app_ips: list[str] = []

    def series(labels: dict[str, str], value: float) -> None:
        lines.append({"metric": labels, "values": [value] * len(stamps), "timestamps": stamps})

    for job, instances in jobs.items():
        for instance in instances:
            base = {"job": job, "instance": instance}
            series({"__name__": "vm_app_version", **base}, 1)
            series({"__name__": "process_resident_memory_bytes", **base}, 1e8)
            series({"__name__": "vm_http_requests_total", "path": "/metrics", **base}, 5)
            addr = instance.rsplit(":", 1)[0]
            series({"__name__": "flag", "name": "httpListenAddr", "value": f"{addr}:1", **base}, 1)
    for n, job in enumerate(app_jobs):
        for k in range(2):
            ip = f"192.168.{third}.{10 * n + k + 1}"
            app_ips.append(ip)
            base = {"job": job, "instance": f"{ip}:9100"}
            series({"__name__": f"{tag}_http_requests_total", "code": "200", **base}, 7)
            series({"__name__": "up", **base}, 1)
    vm.import_lines(lines)
    return SeededCluster(tag, start, end, jobs, app_jobs, app_ips)


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
