"""Fuzz the web app's routes of the tracker's OpenAPI spec: no generated input gives a 5xx.

In-process (ASGI) on SQLite, signed in as a user who owns a metric and a key, so the
authenticated routes run their real code; a few dozen cases per route and mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from promkit.tracker.app import create_app
from promkit.tracker.settings import TrackerSettings

from .conftest import TEST_SECRET, bearer, sign_in

pytestmark = pytest.mark.integration
MAX_EXAMPLES = 15
WEB_PREFIX = "/api/v1/web"


@pytest.fixture
def web_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, dict[str, str]]]:
    monkeypatch.delenv("PROMKIT_TRACKER_QUERY_URL", raising=False)
    settings_ = TrackerSettings(
        database_url=f"sqlite:///{tmp_path / 'fuzz.db'}", jwt_secret=TEST_SECRET, bcrypt_cost=4,
        dev=True, auth_rate_limit=0, api_rate_limit=0,
    )  # fmt: skip
    app = create_app(settings_)
    with TestClient(app) as client:  # runs the lifespan (migrations) once
        session = sign_in(client)
        headers = bearer(session)
        client.post("/api/v1/metric-configs", json={"name": "Views", "metric_type": "counter"},
                    headers=headers)  # fmt: skip
        yield schemathesis.openapi.from_asgi("/openapi.json", app), headers


def test_web_fuzz_no_server_errors(web_schema: tuple[Any, dict[str, str]]) -> None:
    schema, headers = web_schema
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith(WEB_PREFIX)
    ]
    assert {op.path for op in operations} >= {
        "/api/v1/web/session", "/api/v1/web/session/refresh", "/api/v1/web/session/logout",
        "/api/v1/web/overview", "/api/v1/web/metrics/{config_id}/history", "/api/v1/web/grafana",
    }  # fmt: skip
    failures: list[str] = []
    for operation in operations:
        for mode in GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck),
            )  # fmt: skip
            def run(case: schemathesis.Case) -> None:
                response = case.call(headers=headers)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}:"
                        f" {response.text[:300]}"
                    )
                    raise AssertionError(failures[-1])

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE
    assert failures == []
