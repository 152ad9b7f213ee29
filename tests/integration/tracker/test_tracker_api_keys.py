"""API keys contract: shown once, stored hashed, prefix kept, rename, deactivate, delete."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from promkit.tracker.models import ApiKey

from .conftest import bearer, sign_in


def test_api_keys_created_key_is_shown_once_and_stored_hashed(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    r = client.post("/api/v1/api-keys", json={"key_name": "site"}, headers=auth)
    assert r.status_code == 201
    data = r.json()["data"]
    raw = data["api_key"]
    assert re.fullmatch(r"mk_[0-9a-f]{64}", raw)
    assert data["key_prefix"] == raw[:11]
    listed = client.get("/api/v1/api-keys", headers=auth).json()["data"]
    assert len(listed) == 1
    assert "api_key" not in listed[0]
    assert raw not in str(listed)
    assert listed[0]["masked_key"].startswith(raw[:11])
    ctx = client.app.state.tracker  # type: ignore[attr-defined]
    with ctx.db.session() as db:
        stored = db.scalars(select(ApiKey.key_hash)).all()
    assert raw not in stored and len(stored[0]) == 64


def test_api_keys_rename_deactivate_and_delete(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    key_id = client.post("/api/v1/api-keys", json={"key_name": "a"}, headers=auth).json()["data"][
        "id"
    ]
    r = client.patch(f"/api/v1/api-keys/{key_id}", json={"key_name": "b"}, headers=auth)
    assert r.status_code == 200 and r.json()["data"]["key_name"] == "b"
    r = client.patch(f"/api/v1/api-keys/{key_id}", json={"is_active": False}, headers=auth)
    assert r.json()["data"]["is_active"] is False
    assert client.patch(f"/api/v1/api-keys/{key_id}", json={}, headers=auth).status_code == 400
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=auth).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=auth).status_code == 404


def test_api_keys_are_isolated_between_users(client: TestClient) -> None:
    alice = bearer(sign_in(client, "alice@example.com"))
    bob = bearer(sign_in(client, "bob@example.com"))
    key_id = client.post("/api/v1/api-keys", json={"key_name": "a"}, headers=alice).json()["data"][
        "id"
    ]
    assert client.get("/api/v1/api-keys", headers=bob).json()["data"] == []
    for call in (
        lambda: client.patch(f"/api/v1/api-keys/{key_id}", json={"key_name": "x"}, headers=bob),
        lambda: client.delete(f"/api/v1/api-keys/{key_id}", headers=bob),
    ):
        assert call().status_code == 404


def test_api_keys_ensure_creates_once(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    first = client.post("/api/v1/api-keys/ensure", headers=auth).json()["data"]
    second = client.post("/api/v1/api-keys/ensure", headers=auth).json()["data"]
    assert first["is_new"] is True and "api_key" in first["key"]
    assert second["is_new"] is False and "api_key" not in second["key"]
    assert second["key"]["id"] == first["key"]["id"]


def test_api_keys_need_an_access_token_and_numeric_ids(client: TestClient) -> None:
    assert client.get("/api/v1/api-keys").status_code == 401
    auth = bearer(sign_in(client))
    r = client.delete("/api/v1/api-keys/abc", headers=auth)
    assert r.status_code == 400
    assert r.json()["success"] is False
