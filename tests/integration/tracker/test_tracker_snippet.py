"""Snippet and tracker.js contract: size, options, key checks, ETag that follows definitions."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .conftest import bearer, sign_in


def _user_with_key(client: TestClient) -> tuple[dict[str, str], str]:
    auth = bearer(sign_in(client))
    client.post(
        "/api/v1/metric-configs",
        json={"name": "Page Views", "metric_type": "counter", "labels": [{"name": "page"}]},
        headers=auth,
    )
    key = client.post("/api/v1/api-keys", json={"key_name": "site"}, headers=auth)
    return auth, key.json()["data"]["api_key"]


def test_code_generation_snippet_is_small_and_loads_tracker_js(client: TestClient) -> None:
    auth, key = _user_with_key(client)
    r = client.post(
        "/api/v1/code-generation",
        json={"api_key": key, "auto_track": False, "custom_events": True},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["bytes"] == len(data["code"].encode()) < 300
    assert len(data["html"].encode()) < 300
    assert f"/api/v1/tracker.js?k={key}&a=0&c=1" in data["code"]
    assert data["code"] in data["react"] and data["code"] in data["vue"]
    assert data["html"] == f"<script>{data['code']}</script>"
    assert data["api_key"] is None  # an existing key is not echoed as "new"
    assert [m["metric_name"] for m in data["metricConfigs"]] == ["page_views"]


def test_code_generation_without_a_key_creates_one_shown_once(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    data = client.post("/api/v1/code-generation", json={}, headers=auth).json()["data"]
    assert re.fullmatch(r"mk_[0-9a-f]{64}", data["api_key"])
    assert data["api_key"] in data["code"]
    keys = client.get("/api/v1/api-keys", headers=auth).json()["data"]
    assert [k["id"] for k in keys] == [data["apiKeyId"]]


def test_code_generation_refuses_someone_elses_key(client: TestClient) -> None:
    _auth, key = _user_with_key(client)
    other = bearer(sign_in(client, "eve@example.com"))
    r = client.post("/api/v1/code-generation", json={"api_key": key}, headers=other)
    assert r.status_code == 401


def test_tracker_js_inlines_only_active_definitions(client: TestClient) -> None:
    auth, key = _user_with_key(client)
    client.post(
        "/api/v1/metric-configs",
        json={"name": "draft", "metric_name": "draft_metric", "metric_type": "gauge",
              "status": "paused"},
        headers=auth,
    )  # fmt: skip
    r = client.get(f"/api/v1/tracker.js?k={key}&a=0&c=0")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["access-control-allow-origin"] == "*"
    assert '"page_views":{"l":["page"],"t":"counter"}' in r.text
    assert "draft_metric" not in r.text
    assert '"a":false' in r.text and '"c":false' in r.text
    assert "set-cookie" not in r.headers


def test_tracker_js_etag_changes_when_definitions_change(client: TestClient) -> None:
    auth, key = _user_with_key(client)
    url = f"/api/v1/tracker.js?k={key}"
    first = client.get(url)
    etag = first.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    client.post(
        "/api/v1/metric-configs",
        json={"name": "Signups", "metric_type": "counter"},
        headers=auth,
    )
    second = client.get(url, headers={"If-None-Match": etag})
    assert second.status_code == 200
    assert second.headers["etag"] != etag
    assert "signups" in second.text
    # Options change the body too.
    assert client.get(url + "&a=0").headers["etag"] != second.headers["etag"]


def test_tracker_js_key_errors_are_js_comments(client: TestClient) -> None:
    auth, key = _user_with_key(client)
    missing = client.get("/api/v1/tracker.js")
    assert missing.status_code == 400 and missing.text.startswith("/*")
    bad = client.get("/api/v1/tracker.js?k=mk_" + "0" * 64)
    assert bad.status_code == 401 and bad.text.startswith("/*")
    key_id = client.get("/api/v1/api-keys", headers=auth).json()["data"][0]["id"]
    client.patch(f"/api/v1/api-keys/{key_id}", json={"is_active": False}, headers=auth)
    assert client.get(f"/api/v1/tracker.js?k={key}").status_code == 401


def test_tracker_js_is_gzipped_when_accepted(client: TestClient) -> None:
    _auth, key = _user_with_key(client)
    plain = client.get(f"/api/v1/tracker.js?k={key}", headers={"Accept-Encoding": "identity"})
    packed = client.get(f"/api/v1/tracker.js?k={key}", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.text == plain.text  # httpx decodes it
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    assert packed.headers["etag"] != plain.headers["etag"]
    again = client.get(
        f"/api/v1/tracker.js?k={key}",
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]},
    )
    assert again.status_code == 304
