"""Metric definitions contract: Prometheus name/label validation, types, buckets, status."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import bearer, sign_in


def _create(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/metric-configs", json=body, headers=auth)


def test_metric_configs_crud(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    r = _create(
        client,
        auth,
        name="Page Views",
        metric_type="Counter",
        labels=[{"name": "page"}, {"name": "env", "value": "prod"}],
        help_text="Pages seen",
    )
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["metric_name"] == "page_views"  # derived like the reference UI
    assert created["metric_type"] == "counter"
    assert created["status"] == "active"
    cid = created["id"]
    assert client.get(f"/api/v1/metric-configs/{cid}", headers=auth).json()["data"] == created
    r = client.patch(f"/api/v1/metric-configs/{cid}", json={"status": "paused"}, headers=auth)
    assert r.json()["data"]["status"] == "paused"
    assert len(client.get("/api/v1/metric-configs", headers=auth).json()["data"]) == 1
    assert client.delete(f"/api/v1/metric-configs/{cid}", headers=auth).status_code == 200
    assert client.get(f"/api/v1/metric-configs/{cid}", headers=auth).status_code == 404


def test_metric_configs_histogram_gets_buckets(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    default = _create(client, auth, name="load", metric_name="load_ms", metric_type="histogram")
    assert 1000 in default.json()["data"]["buckets"]  # millisecond timings fit
    custom = _create(
        client, auth, name="t", metric_name="t_ms", metric_type="histogram", buckets=[1, 5, 10]
    )
    assert custom.json()["data"]["buckets"] == [1, 5, 10]
    gauge = _create(client, auth, name="g", metric_type="gauge", buckets=[1])
    assert gauge.status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric_name": "9lives"}, "metric_name"),
        ({"metric_name": "has-dash"}, "metric_name"),
        ({"metric_name": "requests_total"}, "metric_name"),
        ({"metric_name": "__internal"}, "metric_name"),
        ({"metric_name": "a:b"}, "metric_name"),
        ({"labels": [{"name": "my-label"}]}, "labels"),
        ({"labels": [{"name": "__name__"}]}, "labels"),
        ({"labels": [{"name": "user_id"}]}, "labels"),
        ({"labels": [{"name": "a"}, {"name": "a"}]}, "labels"),
        ({"metric_type": "timer"}, "metric_type"),
        ({"metric_type": "histogram", "buckets": [5, 1]}, "buckets"),
    ],
)
def test_metric_configs_refuse_invalid_prometheus_names(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    auth = bearer(sign_in(client))
    payload = {"name": "x", "metric_name": "ok_name", "metric_type": "gauge", **body}
    r = _create(client, auth, **payload)
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False
    assert (
        any(field in loc for d in r.json()["details"] for loc in d["loc"])
        or field in r.json()["error"]
    )


def test_metric_configs_duplicate_name_conflicts_but_other_users_may_reuse_it(
    client: TestClient,
) -> None:
    alice = bearer(sign_in(client, "alice@example.com"))
    bob = bearer(sign_in(client, "bob@example.com"))
    assert (
        _create(client, alice, name="x", metric_name="clicks", metric_type="counter").status_code
        == 201
    )
    dup = _create(client, alice, name="y", metric_name="clicks", metric_type="gauge")
    assert dup.status_code == 409
    other = _create(client, bob, name="x", metric_name="clicks", metric_type="gauge")
    assert other.status_code == 201


def test_metric_configs_rename_onto_existing_conflicts(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    _create(client, auth, name="a", metric_name="a_metric", metric_type="gauge")
    b = _create(client, auth, name="b", metric_name="b_metric", metric_type="gauge").json()["data"]
    r = client.patch(
        f"/api/v1/metric-configs/{b['id']}", json={"metric_name": "a_metric"}, headers=auth
    )
    assert r.status_code == 409


def test_metric_configs_are_isolated_between_users(client: TestClient) -> None:
    alice = bearer(sign_in(client, "alice@example.com"))
    bob = bearer(sign_in(client, "bob@example.com"))
    cid = _create(client, alice, name="a", metric_type="gauge").json()["data"]["id"]
    assert client.get(f"/api/v1/metric-configs/{cid}", headers=bob).status_code == 404
    assert client.delete(f"/api/v1/metric-configs/{cid}", headers=bob).status_code == 404
    assert client.get("/api/v1/metric-configs", headers=bob).json()["data"] == []


def test_metric_configs_label_limit(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    labels = [{"name": f"l{i}"} for i in range(11)]
    assert _create(client, auth, name="a", metric_type="gauge", labels=labels).status_code == 400
