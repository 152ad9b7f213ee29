"""The web API against a real VictoriaMetrics: charts and every page's data are one user's own.

Runs on SQLite and PostgreSQL (the tracker contract fixtures). The history is seeded into
the session's VictoriaMetrics under the exposition's names, as a scrape would store them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.servers import VMServer, free_port

from .conftest import bearer, sign_in

pytestmark = pytest.mark.integration


def _setup(client: TestClient, email: str, metric: str) -> dict[str, Any]:
    session = sign_in(client, email)
    auth = bearer(session)
    config = client.post(
        "/api/v1/metric-configs",
        json={"name": f"Views {email}", "metric_name": metric, "metric_type": "counter"},
        headers=auth,
    ).json()["data"]
    key = client.post("/api/v1/api-keys", json={"key_name": f"key of {email}"}, headers=auth)
    return {
        "auth": auth,
        "user_id": session["user"]["id"],
        "email": email,
        "config": config,
        "key": key.json()["data"],
    }


def test_web_history_and_pages_show_only_the_signed_in_users_data(
    make_client: Callable[..., TestClient], vm: VMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMKIT_TRACKER_QUERY_URL", vm.url)
    client = make_client()
    metric = f"web_iso_{uuid.uuid4().hex[:8]}"
    ada = _setup(client, "ada@example.com", metric)
    bob = _setup(client, "bob@example.com", metric)
    now_ms = int(time.time() * 1000)
    stamps = [now_ms - 120_000, now_ms - 60_000, now_ms - 1_000]
    family = f"user_metric_{metric}_total"
    vm.seed(family, {"user_id": str(ada["user_id"]), "job": "tracker"}, [1, 2, 3], stamps)
    vm.seed(family, {"user_id": str(bob["user_id"]), "job": "tracker"}, [100, 200, 300], stamps)
    client.post(
        "/api/v1/metrics",
        json={"metrics": [{"name": metric, "value": 5}]},
        headers={"X-API-Key": ada["key"]["api_key"]},
    )

    def history(user: dict[str, Any], config_id: int, range_: str = "1h") -> Any:
        return client.get(
            f"/api/v1/web/metrics/{config_id}/history",
            params={"range": range_},
            headers=user["auth"],
        )

    ada_points = history(ada, ada["config"]["id"]).json()["data"]["points"]
    bob_points = history(bob, bob["config"]["id"]).json()["data"]["points"]
    assert ada_points and bob_points
    assert {p["v"] for p in ada_points} <= {1.0, 2.0, 3.0}
    assert {p["v"] for p in bob_points} <= {100.0, 200.0, 300.0}
    assert history(ada, ada["config"]["id"], "7d").json()["data"]["source"] == "tsdb"
    # another user's config id is simply not found
    assert history(bob, ada["config"]["id"]).status_code == 404

    # nothing of ada's reaches bob, on any page's API
    secrets_of_ada = [
        ada["email"], ada["key"]["key_prefix"], ada["key"]["key_name"], ada["config"]["name"],
        f'"user_id":{ada["user_id"]}', f'user_id=\\"{ada["user_id"]}\\"',
    ]  # fmt: skip
    pages = [
        "/api/v1/auth/me", "/api/v1/api-keys", "/api/v1/metric-configs", "/api/v1/web/overview",
        "/api/v1/web/grafana", "/api/v1/metrics/exposition",
        f"/api/v1/web/metrics/{bob['config']['id']}/history",
    ]  # fmt: skip
    for path in pages:
        r = client.get(path, headers=bob["auth"])
        assert r.status_code == 200, (path, r.text)
        leaked = [s for s in secrets_of_ada if s in r.text]
        assert leaked == [], (path, leaked)
    overview = client.get("/api/v1/web/overview", headers=bob["auth"]).json()["data"]
    assert overview["ingestion"]["accepted"] == 0 and overview["metrics"][0]["current"] is None
    mine = client.get("/api/v1/web/overview", headers=ada["auth"]).json()["data"]
    assert mine["ingestion"]["accepted"] == 1 and mine["metrics"][0]["current"] == 5.0
    grafana = client.get("/api/v1/web/grafana", headers=bob["auth"]).json()["data"]
    expr = grafana["dashboard"]["panels"][0]["targets"][0]["expr"]
    assert expr == f'sum({family}{{user_id="{bob["user_id"]}"}})'
    assert grafana["datasource"]["datasources"][0]["url"] == vm.url


def test_web_history_with_the_tsdb_down_is_a_clear_error(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMKIT_TRACKER_QUERY_URL", f"http://127.0.0.1:{free_port()}")
    client = make_client()
    user = _setup(client, "down@example.com", "down_metric")
    r = client.get(f"/api/v1/web/metrics/{user['config']['id']}/history", headers=user["auth"])
    assert r.status_code == 502
    body = r.json()
    assert body["kind"] == "ConnectError" and body["hint"] and "Traceback" not in r.text
    # the rest of the dashboard still works
    assert client.get("/api/v1/web/overview", headers=user["auth"]).status_code == 200


def test_web_history_without_a_tsdb_shows_the_live_value_and_a_hint(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMKIT_TRACKER_QUERY_URL", raising=False)
    client = make_client()
    user = _setup(client, "live@example.com", "live_metric")
    client.post(
        "/api/v1/metrics",
        json={"metrics": [{"name": "live_metric", "value": 2}]},
        headers={"X-API-Key": user["key"]["api_key"]},
    )
    r = client.get(f"/api/v1/web/metrics/{user['config']['id']}/history", headers=user["auth"])
    data = r.json()["data"]
    assert data["source"] == "live" and data["current"] == 2.0 and data["points"] == []
    assert "PROMKIT_TRACKER_QUERY_URL" in data["hint"]
