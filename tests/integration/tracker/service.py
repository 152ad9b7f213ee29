"""The tracker as a real process (``promkit tracker serve``) and a Prometheus that scrapes it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from support.process import ManagedProcess, free_port, http_ok, require_binary

SECRET = "s" * 64
SCRAPE_TOKEN = "scrape-token-0123456789"


@dataclass
class TrackerProcess:
    process: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.stop()


def tracker_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMKIT_TRACKER_")}
    env.update(
        PROMKIT_TRACKER_DATABASE_URL=database_url,
        PROMKIT_TRACKER_JWT_SECRET=SECRET,
        PROMKIT_TRACKER_SCRAPE_TOKEN=SCRAPE_TOKEN,
        PROMKIT_TRACKER_FLUSH_INTERVAL_SECONDS="0.2",
        PROMKIT_TRACKER_AUTH_RATE_LIMIT="50",
    )
    env.update(extra)
    return env


def start_tracker(
    base: Path, database_url: str, port: int | None = None, **extra: str
) -> TrackerProcess:
    port = port or free_port()
    proc = ManagedProcess(
        name="tracker",
        argv=[sys.executable, "-m", "promkit", "tracker", "serve", "--port", str(port)],
        log_path=base / f"tracker-{port}.log",
        env=tracker_env(database_url, **extra),
    )
    proc.start()
    proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/health"), timeout=60)
    return TrackerProcess(proc, port)


@dataclass
class ScrapingPrometheus:
    process: ManagedProcess
    port: int

    def query(self, promql: str) -> list[dict[str, Any]]:
        r = httpx.get(
            f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": promql}, timeout=30
        )
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result

    def stop(self) -> None:
        self.process.stop()


def start_scraping_prometheus(base: Path, target_port: int) -> ScrapingPrometheus:
    binary = require_binary("prometheus")
    port = free_port()
    data = base / f"prometheus-{port}"
    data.mkdir(parents=True)
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "tracker",
                "authorization": {"type": "Bearer", "credentials": SCRAPE_TOKEN},
                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            }
        ],
    }
    (data / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = ManagedProcess(
        name="prometheus",
        argv=[
            binary,
            f"--config.file={data / 'prometheus.yml'}",
            f"--storage.tsdb.path={data / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        log_path=base / f"prometheus-{port}.log",
    )
    proc.start()
    proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/-/ready"))
    return ScrapingPrometheus(proc, port)
