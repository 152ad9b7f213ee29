"""The web app's cookie session, CSRF checks, ingestion stats and static files, in-process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promkit.core.errors import AuthError
from promkit.tracker.app import create_app
from promkit.tracker.settings import TrackerSettings
from promkit.tracker.web.session import CsrfError, check_csrf

PASSWORD = "correct horse"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = TrackerSettings(
        database_url=f"sqlite:///{tmp_path / 't.db'}", jwt_secret="u" * 48, bcrypt_cost=4,
        dev=True, auth_rate_limit=0, api_rate_limit=0,
    )  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c


def sign_in(client: TestClient, email: str = "ada@example.com") -> dict[str, str]:
    client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    r = client.post("/api/v1/web/session", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    data: dict[str, str] = r.json()["data"]
    return data


def test_web_session_refresh_token_only_in_an_httponly_strict_cookie(client: TestClient) -> None:
    client.post("/api/v1/auth/signup", json={"email": "a@example.com", "password": PASSWORD})
    r = client.post("/api/v1/web/session", json={"email": "a@example.com", "password": PASSWORD})
    assert "refreshToken" not in r.json()["data"] and "rt_" not in r.text
    cookies = r.headers.get_list("set-cookie")
    refresh = next(c for c in cookies if c.startswith("promkit_refresh="))
    assert "HttpOnly" in refresh and "SameSite=strict" in refresh
    assert "Path=/api/v1/web/session;" in refresh + ";" and "Secure" not in refresh  # http
    csrf = next(c for c in cookies if c.startswith("promkit_csrf="))
    assert "HttpOnly" not in csrf and r.json()["data"]["csrfToken"] in csrf


def test_web_session_secure_cookies_behind_https(tmp_path: Path) -> None:
    settings = TrackerSettings(
        database_url=f"sqlite:///{tmp_path / 't.db'}", jwt_secret="u" * 48, bcrypt_cost=4,
        dev=True, auth_rate_limit=0, public_url="https://tracker.example.com",
    )  # fmt: skip
    with TestClient(create_app(settings)) as c:
        c.post("/api/v1/auth/signup", json={"email": "s@example.com", "password": PASSWORD})
        r = c.post("/api/v1/web/session", json={"email": "s@example.com", "password": PASSWORD})
    assert all("Secure" in cookie for cookie in r.headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": "", "Origin": "http://testserver"}],
)
def test_web_session_refresh_needs_the_csrf_token(
    client: TestClient, headers: dict[str, str]
) -> None:
    sign_in(client)
    r = client.post("/api/v1/web/session/refresh", headers=headers)
    assert r.status_code == 403 and r.json()["kind"] == "CsrfError"


def test_web_session_refresh_refuses_a_foreign_origin(client: TestClient) -> None:
    data = sign_in(client)
    r = client.post(
        "/api/v1/web/session/refresh",
        headers={"X-CSRF-Token": data["csrfToken"], "Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]


def test_web_session_refresh_rotates_and_reuse_revokes(client: TestClient) -> None:
    data = sign_in(client)
    old = client.cookies.get("promkit_refresh")
    r = client.post(
        "/api/v1/web/session/refresh",
        headers={"X-CSRF-Token": data["csrfToken"], "Origin": "http://testserver"},
    )
    assert r.status_code == 200, r.text
    fresh = r.json()["data"]
    assert client.cookies.get("promkit_refresh") != old
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {fresh['accessToken']}"})
    assert me.json()["data"]["email"] == "ada@example.com"
    # replaying the rotated cookie (a stolen copy) revokes the whole sign-in
    client.cookies.set("promkit_refresh", old or "", path="/api/v1/web/session")
    replay = client.post(
        "/api/v1/web/session/refresh", headers={"X-CSRF-Token": fresh["csrfToken"]}
    )
    assert replay.status_code == 401 and "reused" in replay.json()["error"]


def test_web_session_logout_revokes_and_clears_cookies(client: TestClient) -> None:
    data = sign_in(client)
    token = client.cookies.get("promkit_refresh")
    r = client.post("/api/v1/web/session/logout", headers={"X-CSRF-Token": data["csrfToken"]})
    assert r.status_code == 200
    assert any(c.startswith('promkit_refresh=""') or "Max-Age=0" in c
               for c in r.headers.get_list("set-cookie"))  # fmt: skip
    client.cookies.set("promkit_refresh", token or "", path="/api/v1/web/session")
    client.cookies.set("promkit_csrf", "x")
    again = client.post("/api/v1/web/session/refresh", headers={"X-CSRF-Token": "x"})
    assert again.status_code == 401


def test_web_session_wrong_password_and_unknown_email_look_the_same(client: TestClient) -> None:
    sign_in(client)
    wrong = client.post("/api/v1/web/session", json={"email": "ada@example.com", "password": "x"})
    unknown = client.post("/api/v1/web/session", json={"email": "no@example.com", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"]
    assert "set-cookie" not in wrong.headers


def test_web_csrf_check_is_strict() -> None:
    check_csrf("abc", "abc")
    for cookie, header in [(None, "abc"), ("abc", None), ("abc", "abd"), ("", "")]:
        with pytest.raises(CsrfError):
            check_csrf(cookie, header)
    assert issubclass(CsrfError, AuthError) and CsrfError.http_status == 403


def test_web_stats_count_ingestion_answers(client: TestClient) -> None:
    data = sign_in(client)
    auth = {"Authorization": f"Bearer {data['accessToken']}"}
    client.post("/api/v1/metric-configs", json={"name": "Views", "metric_type": "counter"},
                headers=auth)  # fmt: skip
    key = client.post("/api/v1/api-keys", json={"key_name": "k"}, headers=auth).json()["data"]
    items = [{"name": "views", "value": 1}, {"name": "nope", "value": 1}]
    client.post("/api/v1/metrics", json={"metrics": items}, headers={"X-API-Key": key["api_key"]})
    client.post("/api/v1/metrics", json={"metrics": items[1:]},
                params={"api_key": key["api_key"]})  # fmt: skip
    overview = client.get("/api/v1/web/overview", headers=auth).json()["data"]
    assert overview["ingestion"]["accepted"] == 1 and overview["ingestion"]["rejected"] == 2
    assert overview["ingestion"]["last_seen"] is not None
    assert [(k["accepted"], k["rejected"]) for k in overview["keys"]] == [(1, 2)]
    assert overview["metrics"][0]["current"] == 1.0 and overview["tsdb"] is False
    # Written behind with the series: the key list shows when the key was last used.
    listed = client.get("/api/v1/api-keys", headers=auth).json()["data"]
    assert listed[0]["last_used_at"] == overview["ingestion"]["last_seen"]
    assert "PROMKIT_TRACKER_QUERY_URL" in overview["hint"]


def test_web_pages_serve_the_app_with_a_strict_csp(client: TestClient) -> None:
    r = client.get("/app/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert client.get("/app/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/app/static/nope.js").status_code == 404
    assert client.get("/", follow_redirects=False).headers["location"] == "/app/"


def test_web_static_files_render_user_data_as_text_only() -> None:
    root = resources.files("promkit.tracker.web") / "static"
    sources = {
        e.name: e.read_text("utf-8") for e in root.iterdir() if e.name.endswith((".js", ".html"))
    }
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|localStorage\.setItem|sessionStorage\.setItem"
    )
    assert {
        name: forbidden.findall(text) for name, text in sources.items() if forbidden.search(text)
    } == {}
    assert "<script>" not in sources["index.html"]  # no inline script (the CSP forbids it)
