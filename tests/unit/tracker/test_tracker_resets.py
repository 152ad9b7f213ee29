"""Password reset tokens and mail, account deletion, GET /api/v1/metrics and key copy,
in-process (delivery through a real SMTP server is in tests/integration/tracker)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from promkit.core.errors import ConfigError
from promkit.tracker.app import create_app
from promkit.tracker.mail import ResetMailer, parse_smtp_url
from promkit.tracker.models import PasswordReset, User
from promkit.tracker.resets import MAX_OUTSTANDING, PasswordResets
from promkit.tracker.settings import TrackerSettings, load_settings

PASSWORD = "correct horse"


def settings(tmp_path: Path, **overrides: Any) -> TrackerSettings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 't.db'}", "jwt_secret": "u" * 48,
        "bcrypt_cost": 4, "dev": True, "auth_rate_limit": 0, "api_rate_limit": 0,
    }  # fmt: skip
    values.update(overrides)
    return TrackerSettings(**values)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path))) as c:
        yield c


def sign_in(client: TestClient, email: str = "ada@example.com") -> dict[str, Any]:
    client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    r = client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def auth(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessToken']}"}


def issue(client: TestClient, email: str) -> str | None:
    """A reset token made directly (no mail is configured in unit tests)."""
    ctx = client.app.state.tracker  # type: ignore[attr-defined]
    with ctx.db.session() as db:
        user = db.scalar(select(User).where(User.email == email))
        raw = PasswordResets(1800).issue(db, user)
        db.commit()
    return raw


# SMTP settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example:587", ("smtp", "mail.example", 587, None, None)),
        ("smtp://mail.example", ("smtp", "mail.example", 25, None, None)),
        ("smtps://u%40x:p%3Aw@mail.example", ("smtps", "mail.example", 465, "u@x", "p:w")),
    ],
)
def test_smtp_url_parses_scheme_host_port_and_credentials(
    url: str, expected: tuple[Any, ...]
) -> None:
    server = parse_smtp_url(url)
    password = server.password.get_secret_value() if server.password else None
    assert (server.scheme, server.host, server.port, server.username, password) == expected
    assert "p:w" not in repr(server)


@pytest.mark.parametrize(
    "url",
    ["http://u:hunter22@mail.example", "smtp://u:hunter22@", "smtp://u:hunter22@h/path",
     "smtp://u:hunter22@h:99999"],
)  # fmt: skip
def test_smtp_url_refused_without_echoing_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(require_secrets=False, smtp_url=url)
    assert "SMTP_URL" in (info.value.hint or "")
    assert "hunter22" not in info.value.message + (info.value.hint or "")


def test_smtp_password_never_in_settings_repr(tmp_path: Path) -> None:
    s = settings(tmp_path, smtp_url="smtp://u:hunter22@mail.example:587")
    assert "hunter22" not in repr(s) and "hunter22" not in str(s.model_dump())


def test_reset_mail_holds_the_link_and_the_lifetime(tmp_path: Path) -> None:
    s = settings(
        tmp_path, smtp_url="smtp://mail.example", public_url="https://t.example/",
        password_reset_ttl_seconds=600,
    )  # fmt: skip
    mailer = ResetMailer.from_settings(s)
    assert mailer is not None
    message = mailer.compose("ada@example.com", "TOKEN123")
    body = message.get_content()
    assert "https://t.example/app/#/reset?token=TOKEN123" in body
    assert "10 minutes" in body
    assert message["From"] == "promkit tracker <no-reply@t.example>"
    assert ResetMailer.from_settings(settings(tmp_path, smtp_url="smtp://m.example")) is None


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        ({}, True),
        ({"smtp_url": "smtp://u:hunter22@mail.example"}, True),  # no public URL
        ({"smtp_url": "smtp://u:hunter22@mail.example", "public_url": "https://t.example"}, False),
    ],
)
def test_startup_warns_once_when_reset_mail_is_not_configured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, overrides: dict[str, str], warned: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="promkit.tracker")
    with TestClient(create_app(settings(tmp_path, **overrides))):
        pass
    warnings = [r.getMessage() for r in caplog.records if "password reset mail" in r.getMessage()]
    assert len(warnings) == (1 if warned else 0)
    assert "hunter22" not in caplog.text


# password reset ------------------------------------------------------------------------------


def test_reset_request_without_mail_answers_generically_and_stores_nothing(
    client: TestClient,
) -> None:
    sign_in(client)
    known = client.post("/api/v1/auth/password-reset-request", json={"email": "ADA@example.com"})
    unknown = client.post("/api/v1/auth/password-reset-request", json={"email": "x@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.json()["message"] == unknown.json()["message"]
    ctx = client.app.state.tracker  # type: ignore[attr-defined]
    with ctx.db.session() as db:
        assert db.scalar(select(func.count()).select_from(PasswordReset)) == 0


def test_reset_request_refuses_a_malformed_email(client: TestClient) -> None:
    r = client.post("/api/v1/auth/password-reset-request", json={"email": "not-an-email"})
    assert r.status_code == 400 and r.json()["kind"] == "UsageError"


def test_reset_routes_share_the_auth_rate_limit(tmp_path: Path) -> None:
    with TestClient(create_app(settings(tmp_path, auth_rate_limit=2))) as c:
        codes = [
            c.post("/api/v1/auth/password-reset-request", json={"email": "a@example.com"})
            .status_code for _ in range(3)
        ]  # fmt: skip
        reset = c.post("/api/v1/auth/password-reset", json={"token": "t", "password": "x" * 8})
    assert codes == [200, 200, 429] and reset.status_code == 429


def test_reset_sets_the_password_once_and_revokes_sessions(client: TestClient) -> None:
    old = sign_in(client)
    token = issue(client, "ada@example.com")
    assert token is not None and len(token) >= 43  # 32 random bytes, url-safe
    r = client.post("/api/v1/auth/password-reset", json={"token": token, "password": "new pass 1"})
    assert r.status_code == 200, r.text
    assert client.post("/api/v1/auth/refresh", json=old).status_code == 401
    signin = client.post(
        "/api/v1/auth/signin", json={"email": "ada@example.com", "password": "new pass 1"}
    )
    assert signin.status_code == 200
    reuse = client.post("/api/v1/auth/password-reset", json={"token": token, "password": "x" * 9})
    assert reuse.status_code == 401 and reuse.json()["hint"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"token": "x", "password": "short"}, 400),
        ({"token": "x" * 129, "password": "long enough"}, 400),
        ({"token": "unknown-token", "password": "long enough"}, 401),
    ],
)
def test_reset_refuses_bad_input(client: TestClient, body: dict[str, str], status: int) -> None:
    r = client.post("/api/v1/auth/password-reset", json=body)
    assert r.status_code == status
    assert body["password"] not in r.text


def test_reset_a_weak_new_password_leaves_the_token_usable(client: TestClient) -> None:
    sign_in(client)
    token = issue(client, "ada@example.com")
    weak = client.post("/api/v1/auth/password-reset", json={"token": token, "password": "short"})
    assert weak.status_code == 400
    r = client.post("/api/v1/auth/password-reset", json={"token": token, "password": "long enough"})
    assert r.status_code == 200


def test_reset_links_per_user_are_capped(client: TestClient) -> None:
    sign_in(client)
    tokens = [issue(client, "ada@example.com") for _ in range(MAX_OUTSTANDING + 1)]
    assert all(tokens[:MAX_OUTSTANDING]) and tokens[MAX_OUTSTANDING] is None


# account, metrics info, key copy -------------------------------------------------------------


def test_account_deletion_needs_the_password_and_a_token(client: TestClient) -> None:
    session = sign_in(client)
    no_token = client.request("DELETE", "/api/v1/auth/account", json={"password": PASSWORD})
    wrong = client.request(
        "DELETE", "/api/v1/auth/account", json={"password": "wrong one"}, headers=auth(session)
    )
    missing = client.request("DELETE", "/api/v1/auth/account", json={}, headers=auth(session))
    assert (no_token.status_code, wrong.status_code, missing.status_code) == (401, 401, 400)
    assert client.get("/api/v1/auth/me", headers=auth(session)).status_code == 200


def test_metrics_info_urls_null_unless_configured(client: TestClient) -> None:
    assert client.get("/api/v1/metrics").status_code == 401
    data = client.get("/api/v1/metrics", headers=auth(sign_in(client))).json()["data"]
    assert data["prometheusUrl"] is None and data["grafanaUrl"] is None
    assert data["metricsEndpoint"] == "/metrics" and data["message"]


def test_metrics_info_urls_from_settings_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMKIT_TRACKER_QUERY_URL", "http://reader:s3cret@vm.example:8428")
    s = settings(tmp_path, grafana_url="https://admin:s3cret@grafana.example/g/")
    with TestClient(create_app(s)) as c:
        r = c.get("/api/v1/metrics", headers=auth(sign_in(c)))
    data = r.json()["data"]
    assert data["prometheusUrl"] == "http://vm.example:8428"
    assert data["grafanaUrl"] == "https://grafana.example/g"
    assert "s3cret" not in r.text


def test_key_copy_is_gone_for_own_keys_and_not_found_otherwise(client: TestClient) -> None:
    mine = auth(sign_in(client))
    key = client.post("/api/v1/api-keys", json={"key_name": "k"}, headers=mine).json()["data"]
    client.patch(f"/api/v1/api-keys/{key['id']}", json={"is_active": False}, headers=mine)
    r = client.post(f"/api/v1/api-keys/{key['id']}/copy", headers=mine)
    assert r.status_code == 410
    body = r.json()
    assert body["success"] is False and "shown once" in body["error"]
    assert "create a new key" in body["hint"] and key["api_key"] not in r.text
    other = auth(sign_in(client, "eve@example.com"))
    assert client.post(f"/api/v1/api-keys/{key['id']}/copy", headers=other).status_code == 404
    assert client.post("/api/v1/api-keys/424242/copy", headers=mine).status_code == 404
    assert client.post(f"/api/v1/api-keys/{key['id']}/copy").status_code == 401
