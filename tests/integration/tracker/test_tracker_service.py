"""The real service: CLI commands, uvicorn on a loopback port, a real Prometheus scrape, and
counters that continue (no reset) across a restart of the process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from support.process import ServerUnavailable, free_port

from .service import (
    SCRAPE_TOKEN,
    TrackerProcess,
    start_scraping_prometheus,
    start_tracker,
    tracker_env,
)

pytestmark = pytest.mark.integration


def promkit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promkit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def trackers(tmp_path: Path) -> Iterator[Callable[..., TrackerProcess]]:
    started: list[TrackerProcess] = []

    def start(database_url: str, port: int | None = None) -> TrackerProcess:
        try:
            server = start_tracker(tmp_path, database_url, port)
        except ServerUnavailable as exc:
            pytest.fail(str(exc))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_cli_serve_refuses_a_missing_jwt_secret(tmp_path: Path) -> None:
    env = tracker_env(f"sqlite:///{tmp_path / 't.db'}")
    del env["PROMKIT_TRACKER_JWT_SECRET"]
    result = promkit("tracker", "serve", "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert "PROMKIT_TRACKER_JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_migrate_and_create_user_then_sign_in(
    tmp_path: Path, trackers: Callable[..., TrackerProcess]
) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    env = tracker_env(url)
    migrated = promkit("tracker", "migrate", "--json", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert orjson.loads(migrated.stdout)["revision"] == "0006"
    env["PROMKIT_TRACKER_USER_PASSWORD"] = "a long password"
    created = promkit("tracker", "create-user", "--email", "ops@example.com", "--json", env=env)
    assert created.returncode == 0, created.stderr
    assert "a long password" not in created.stdout + created.stderr
    again = promkit("tracker", "create-user", "--email", "ops@example.com", env=env)
    assert again.returncode == 8 and "already exists" in again.stderr
    server = trackers(url)
    r = httpx.post(
        f"{server.url}/api/v1/auth/signin",
        json={"email": "ops@example.com", "password": "a long password"},
    )
    assert r.status_code == 200
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "healthy" and health["database"] == "ok"


def _setup(base: str) -> tuple[str, int]:
    """A user with a counter and an API key; returns (key, user id)."""
    creds = {"email": "ada@example.com", "password": "correct horse"}
    httpx.post(f"{base}/api/v1/auth/signup", json=creds).raise_for_status()
    session = httpx.post(f"{base}/api/v1/auth/signin", json=creds).json()["data"]
    auth = {"Authorization": f"Bearer {session['accessToken']}"}
    httpx.post(
        f"{base}/api/v1/metric-configs",
        json={"name": "Page Views", "metric_type": "counter", "labels": [{"name": "page"}]},
        headers=auth,
    ).raise_for_status()
    key = httpx.post(f"{base}/api/v1/api-keys", json={"key_name": "site"}, headers=auth)
    return key.json()["data"]["api_key"], session["user"]["id"]


def _ingest(base: str, key: str, amount: float) -> None:
    body = {"metrics": [{"name": "page_views", "value": amount, "labels": {"page": "/"}}]}
    r = httpx.post(f"{base}/api/v1/metrics", json=body, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text


def _wait_access_line(log: Path, key: str) -> None:
    """The service's JSON access log reaches stderr within a few seconds (block-buffered)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        lines = [line for line in text.splitlines() if line.startswith("{")]
        entries = [orjson.loads(line) for line in lines]
        if any(e.get("path") == "/api/v1/metrics" and e.get("status") == 200 for e in entries):
            assert key not in text
            return
        time.sleep(0.2)
    raise AssertionError(f"no ingestion access-log line in {log}")


def _wait_value(query: Callable[[str], list[dict[str, Any]]], promql: str, want: float) -> float:
    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        result = query(promql)
        if result:
            seen = float(result[0]["value"][1])
            if seen == want:
                return seen
        time.sleep(0.3)
    raise AssertionError(f"{promql}: wanted {want}, last saw {seen}")


def test_prometheus_scrapes_ingested_metrics_across_a_restart(
    tmp_path: Path, trackers: Callable[..., TrackerProcess]
) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    server = trackers(url)
    key, uid = _setup(server.url)
    _ingest(server.url, key, 3)
    _wait_access_line(server.process.log_path, key)
    prometheus = start_scraping_prometheus(tmp_path, server.port)
    try:
        series = f'user_metric_page_views_total{{user_id="{uid}",page="/"}}'
        _wait_value(prometheus.query, series, 3)
        up = prometheus.query('up{job="tracker"}')
        assert up and up[0]["value"][1] == "1"  # the scrape token was accepted
        server.stop()  # SIGTERM: uvicorn shuts down, the lifespan flushes
        server = trackers(url, server.port)
        _ingest(server.url, key, 2)
        _wait_value(prometheus.query, series, 5)
        # The counter continued from 3: Prometheus saw no reset.
        resets = prometheus.query(f"resets({series}[5m])")
        assert resets and resets[0]["value"][1] == "0"
        # The key's ingestion counts were written behind too: both processes' samples.
        creds = {"email": "ada@example.com", "password": "correct horse"}
        token = httpx.post(f"{server.url}/api/v1/auth/signin", json=creds).json()["data"]
        auth = {"Authorization": f"Bearer {token['accessToken']}"}
        overview = httpx.get(f"{server.url}/api/v1/web/overview", headers=auth).json()["data"]
        assert [(k["accepted"], k["rejected"]) for k in overview["keys"]] == [(2, 0)]
        assert overview["keys"][0]["last_seen"] is not None
    finally:
        prometheus.stop()


def test_ingestion_answers_on_the_wire(
    tmp_path: Path, trackers: Callable[..., TrackerProcess]
) -> None:
    """The real server's answers: a length (not chunked), security and CORS headers, the
    JSON envelope, and many batches on one keep-alive connection (one write per answer).
    The first batch of a key goes through the ASGI app (the key is read from the database),
    the rest are answered inside the HTTP protocol (core/http_server direct routes): both
    answer alike and write access-log lines."""
    server = trackers(f"sqlite:///{tmp_path / 't.db'}")
    key, _uid = _setup(server.url)
    body = {"metrics": [{"name": "page_views", "value": 1, "labels": {"page": "/"}}]}
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key}) as client:
        for _ in range(50):
            r = client.post("/api/v1/metrics", json=body, headers={"Origin": "https://a.example"})
            assert r.status_code == 200, r.text
            assert r.headers["content-length"] == str(len(r.content))
            assert "transfer-encoding" not in r.headers
            assert r.headers["access-control-allow-origin"] == "*"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "default-src 'none'" in r.headers["content-security-policy"]
            assert r.json() == {"success": True, "data": {"processed": 1, "total": 1, "errors": []}}
        bad = client.post("/api/v1/metrics", content=b"{", headers={"X-API-Key": "mk_wrong"})
        assert bad.status_code == 401
        assert bad.headers["content-length"] == str(len(bad.content))
        assert bad.json()["success"] is False
        assert bad.headers["www-authenticate"] == "API-Key"
        invalid = client.post("/api/v1/metrics", content=b"{")  # a cached key, a bad body
        assert invalid.status_code == 400 and invalid.json()["success"] is False
        assert invalid.headers["x-frame-options"] == "DENY"
        beacon = httpx.post(f"{server.url}/api/v1/metrics?api_key={key}", json=body)
        assert beacon.status_code == 200 and beacon.json()["data"]["processed"] == 1
        huge = client.post("/api/v1/metrics", content=b" " * (256 * 1024 + 1))  # over the limit
        assert huge.status_code == 413 and huge.json()["success"] is False
    exposition = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    ).text
    assert 'user_metric_page_views_total{page="/",user_id="1"} 51.0' in exposition
    deadline = time.monotonic() + 10
    while True:
        text = server.process.log_path.read_text(errors="replace")
        entries = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
        statuses = [e["status"] for e in entries if e.get("path") == "/api/v1/metrics"]
        if len(statuses) >= 54 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(statuses) == [200] * 51 + [400, 401, 413]
    assert key not in text
