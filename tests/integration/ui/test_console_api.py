"""The console's JSON API over real sockets against the real VictoriaMetrics and vmauth."""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integration.ui.cluster_data import SeededCluster, iso, seed_cluster
from promkit.core.web import TOKEN_HEADER
from support.browser import ConsoleServer, start_console
from support.servers import VMAuthServer, VMServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    server = start_console(tmp_path_factory.mktemp("console-api"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def data(vm: VMServer) -> SeededCluster:
    return seed_cluster(vm, "uiapi")


def _call(
    console: ConsoleServer, method: str, route: str, body: Any = None, **params: str
) -> httpx.Response:
    return httpx.request(
        method,
        console.url + route.lstrip("/"),
        json=body,
        params=params or None,
        headers={TOKEN_HEADER: console.token},
        timeout=120,
    )


def _request(vm: VMServer, data: SeededCluster, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "connection": {"url": vm.url},
        "time_range": {"start": iso(data.start_ms), "end": iso(data.end_ms)},
        "mode": "cluster",
        "obfuscation": {"enabled": True},
    }
    return base | kw


def _wait(console: ConsoleServer, job_id: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status: dict[str, Any] = _call(console, "GET", "/api/export/status", id=job_id).json()
        if status["state"] in states:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {states}")


def _wait_progress(console: ConsoleServer, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = _call(console, "GET", "/api/export/status", id=job_id).json()
        if status["completed_windows"] >= 1 or status["state"] not in ("pending", "running"):
            return
        time.sleep(0.01)


def test_console_api_discover_lists_components_with_counts(
    console: ConsoleServer, vm: VMServer, data: SeededCluster
) -> None:
    body = _request(vm, data)
    body.pop("obfuscation")
    r = _call(console, "POST", "/api/discover", body)
    assert r.status_code == 200, r.text
    comps = {c["component"]: c for c in r.json()["components"]}
    jobs = {j["job"]: j for c in comps.values() for j in c["jobs"]}
    assert jobs[data.storage_job]["component"] == "vmstorage"
    assert jobs[data.storage_job]["instances"] == 2
    assert jobs[data.storage_job]["series_estimate"] == 8  # 4 series per instance
    assert jobs[data.select_job]["component"] == "vmselect"
    assert comps["vmstorage"]["instances"] >= 2


def test_console_api_discover_selector_mode_lists_matched_jobs(
    console: ConsoleServer, vm: VMServer, data: SeededCluster
) -> None:
    body = _request(vm, data, mode="selector", selector=data.app_metric)
    body.pop("obfuscation")
    r = _call(console, "POST", "/api/discover", body)
    assert r.status_code == 200, r.text
    jobs = {j["job"]: j for j in r.json()["jobs"]}
    assert sorted(jobs) == sorted(data.app_jobs)
    assert all(j["instances"] == 2 and j["series_estimate"] == 2 for j in jobs.values())


def test_console_api_sample_is_obfuscated(
    console: ConsoleServer, vm: VMServer, data: SeededCluster
) -> None:
    body = {"config": _request(vm, data, jobs=[data.storage_job]), "limit": 20}
    r = _call(console, "POST", "/api/sample", body)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["obfuscated"] is True and preview["count"] > 0
    assert all(s["labels"]["instance"].startswith("777.777.") for s in preview["samples"])
    assert all(original not in r.text for original in data.originals)


def test_console_api_export_job_runs_to_a_verified_bundle(
    console: ConsoleServer, vm: VMServer, data: SeededCluster
) -> None:
    body = _request(vm, data, jobs=[data.storage_job, data.select_job])
    started = _call(console, "POST", "/api/export/start", body)
    assert started.status_code == 200, started.text
    status = _wait(console, started.json()["job_id"], {"completed", "failed"})
    assert status["state"] == "completed", status
    assert status["progress"] == 1.0 and status["completed_windows"] == status["total_windows"]
    result = status["result"]
    r = _call(console, "GET", "/api/download", path=status["archive_name"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    assert hashlib.sha256(r.content).hexdigest() == result["sha256"]
    sidecar = _call(console, "GET", "/api/download", path=status["archive_name"] + ".sha256")
    assert sidecar.text.split()[0] == result["sha256"]
    with zipfile.ZipFile(console.output_dir / status["archive_name"]) as zf:
        text = b"".join(zf.read(n) for n in zf.namelist()).decode()
    assert all(original not in text for original in data.originals)
    assert result["counts"]["series"] == 12  # 3 instances x 4 series


def test_console_api_cancel_then_resume_completes_with_full_counts(
    console: ConsoleServer, vm: VMServer, data: SeededCluster
) -> None:
    body = _request(vm, data, jobs=[data.storage_job], batching={"window": "30s"})
    job_id = _call(console, "POST", "/api/export/start", body).json()["job_id"]
    _wait_progress(console, job_id)  # cancel mid-way, after some windows are staged
    canceled = _call(console, "POST", "/api/export/cancel", {"job_id": job_id})
    assert canceled.status_code == 200, canceled.text
    status = _wait(console, job_id, {"canceled", "completed"})
    assert status["state"] == "canceled", status
    assert 1 <= status["completed_windows"] < status["total_windows"]
    resumed = _call(console, "POST", "/api/export/resume", {"job_id": job_id})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["resumes"] == 1
    status = _wait(console, job_id, {"completed", "failed"})
    assert status["state"] == "completed", status
    samples = 8 * len(range(data.start_ms, data.end_ms + 1, 15_000))
    assert status["result"]["counts"]["samples"] == samples
    assert status["samples"] == samples  # progress never double counts after a resume


def test_console_api_sync_export_returns_the_bundle(
    console: ConsoleServer, vm: VMServer, data: SeededCluster
) -> None:
    body = _request(vm, data, mode="selector", selector=data.app_metric, jobs=[data.app_jobs[0]])
    r = _call(console, "POST", "/api/export", body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["counts"]["series"] == 2
    assert (console.output_dir / result["bundle_path"].rsplit("/", 1)[-1]).is_file()


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"mode": "cluster"}, 400, "no jobs selected"),
        ({"mode": "selector", "selector": ""}, 400, "selector"),
        ({"output_dir": "/tmp"}, 400, "output_dir"),
        ({"connection": {"url": "http://127.0.0.1:1"}, "components": ["vmstorage"]}, 502, ""),
    ],
)
def test_console_api_export_errors_are_json_with_hint(
    console: ConsoleServer,
    vm: VMServer,
    data: SeededCluster,
    change: dict[str, Any],
    status: int,
    needle: str,
) -> None:
    r = _call(console, "POST", "/api/export/start", _request(vm, data) | change)
    assert r.status_code == status, r.text
    body = r.json()
    assert needle in body["error"] and body["hint"]


def test_console_api_validate_query_counts_series_and_rejects_bad_syntax(
    console: ConsoleServer, vm: VMServer, data: SeededCluster
) -> None:
    conn = {"url": vm.url}
    window = {"start": iso(data.start_ms), "end": iso(data.end_ms)}
    ok = _call(
        console,
        "POST",
        "/api/validate-query",
        {"connection": conn, "query": data.app_metric, "time_range": window},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "query_type": "selector",
        "series_count": 4,
        "sample_labels": ["code", "instance", "job"],
    }
    bad = _call(console, "POST", "/api/validate-query", {"connection": conn, "query": "sum("})
    assert bad.status_code in (400, 422), bad.text
    assert bad.json()["hint"]


def test_console_api_job_control_errors(console: ConsoleServer) -> None:
    assert _call(console, "GET", "/api/export/status", id="nope").status_code == 404
    assert _call(console, "POST", "/api/export/cancel", {"job_id": "nope"}).status_code == 404
    assert _call(console, "POST", "/api/export/resume", {"job_id": "nope"}).status_code == 404
    assert _call(console, "GET", "/api/export/status").status_code == 400


def test_console_api_bad_password_via_vmauth_is_401_without_echo(
    console: ConsoleServer, vmauth: VMAuthServer
) -> None:
    conn = {
        "url": vmauth.tenant_base(),
        "auth": {"type": "basic", "username": "user", "password": "wrong-Pa55"},
    }
    r = _call(console, "POST", "/api/validate", {"connection": conn})
    assert r.status_code == 401, r.text
    assert "wrong-Pa55" not in r.text and r.json()["hint"]


def test_console_api_download_refuses_paths_outside_the_output_dir(
    console: ConsoleServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.zip"
    outside.write_bytes(b"PK secret")
    (console.output_dir / "link.zip").symlink_to(outside)
    for path, code in [
        (str(outside), 403),
        ("../" + outside.name, 403),
        ("link.zip", 403),
        ("missing.zip", 404),
        ("/etc/passwd", 403),
        (".staging", 403),
    ]:
        r = _call(console, "GET", "/api/download", path=path)
        assert r.status_code == code, (path, r.text)
        assert b"PK secret" not in r.content


def test_console_api_refuses_requests_without_token(console: ConsoleServer) -> None:
    r = httpx.get(console.url + "api/download", params={"path": "x.zip"}, timeout=10)
    assert r.status_code == 401


def test_console_api_exports_through_vmauth_with_a_bearer_token(
    console: ConsoleServer, vmauth: VMAuthServer, data: SeededCluster
) -> None:
    conn = {"url": vmauth.tenant_base(), "auth": {"type": "bearer", "token": vmauth.bearer_token}}
    body = _request(vmauth.vm, data, connection=conn, jobs=[data.select_job])
    r = _call(console, "POST", "/api/export", body)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["series"] == 4
    assert vmauth.bearer_token not in r.text
