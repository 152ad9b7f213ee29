"""Ingestion and exposition contract: definitions enforced, type semantics, isolation, limits,
durability across restarts, and a /metrics body that promtool accepts."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from .conftest import bearer, sign_in

CONFIGS: list[dict[str, Any]] = [
    {"name": "views", "metric_name": "page_views", "metric_type": "counter",
     "labels": [{"name": "page"}, {"name": "env", "value": "prod"}]},
    {"name": "queue", "metric_name": "queue_depth", "metric_type": "gauge"},
    {"name": "load", "metric_name": "page_load_time", "metric_type": "histogram",
     "buckets": [100, 500, 1000, 5000]},
    {"name": "size", "metric_name": "payload_bytes", "metric_type": "summary"},
    {"name": "paused", "metric_name": "paused_metric", "metric_type": "counter",
     "status": "paused"},
]  # fmt: skip


def setup_user(
    client: TestClient, email: str = "ada@example.com", configs: list[dict[str, Any]] = CONFIGS
) -> tuple[dict[str, str], str, int]:
    session = sign_in(client, email)
    auth = bearer(session)
    for config in configs:
        r = client.post("/api/v1/metric-configs", json=config, headers=auth)
        assert r.status_code == 201, r.text
    key = client.post("/api/v1/api-keys", json={"key_name": "site"}, headers=auth)
    return auth, key.json()["data"]["api_key"], session["user"]["id"]


def send(client: TestClient, key: str, *items: dict[str, Any]) -> Any:
    return client.post("/api/v1/metrics", json={"metrics": list(items)}, headers={"X-API-Key": key})


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(client: TestClient, name: str, **labels: str) -> float | None:
    return samples(client).get((name, frozenset(labels.items())))


def test_ingestion_records_each_type_with_its_semantics(client: TestClient) -> None:
    _auth, key, uid = setup_user(client)
    u = str(uid)
    r = send(
        client,
        key,
        {"name": "page_views", "value": 1, "labels": {"page": "/a"}},
        {"name": "page_views", "value": 2, "labels": {"page": "/a"}},
        {"name": "page_views", "value": 0, "labels": {"page": "/b"}},
        {"name": "queue_depth", "value": 5},
        {"name": "queue_depth", "value": 5},
        {"name": "page_load_time", "value": 1234},
        {"name": "page_load_time", "value": 80},
        {"name": "payload_bytes", "value": 10},
        {"name": "payload_bytes", "value": "30"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"processed": 9, "total": 9, "errors": []}
    page_a = {"user_id": u, "page": "/a", "env": "prod"}
    assert value(client, "user_metric_page_views_total", **page_a) == 3
    assert value(client, "user_metric_page_views_total", user_id=u, page="/b", env="prod") == 0
    assert value(client, "user_metric_queue_depth", user_id=u) == 5  # set, not 5 + 5
    assert value(client, "user_hist_page_load_time_bucket", user_id=u, le="100.0") == 1
    assert value(client, "user_hist_page_load_time_bucket", user_id=u, le="1000.0") == 1
    assert value(client, "user_hist_page_load_time_bucket", user_id=u, le="5000.0") == 2
    assert value(client, "user_hist_page_load_time_sum", user_id=u) == 1314
    assert value(client, "user_summ_payload_bytes_count", user_id=u) == 2
    assert value(client, "user_summ_payload_bytes_sum", user_id=u) == 40


def test_ingestion_gauge_operations(client: TestClient) -> None:
    _auth, key, uid = setup_user(client)
    send(
        client,
        key,
        {"name": "queue_depth", "value": 10},
        {"name": "queue_depth", "value": 3, "operation": "inc"},
        {"name": "queue_depth", "value": 5, "operation": "dec"},
    )
    assert value(client, "user_metric_queue_depth", user_id=str(uid)) == 8
    send(client, key, {"name": "queue_depth", "value": -2})
    assert value(client, "user_metric_queue_depth", user_id=str(uid)) == -2


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"name": "unknown_metric", "value": 1}, "not defined"),
        ({"name": "paused_metric", "value": 1}, "paused"),
        ({"name": "page_views", "type": "gauge", "value": 1}, "is a counter"),
        ({"name": "page_views", "value": -1}, ">= 0"),
        ({"name": "page_views", "value": "12abc"}, "number"),
        ({"name": "page_views", "value": True}, "number"),
        ({"name": "page_views", "value": "Infinity"}, "number"),
        ({"name": "page_views", "value": 1, "labels": {"my-label": "x"}}, "not defined"),
        ({"name": "page_views", "value": 1, "labels": {"user_id": "2"}}, "not defined"),
        ({"name": "page_views", "value": 1, "labels": {"page": "x" * 129}}, "longer"),
        ({"name": "queue_depth", "value": 1, "operation": "multiply"}, "operation"),
        ({"value": 1}, "name is required"),
        ("not an object", "object"),
    ],
)
def test_ingestion_refuses_bad_items_with_a_reason_and_keeps_the_rest(
    client: TestClient, item: Any, reason: str
) -> None:
    _auth, key, uid = setup_user(client)
    r = send(client, key, {"name": "page_views", "value": 1, "labels": {"page": "/"}}, item)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["processed"] == 1 and data["total"] == 2
    assert data["errors"][0]["index"] == 1
    assert reason in data["errors"][0]["error"]
    page = {"user_id": str(uid), "page": "/", "env": "prod"}
    assert value(client, "user_metric_page_views_total", **page) == 1


def test_ingestion_all_items_refused_is_422(client: TestClient) -> None:
    _auth, key, _uid = setup_user(client)
    r = send(client, key, {"name": "nope", "value": 1})
    assert r.status_code == 422
    assert r.json()["details"][0]["index"] == 0


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"metrics": []}', b'{"metrics": 5}', b"[]"])
def test_ingestion_malformed_bodies_are_400(client: TestClient, body: bytes) -> None:
    _auth, key, _uid = setup_user(client)
    r = client.post("/api/v1/metrics", content=body, headers={"X-API-Key": key})
    assert r.status_code == 400
    assert r.json()["success"] is False


def test_ingestion_body_and_batch_limits(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=2048, max_batch_items=3)
    _auth, key, _uid = setup_user(client)
    item = {"name": "queue_depth", "value": 1}
    assert send(client, key, *[item] * 4).status_code == 400
    big = {"metrics": [{"name": "queue_depth", "value": 1, "pad": "x" * 4000}]}
    r = client.post("/api/v1/metrics", json=big, headers={"X-API-Key": key})
    assert r.status_code == 413


def test_ingestion_key_checks(client: TestClient) -> None:
    auth, key, _uid = setup_user(client)
    item = {"name": "queue_depth", "value": 1}
    assert client.post("/api/v1/metrics", json={"metrics": [item]}).status_code == 401
    assert send(client, "mk_" + "0" * 64, item).status_code == 401
    # Beacons cannot set headers: the key may come as a query parameter.
    r = client.post(f"/api/v1/metrics?api_key={key}", json={"metrics": [item]})
    assert r.status_code == 200
    key_id = client.get("/api/v1/api-keys", headers=auth).json()["data"][0]["id"]
    client.patch(f"/api/v1/api-keys/{key_id}", json={"is_active": False}, headers=auth)
    assert send(client, key, item).status_code == 401  # at once, not after a cache expiry


def test_ingestion_same_metric_name_different_types_for_two_users(client: TestClient) -> None:
    configs_a = [{"name": "x", "metric_name": "signups", "metric_type": "counter",
                  "labels": [{"name": "plan"}]}]  # fmt: skip
    configs_b = [{"name": "x", "metric_name": "signups", "metric_type": "gauge",
                  "labels": [{"name": "region"}]}]  # fmt: skip
    _a, key_a, uid_a = setup_user(client, "a@example.com", configs_a)
    _b, key_b, uid_b = setup_user(client, "b@example.com", configs_b)
    for _ in range(2):  # the second round would fail if the first poisoned a registry
        assert (
            send(client, key_a, {"name": "signups", "value": 1, "labels": {"plan": "pro"}}).json()[
                "data"
            ]["processed"]
            == 1
        )
        assert (
            send(client, key_b, {"name": "signups", "value": 7, "labels": {"region": "eu"}}).json()[
                "data"
            ]["processed"]
            == 1
        )
    assert value(client, "user_metric_signups_total", user_id=str(uid_a), plan="pro") == 2
    assert value(client, "user_metric_signups", user_id=str(uid_b), region="eu") == 7


def test_ingestion_series_limit_per_user(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_series_per_user=3)
    _auth, key, _uid = setup_user(client)
    items = [{"name": "page_views", "value": 1, "labels": {"page": f"/{i}"}} for i in range(5)]
    data = send(client, key, *items).json()["data"]
    assert data["processed"] == 3
    assert [e["index"] for e in data["errors"]] == [3, 4]
    assert "series limit" in data["errors"][0]["error"]
    # Existing series still accept samples; errors of both kinds come in item order.
    mixed = [items[4], {"name": "nope", "value": 1}, items[0], items[3], {"value": 1}]
    data = send(client, key, *mixed).json()["data"]
    assert data["processed"] == 1
    assert [(e["index"], e["name"]) for e in data["errors"]] == [
        (0, "page_views"),
        (1, "nope"),
        (3, "page_views"),
        (4, None),
    ]
    assert ["series limit" in e["error"] for e in data["errors"]] == [True, False, True, False]


def test_ingestion_survives_a_restart(make_client: Callable[..., TestClient]) -> None:
    first = make_client()
    _auth, key, uid = setup_user(first)
    send(first, key, {"name": "page_views", "value": 4, "labels": {"page": "/"}})
    send(first, key, {"name": "page_load_time", "value": 700})
    first.__exit__(None, None, None)  # a clean stop flushes what is pending
    second = make_client()
    labels = {"user_id": str(uid), "page": "/", "env": "prod"}
    assert value(second, "user_metric_page_views_total", **labels) == 4
    send(second, key, {"name": "page_views", "value": 1, "labels": {"page": "/"}})
    assert value(second, "user_metric_page_views_total", **labels) == 5
    assert value(second, "user_hist_page_load_time_bucket", user_id=str(uid), le="1000.0") == 1


def test_ingestion_definition_changes_apply_to_the_next_batch(client: TestClient) -> None:
    auth, key, _uid = setup_user(client)
    configs = client.get("/api/v1/metric-configs", headers=auth).json()["data"]
    cid = next(c["id"] for c in configs if c["metric_name"] == "queue_depth")
    client.patch(f"/api/v1/metric-configs/{cid}", json={"status": "paused"}, headers=auth)
    r = send(client, key, {"name": "queue_depth", "value": 1})
    assert r.status_code == 422 and "paused" in r.json()["details"][0]["error"]


def test_exposition_passes_promtool(client: TestClient, tmp_path: Any) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    _auth, key, _uid = setup_user(client)
    _b, key_b, _ = setup_user(
        client, "b@example.com",
        [{"name": "q", "metric_name": "queue_depth", "metric_type": "counter",
          "labels": [{"name": "page"}]}],
    )  # fmt: skip
    send(
        client,
        key,
        {"name": "page_views", "value": 1, "labels": {"page": '/a"b\\c\nd'}},
        {"name": "queue_depth", "value": 5},
        {"name": "page_load_time", "value": 1234},
        {"name": "payload_bytes", "value": 3},
    )
    send(client, key_b, {"name": "queue_depth", "value": 2, "labels": {"page": "/"}})
    body = client.get("/metrics").content
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"user_id=" in body


def test_exposition_scrape_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client(scrape_token="scrape-secret-1234")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1234"})
    assert ok.status_code == 200
    closed = make_client(dev=False, bcrypt_cost=12)
    r = closed.get("/metrics")
    assert r.status_code == 401 and "SCRAPE_TOKEN" in r.json()["hint"]


def test_exposition_own_series_only(client: TestClient) -> None:
    auth_a, key_a, uid_a = setup_user(client, "a@example.com")
    _auth_b, key_b, uid_b = setup_user(client, "b@example.com")
    send(client, key_a, {"name": "queue_depth", "value": 1})
    send(client, key_b, {"name": "queue_depth", "value": 2})
    body = client.get("/api/v1/metrics/exposition", headers=auth_a).text
    assert f'user_id="{uid_a}"' in body
    assert f'user_id="{uid_b}"' not in body


def test_ingestion_cors_preflight_for_browsers(client: TestClient) -> None:
    r = client.options(
        "/api/v1/metrics",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "X-API-Key" in r.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in r.headers


def test_ingestion_key_origin_allow_list(client: TestClient) -> None:
    auth, _key, _uid = setup_user(client)
    r = client.post(
        "/api/v1/api-keys",
        json={"key_name": "shop", "allowed_origins": ["HTTPS://Shop.Example/"]},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["allowed_origins"] == ["https://shop.example"]
    item = {"metrics": [{"name": "queue_depth", "value": 1}]}

    def post(origin: str | None) -> int:
        headers = {"X-API-Key": created["api_key"]}
        if origin:
            headers["Origin"] = origin
        return client.post("/api/v1/metrics", json=item, headers=headers).status_code

    assert post("https://shop.example") == 200
    assert post("https://evil.example") == 401
    assert post(None) == 401
    r = client.patch(
        f"/api/v1/api-keys/{created['id']}", json={"allowed_origins": []}, headers=auth
    )
    assert r.json()["data"]["allowed_origins"] is None
    assert post("https://evil.example") == 200  # no list: any origin
    bad = client.post(
        "/api/v1/api-keys", json={"allowed_origins": ["shop.example/path"]}, headers=auth
    )
    assert bad.status_code == 400


def test_ingestion_direct_answer_only_when_nothing_must_be_awaited(
    make_client: Callable[..., TestClient],
) -> None:
    """``tracker serve`` answers ingestion inside the HTTP protocol (IngestEndpoint.answer_now)
    when key, definitions and user are cached; otherwise it declines having done nothing,
    and the ASGI path (database reads, rate limits) takes the request."""
    client = make_client()
    _auth, key, uid = setup_user(client)
    direct = client.app.direct_routes[("POST", "/api/v1/metrics")]  # type: ignore[attr-defined]
    scope = {
        "method": "POST",
        "path": "/api/v1/metrics",
        "headers": [(b"x-api-key", key.encode())],
        "query_string": b"",
        "client": ("127.0.0.1", 5000),
    }
    body = b'{"metrics": [{"name": "queue_depth", "value": 7}]}'
    assert direct.answer(scope, body) is None  # the key is not cached yet
    assert value(client, "user_metric_queue_depth", user_id=str(uid)) is None
    assert send(client, key, {"name": "queue_depth", "value": 5}).status_code == 200
    status, headers, answer = direct.answer(scope, body)
    assert status == 200 and b'"processed":1' in answer
    assert (b"x-content-type-options", b"nosniff") in headers
    assert value(client, "user_metric_queue_depth", user_id=str(uid)) == 7
    status, _headers, answer = direct.answer(scope, b"[1")  # answered at once, as the app would
    assert status == 400 and b'"success":false' in answer
    unknown = {**scope, "headers": [(b"x-api-key", b"mk_" + b"0" * 64)]}
    assert direct.answer(unknown, body) is None  # an unknown key is looked up first
    assert send(client, "mk_" + "0" * 64, {"name": "queue_depth", "value": 1}).status_code == 401
    refused = direct.answer(unknown, body)
    assert refused is not None and refused[0] == 401  # then refused without a database read

    # Rate limits kept in process memory are counted at once, the app's path included.
    limited = make_client(ingest_rate_limit=2)
    _auth, key, _uid = setup_user(limited, email="bob@example.com")
    assert send(limited, key, {"name": "queue_depth", "value": 5}).status_code == 200
    direct = limited.app.direct_routes[("POST", "/api/v1/metrics")]  # type: ignore[attr-defined]
    scope["headers"] = [(b"x-api-key", key.encode())]
    assert direct.answer(scope, body)[0] == 200
    status, headers, _answer = direct.answer(scope, body)
    assert status == 429 and any(name == b"retry-after" for name, _value in headers)
    assert send(limited, key, {"name": "queue_depth", "value": 5}).status_code == 429
