"""Cross-cutting HTTP behaviour: security headers on every answer, JSON access logs without
query strings (keys travel there), health with a database check, JSON errors everywhere."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from promkit.tracker.app import create_app
from promkit.tracker.settings import TrackerSettings

from .conftest import TEST_SECRET
from .test_tracker_ingestion import send, setup_user

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def test_http_security_headers_on_every_answer(client: TestClient) -> None:
    _auth, key, _uid = setup_user(client)
    answers = [
        client.get("/health"),
        client.get("/no/such/route"),
        client.get("/api/v1/api-keys"),  # 401
        client.get(f"/api/v1/tracker.js?k={key}"),
        client.get("/metrics"),
        send(client, key, {"name": "queue_depth", "value": 1}),  # the fast ingestion path
        client.post("/api/v1/metrics", content=b"{"),  # its error path
    ]
    for r in answers:
        for name, value in SECURITY.items():
            assert r.headers.get(name) == value, (r.request.url, name)
        assert "set-cookie" not in r.headers


def test_http_errors_are_json_envelopes(client: TestClient) -> None:
    for r in (client.get("/no/such/route"), client.delete("/health")):
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["success"] is False


def test_http_access_log_is_json_without_query_strings(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    _auth, key, _uid = setup_user(client)
    with caplog.at_level(logging.INFO, logger="promkit.tracker.access"):
        client.get(f"/api/v1/tracker.js?k={key}")
        client.post(f"/api/v1/metrics?api_key={key}", json={"metrics": [{"name": "x"}]})
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("access")]
    assert [(r["method"], r["path"]) for r in records] == [
        ("GET", "/api/v1/tracker.js"),
        ("POST", "/api/v1/metrics"),
    ]
    assert records[1]["status"] == 422
    assert key not in caplog.text


def test_http_health_reports_an_unreachable_database(
    make_client: Callable[..., TestClient],
) -> None:
    settings = TrackerSettings(
        database_url="postgresql+psycopg://u:secret-pw@127.0.0.1:1/none",
        jwt_secret=TEST_SECRET,
        dev=True,
        migrate_on_start=False,
    )
    with TestClient(create_app(settings)) as client:
        r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy"
    assert "secret-pw" not in r.text
