"""Accounts contract: signup, signin, refresh rotation, reuse detection, logout, token types."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from promkit.tracker.models import RefreshToken, User

from .conftest import TEST_SECRET, bearer, sign_in


def test_auth_signup_then_signin_gives_working_tokens(client: TestClient) -> None:
    r = client.post(
        "/api/v1/auth/signup",
        json={"email": " Ada.Lovelace@Example.com ", "password": "correct horse", "name": "Ada"},
    )
    assert r.status_code == 201
    assert r.json()["success"] is True
    assert "accessToken" not in r.json()["data"]
    session = sign_in(client, "ada.lovelace@example.com", "correct horse")
    me = client.get("/api/v1/auth/me", headers=bearer(session))
    assert me.status_code == 200
    assert me.json()["data"]["email"] == "ada.lovelace@example.com"  # dots are kept
    assert me.json()["data"]["name"] == "Ada"


def test_auth_signup_does_not_reveal_existing_accounts(client: TestClient) -> None:
    first = client.post("/api/v1/auth/signup", json={"email": "a@b.io", "password": "password-1"})
    again = client.post("/api/v1/auth/signup", json={"email": "a@b.io", "password": "password-2"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    # The existing account keeps its password.
    ok = client.post("/api/v1/auth/signin", json={"email": "a@b.io", "password": "password-1"})
    assert ok.status_code == 200


def test_auth_signin_errors_are_the_same_for_unknown_email_and_wrong_password(
    client: TestClient,
) -> None:
    sign_in(client, "known@example.com", "password-1")
    unknown = client.post(
        "/api/v1/auth/signin", json={"email": "nobody@example.com", "password": "password-1"}
    )
    wrong = client.post(
        "/api/v1/auth/signin", json={"email": "known@example.com", "password": "password-2"}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.json()["success"] is False


def test_auth_validation_errors_never_echo_the_password(client: TestClient) -> None:
    r = client.post("/api/v1/auth/signup", json={"email": "x@example.com", "password": "s3cr3t"})
    assert r.status_code == 400
    assert "s3cr3t" not in r.text
    assert r.json()["details"][0]["loc"][-1] == "password"


def test_auth_refresh_rotates_and_old_token_is_refused(client: TestClient) -> None:
    session = sign_in(client)
    r = client.post("/api/v1/auth/refresh", json={"refreshToken": session["refreshToken"]})
    assert r.status_code == 200
    new = r.json()["data"]
    assert new["refreshToken"] != session["refreshToken"]
    assert client.get("/api/v1/auth/me", headers=bearer(new)).status_code == 200
    reuse = client.post("/api/v1/auth/refresh", json={"refreshToken": session["refreshToken"]})
    assert reuse.status_code == 401


def test_auth_reuse_of_rotated_refresh_token_revokes_the_family(client: TestClient) -> None:
    session = sign_in(client)
    other_device = sign_in(client)  # a second sign-in is a separate family
    rotated = client.post("/api/v1/auth/refresh", json={"refreshToken": session["refreshToken"]})
    successor = rotated.json()["data"]["refreshToken"]
    client.post("/api/v1/auth/refresh", json={"refreshToken": session["refreshToken"]})
    # The thief's replay killed the legitimate successor too...
    r = client.post("/api/v1/auth/refresh", json={"refreshToken": successor})
    assert r.status_code == 401
    # ...but not the other sign-in (signin does not end other sessions).
    r = client.post("/api/v1/auth/refresh", json={"refreshToken": other_device["refreshToken"]})
    assert r.status_code == 200


def test_auth_logout_revokes_the_refresh_token(client: TestClient) -> None:
    session = sign_in(client)
    r = client.post("/api/v1/auth/logout", json={"refreshToken": session["refreshToken"]})
    assert r.status_code == 200
    r = client.post("/api/v1/auth/refresh", json={"refreshToken": session["refreshToken"]})
    assert r.status_code == 401


def test_auth_refresh_token_is_not_an_access_token(client: TestClient) -> None:
    session = sign_in(client)
    r = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {session['refreshToken']}"}
    )
    assert r.status_code == 401
    # Even a correctly signed JWT is refused unless its type is "access".
    user_id = session["user"]["id"]
    forged = jwt.encode(
        {"sub": str(user_id), "type": "refresh", "exp": datetime.now(UTC) + timedelta(hours=1)},
        TEST_SECRET,
        algorithm="HS256",
    )
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert "type" in r.json()["error"]


@pytest.mark.parametrize(
    "token", ["", "not-a-jwt", jwt.encode({"sub": "1", "type": "access"}, "x" * 40)]
)
def test_auth_bad_access_tokens_are_refused(client: TestClient, token: str) -> None:
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["success"] is False


def test_auth_expired_access_token_is_refused(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(access_token_ttl_seconds=1)
    session = sign_in(client)
    expired = jwt.encode(
        {
            "sub": str(session["user"]["id"]),
            "type": "access",
            "exp": datetime.now(UTC) - timedelta(seconds=5),
        },
        TEST_SECRET,
        algorithm="HS256",
    )
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    assert "expired" in r.json()["error"]


def test_auth_secrets_are_stored_hashed(client: TestClient) -> None:
    session = sign_in(client, "hash@example.com", "correct horse")
    ctx = client.app.state.tracker  # type: ignore[attr-defined]
    with ctx.db.session() as db:
        user = db.scalar(select(User).where(User.email == "hash@example.com"))
        tokens = db.scalars(select(RefreshToken.token_hash)).all()
    assert user is not None
    assert user.password_hash.startswith("$2")
    assert "correct horse" not in user.password_hash
    assert session["refreshToken"] not in tokens
    assert len(tokens) == 1 and len(tokens[0]) == 64


def test_auth_rate_limit_answers_429_per_ip(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth_rate_limit=3)
    body = {"email": "rl@example.com", "password": "whatever-1"}
    codes = [client.post("/api/v1/auth/signin", json=body).status_code for _ in range(5)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]
    r = client.post("/api/v1/auth/signin", json=body)
    assert int(r.headers["Retry-After"]) >= 1


def test_refresh_has_its_own_larger_limit(make_client: Callable[..., TestClient]) -> None:
    """Page reloads refresh the session: they must not run into the sign-in limit."""
    client = make_client(auth_rate_limit=2, refresh_rate_limit=4)
    body = {"refreshToken": "not-a-real-token"}
    codes = [client.post("/api/v1/auth/refresh", json=body).status_code for _ in range(6)]
    assert codes == [401, 401, 401, 401, 429, 429]
    signin = {"email": "rl@example.com", "password": "whatever-1"}
    assert client.post("/api/v1/auth/signin", json=signin).status_code == 401  # own bucket
