"""Export job routes in-process, against a fake TSDB (httpx.MockTransport)."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from promkit.bundle.app import ConsoleSettings, create_app
from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.tsdb import TSDBClient
from promkit.core.web import TOKEN_HEADER, LocalUIPolicy

PORT = 18083
AUTH = {TOKEN_HEADER: "export-token"}
START = 1_700_000_000_000
HOUR = 3_600_000
SECRET = "s3cret-Pa55word"


class FakeTSDB:
    """Answers like VictoriaMetrics: one series, one sample per export window."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append(path)
        if path.endswith("/export"):
            self.gate.wait(10)
            form = parse_qs(request.content.decode())
            ts = int(float(form["start"][0]) * 1000)
            line = {
                "metric": {"__name__": "up", "job": "node-prod", "instance": "10.1.2.3:9100"},
                "values": [1],
                "timestamps": [ts],
            }
            return httpx.Response(200, content=orjson.dumps(line) + b"\n")
        if "/label/" in path:
            name = path.split("/label/")[1].split("/")[0]
            data = ["10.1.2.3:9100"] if name == "instance" else ["node-prod"]
            return httpx.Response(200, json={"status": "success", "data": data})
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": []}}
        )


@pytest.fixture
def tsdb() -> FakeTSDB:
    return FakeTSDB()


@pytest.fixture
def client(tsdb: FakeTSDB, tmp_path: Path) -> Iterator[TestClient]:
    def factory(config: ConnectionConfig) -> TSDBClient:
        return TSDBClient(Connection.from_config(config), transport=httpx.MockTransport(tsdb))

    policy = LocalUIPolicy(port=PORT, token=SecretStr(AUTH[TOKEN_HEADER]))
    settings = ConsoleSettings(policy=policy, output_dir=tmp_path / "out", job_concurrency=1)
    app = create_app(settings, client_factory=factory)
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as c:
        yield c


def _body(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "connection": {
            "url": "http://vm.invalid:8428",
            "auth": {"type": "basic", "username": "u", "password": SECRET},
        },
        "time_range": {"start": START // 1000, "end": (START + HOUR) // 1000},
        "mode": "cluster",
        "jobs": ["node-prod"],
        "obfuscation": {"enabled": True},
        "batching": {"window": "5m"},
    }
    return base | kw


def _wait(client: TestClient, job_id: str) -> dict[str, Any]:
    app_console = client.app.state.console  # type: ignore[attr-defined]
    app_console.jobs.wait(job_id, timeout=30)
    status: dict[str, Any] = client.get(
        "/api/export/status", params={"id": job_id}, headers=AUTH
    ).json()
    return status


def test_routes_export_job_completes_with_an_obfuscated_bundle(
    client: TestClient, tmp_path: Path
) -> None:
    started = client.post("/api/export/start", json=_body(), headers=AUTH)
    assert started.status_code == 200, started.text
    assert SECRET not in started.text
    status = _wait(client, started.json()["job_id"])
    assert status["state"] == "completed"
    assert status["completed_windows"] == status["total_windows"] == 12
    assert status["progress"] == 1.0
    bundle = tmp_path / "out" / status["archive_name"]
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == status["result"]["sha256"]
    with zipfile.ZipFile(bundle) as zf:
        text = b"".join(zf.read(n) for n in zf.namelist()).decode()
    assert "10.1.2.3" not in text and "node-prod" not in text
    assert SECRET not in str(status)


def test_routes_export_resume_of_a_completed_job_is_409(client: TestClient) -> None:
    job_id = client.post("/api/export/start", json=_body(), headers=AUTH).json()["job_id"]
    _wait(client, job_id)
    r = client.post("/api/export/resume", json={"job_id": job_id}, headers=AUTH)
    assert r.status_code == 409
    assert r.json()["hint"]
    r = client.post("/api/export/cancel", json={"job_id": job_id}, headers=AUTH)
    assert r.status_code == 409


def test_routes_export_cancel_then_resume_keeps_counts(client: TestClient, tsdb: FakeTSDB) -> None:
    tsdb.gate.clear()  # hold the first export request
    job_id = client.post("/api/export/start", json=_body(), headers=AUTH).json()["job_id"]
    r = client.post("/api/export/cancel", json={"job_id": job_id}, headers=AUTH)
    assert r.status_code == 200
    tsdb.gate.set()
    status = _wait(client, job_id)
    assert status["state"] == "canceled"
    assert status["completed_windows"] < 12
    r = client.post("/api/export/resume", json={"job_id": job_id}, headers=AUTH)
    assert r.status_code == 200 and r.json()["resumes"] == 1
    status = _wait(client, job_id)
    assert status["state"] == "completed"
    assert status["samples"] == status["result"]["counts"]["samples"] == 12


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"jobs": []}, "no jobs selected"),
        ({"mode": "selector", "jobs": []}, "selector"),
        ({"mode": "query", "jobs": []}, "query"),
        ({"output_dir": "/tmp/elsewhere"}, "output_dir"),
        ({"staging_dir": "/tmp/elsewhere"}, "staging_dir"),
        ({"surprise": 1}, "surprise"),
        ({"time_range": {"start": "yesterday-ish"}}, "time"),
    ],
)
def test_routes_export_bad_requests_are_400_before_any_job(
    client: TestClient, tsdb: FakeTSDB, change: dict[str, Any], needle: str
) -> None:
    r = client.post("/api/export/start", json=_body(**change), headers=AUTH)
    assert r.status_code == 400, r.text
    body = r.json()
    assert needle in body["error"] and body["hint"]
    assert SECRET not in r.text
    assert not any(p.endswith("/export") for p in tsdb.requests)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/export/status", {"params": {"id": "missing"}}, 404),
        ("GET", "/api/export/status", {}, 400),
        ("GET", "/api/export/status", {"params": {"id": "../etc"}}, 400),
        ("POST", "/api/export/cancel", {"json": {"job_id": "missing"}}, 404),
        ("POST", "/api/export/resume", {"json": {"job_id": "missing"}}, 404),
        ("POST", "/api/export/resume", {"json": {}}, 400),
    ],
)
def test_routes_export_job_control_errors(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    r = client.request(method, path, headers=AUTH, **kwargs)
    assert r.status_code == status
    assert r.json()["error"]


def test_routes_export_sync_returns_the_result(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/api/export", json=_body(), headers=AUTH)
    assert r.status_code == 200, r.text
    result = r.json()
    assert Path(result["bundle_path"]).parent == tmp_path / "out"
    assert result["counts"]["samples"] == 12
    assert not any((tmp_path / "out" / ".staging").iterdir())  # sync staging is removed
