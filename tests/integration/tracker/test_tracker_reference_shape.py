"""The reference's remaining endpoints, so its frontend and SDK users can switch: onboarding,
the account key, definitions by API key. (Its raw-key ``/copy`` is 410 Gone.)"""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import bearer, sign_in
from .test_tracker_ingestion import setup_user


def test_reference_onboarding_status_and_completion(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    status = client.get("/api/v1/auth/onboarding-status", headers=auth).json()["data"]
    assert status == {
        "has_metric_configs": False,
        "metric_configs_count": 0,
        "has_api_key": False,
        "onboarding_completed_at": None,
        "is_setup_complete": False,
    }
    client.post("/api/v1/metric-configs", json={"name": "x", "metric_type": "gauge"}, headers=auth)
    client.post("/api/v1/code-generation", json={}, headers=auth)  # creates a key, completes
    status = client.get("/api/v1/auth/onboarding-status", headers=auth).json()["data"]
    assert status["is_setup_complete"] is True
    assert status["onboarding_completed_at"] is not None
    again = client.post("/api/v1/auth/onboarding-complete", headers=auth).json()["data"]
    assert again["onboarding_completed_at"] == status["onboarding_completed_at"]


def test_reference_user_key_is_masked(client: TestClient) -> None:
    auth = bearer(sign_in(client))
    assert client.get("/api/v1/api-keys/user-key", headers=auth).json()["data"] == {
        "key": None,
        "has_key": False,
    }
    raw = client.post("/api/v1/api-keys", json={}, headers=auth).json()["data"]["api_key"]
    data = client.get("/api/v1/api-keys/user-key", headers=auth).json()["data"]
    assert data["has_key"] is True
    assert raw not in str(data) and data["key"]["masked_key"].startswith(raw[:11])
    copy = client.post("/api/v1/api-keys/1/copy", headers=auth)  # 410: keys are shown once
    assert copy.status_code == 410 and raw not in copy.text and copy.json()["hint"]


def test_reference_metric_configs_by_api_key(client: TestClient) -> None:
    _auth, key, _uid = setup_user(client)
    r = client.get("/api/v1/metric-configs/by-api-key", headers={"X-API-Key": key})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["page_views"] == {"type": "counter", "labels": {"page": None, "env": "prod"}}
    assert "paused_metric" not in data
    assert client.get(f"/api/v1/metric-configs/by-api-key?api_key={key}").status_code == 200
    assert client.get("/api/v1/metric-configs/by-api-key").status_code == 401
