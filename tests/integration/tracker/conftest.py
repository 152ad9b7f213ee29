"""The tracker contract suite runs every test against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from promkit.tracker.app import create_app
from promkit.tracker.settings import TrackerSettings

TEST_SECRET = "t" * 48


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    try:
        url: str = request.getfixturevalue("postgres_db")
    except pytest.FixtureLookupError:
        pytest.skip("the postgres_db fixture is not in tests/conftest.py yet")
    return url


@pytest.fixture
def make_settings(db_url: str) -> Callable[..., TrackerSettings]:
    def make(**overrides: Any) -> TrackerSettings:
        values: dict[str, Any] = {
            "database_url": db_url,
            "jwt_secret": TEST_SECRET,
            "bcrypt_cost": 4,
            "dev": True,
            "auth_rate_limit": 0,
            "api_rate_limit": 0,
            "flush_interval_seconds": 0.05,
        }
        values.update(overrides)
        return TrackerSettings(**values)

    return make


@pytest.fixture
def make_client(
    make_settings: Callable[..., TrackerSettings],
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def sign_in(
    client: TestClient, email: str = "ada@example.com", password: str = "correct horse"
) -> dict[str, Any]:
    """Sign up (if needed) and sign in; the ``data`` of the signin answer."""
    client.post("/api/v1/auth/signup", json={"email": email, "password": password})
    r = client.post("/api/v1/auth/signin", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessToken']}"}
