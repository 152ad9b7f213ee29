"""Fuzz the tracker's OpenAPI spec with schemathesis: no generated input may cause a 5xx.

The app runs in-process (ASGI) on SQLite, with a signed-in user, metric definitions and an
API key, so generated requests reach the real handlers past authentication. Bounded: a few
dozen valid-shaped and invalid cases per operation.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from promkit.tracker.app import create_app
from promkit.tracker.settings import TrackerSettings

from .conftest import TEST_SECRET
from .test_tracker_ingestion import CONFIGS

pytestmark = pytest.mark.integration
MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    db = tmp_path_factory.mktemp("tracker-fuzz") / "tracker.db"
    app = create_app(
        TrackerSettings(
            database_url=f"sqlite:///{db}",
            jwt_secret=TEST_SECRET,
            bcrypt_cost=4,
            dev=True,
            auth_rate_limit=0,
            api_rate_limit=0,
            ingest_rate_limit=0,
            access_token_ttl_seconds=3600,
        )
    )
    with TestClient(app) as client:  # runs the migrations
        creds = {"email": "fuzz@example.com", "password": "fuzz password"}
        client.post("/api/v1/auth/signup", json=creds)
        token = client.post("/api/v1/auth/signin", json=creds).json()["data"]["accessToken"]
        auth = {"Authorization": f"Bearer {token}"}
        for config in CONFIGS:
            client.post("/api/v1/metric-configs", json=config, headers=auth)
        key = client.post("/api/v1/api-keys", json={}, headers=auth).json()["data"]["api_key"]
    headers = {**auth, "X-API-Key": key}
    return schemathesis.openapi.from_asgi("/openapi.json", app), headers


def test_tracker_openapi_fuzz_no_server_errors(fuzz_target: tuple[Any, dict[str, str]]) -> None:
    schema, headers = fuzz_target
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18  # every route is in the spec

    for operation in operations:
        for mode in GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                # Logout would revoke nothing we need; the access token stays valid.
                response = case.call(headers=headers)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:300]}"
                    )
                    raise AssertionError(failures[-1])

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE
    assert failures == []
