"""Local-UI security and plumbing: addresses, sockets, Host/Origin/token checks, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr

from promkit.core.errors import AuthError, ConnectError, NotFoundError, PromkitError, UsageError
from promkit.core.web import (
    TOKEN_HEADER,
    TOKEN_PLACEHOLDER,
    ListenAddress,
    LocalUIGuard,
    LocalUIPolicy,
    browser_url,
    check_remote,
    install_error_handlers,
    open_browser,
    page_response,
    parse_listen_address,
)

PORT = 18080
TOKEN = "t0k3n-for-tests"
BASE = f"http://127.0.0.1:{PORT}"


class Body(BaseModel):
    password: str
    count: int


def _app() -> FastAPI:
    policy = LocalUIPolicy(port=PORT, token=SecretStr(TOKEN))
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/echo")
    def echo(body: Body) -> dict[str, int]:
        return {"count": body.count}

    @app.get("/api/fail/{kind}")
    def fail(kind: str) -> None:
        errors: dict[str, PromkitError] = {
            "auth": AuthError("credentials refused by http://vm:8428"),
            "connect": ConnectError("cannot reach vm:8428", hint="is it running?"),
            "missing": NotFoundError("no such job"),
        }
        raise errors[kind]

    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/")
    def page() -> object:
        return page_response(f"<meta content='{TOKEN_PLACEHOLDER}'>".encode(), policy)

    app.add_middleware(LocalUIGuard, policy=policy)
    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(_app(), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


AUTH = {TOKEN_HEADER: TOKEN}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ListenAddress("127.0.0.1", 8080)),
        ("localhost:9000", ListenAddress("127.0.0.1", 9000)),
        (":7000", ListenAddress("127.0.0.1", 7000)),
        ("127.0.0.1", ListenAddress("127.0.0.1", 8080)),
        ("0.0.0.0:80", ListenAddress("0.0.0.0", 80)),
        ("[::1]:8081", ListenAddress("::1", 8081)),
        ("::1", ListenAddress("::1", 8080)),
        ("127.0.0.1:0", ListenAddress("127.0.0.1", 0)),
    ],
)
def test_parse_listen_address_accepts(text: str, expected: ListenAddress) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize(
    "text", ["127.0.0.1:http", "127.0.0.1:70000", "example.com:80", "[::1", "[::1]x", "1.2.3:80"]
)
def test_parse_listen_address_rejects_with_hint(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_listen_address(text)
    assert info.value.hint


def test_check_remote_refuses_public_bind_without_flag() -> None:
    with pytest.raises(UsageError, match="reachable from other machines") as info:
        check_remote(ListenAddress("0.0.0.0", 8080), allow_remote=False)
    assert "--allow-remote" in (info.value.hint or "")


def test_check_remote_warns_with_flag_and_is_silent_on_loopback() -> None:
    warning = check_remote(ListenAddress("0.0.0.0", 8080), allow_remote=True)
    assert warning is not None and "other machines" in warning
    assert check_remote(ListenAddress("127.0.0.1", 8080), allow_remote=False) is None


def test_browser_url_uses_loopback_for_wildcard() -> None:
    assert browser_url(ListenAddress("0.0.0.0", 9)) == "http://127.0.0.1:9/"
    assert browser_url(ListenAddress("::1", 9)) == "http://[::1]:9/"


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok"}


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_api_without_the_session_token_is_401(client: TestClient, token: str | None) -> None:
    headers = {TOKEN_HEADER: token} if token is not None else {}
    r = client.post("/api/echo", json={"password": "p", "count": 1}, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "missing or wrong session token"
    assert r.json()["hint"]


def test_api_with_the_session_token_works(client: TestClient) -> None:
    r = client.post("/api/echo", json={"password": "p", "count": 3}, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"count": 3}


@pytest.mark.parametrize(
    "host",
    ["evil.example", f"evil.example:{PORT}", f"127.0.0.1:{PORT + 1}", "127.0.0.1.nip.io", ""],
)
def test_unexpected_host_is_403_even_with_token(client: TestClient, host: str) -> None:
    r = client.get("/api/health", headers={**AUTH, "Host": host})
    assert r.status_code == 403
    assert "Host" in r.json()["error"]
    assert client.get("/", headers={"Host": host}).status_code == 403


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}"])
def test_loopback_hosts_with_our_port_are_served(client: TestClient, host: str) -> None:
    assert client.get("/api/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        f"http://evil.example:{PORT}",
        f"http://127.0.0.1:{PORT + 1}",
        "http://127.0.0.1",
        "null",
        f"http://localhost:{PORT}/path",
    ],
)
def test_foreign_origin_is_403_even_with_token(client: TestClient, origin: str) -> None:
    r = client.post(
        "/api/echo", json={"password": "p", "count": 1}, headers={**AUTH, "Origin": origin}
    )
    assert r.status_code == 403
    assert "another web site" in r.json()["error"]


@pytest.mark.parametrize(
    "origin", [f"http://127.0.0.1:{PORT}", f"http://localhost:{PORT}", f"http://[::1]:{PORT}"]
)
def test_own_origin_is_allowed(client: TestClient, origin: str) -> None:
    r = client.post(
        "/api/echo", json={"password": "p", "count": 2}, headers={**AUTH, "Origin": origin}
    )
    assert r.status_code == 200


def test_cross_site_fetch_metadata_is_403(client: TestClient) -> None:
    r = client.get("/api/health", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert client.get("/api/health", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_remote_policy_accepts_its_bind_address_only_with_our_port() -> None:
    policy = LocalUIPolicy.for_address(ListenAddress("192.0.2.10", PORT))
    assert policy.host_allowed(f"192.0.2.10:{PORT}")
    assert policy.origin_allowed(f"http://192.0.2.10:{PORT}")
    assert not policy.host_allowed(f"192.0.2.11:{PORT}")
    assert not LocalUIPolicy.for_address(ListenAddress("127.0.0.1", PORT)).host_allowed(
        f"192.0.2.10:{PORT}"
    )


@pytest.mark.parametrize(
    ("kind", "status", "hint"),
    [
        ("auth", 401, AuthError.default_hint),
        ("connect", 502, "is it running?"),
        ("missing", 404, None),
    ],
)
def test_promkit_errors_map_to_status_and_json(
    client: TestClient, kind: str, status: int, hint: str | None
) -> None:
    r = client.get(f"/api/fail/{kind}", headers=AUTH)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert isinstance(body["error"], str) and body["error"]
    assert body["hint"] == hint


def test_validation_error_is_400_and_never_echoes_the_input(client: TestClient) -> None:
    r = client.post("/api/echo", json={"password": "hunter2-secret", "count": "many"}, headers=AUTH)
    assert r.status_code == 400
    body = r.json()
    assert body["error"].startswith("invalid request: count:")
    assert body["hint"]
    assert "hunter2-secret" not in r.text and "many" not in r.text


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post(
        "/api/echo",
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith("invalid request")


def test_unknown_api_path_and_method_are_json(client: TestClient) -> None:
    r = client.get("/api/nope", headers=AUTH)
    assert r.status_code == 404 and "error" in r.json()
    r = client.get("/api/echo", headers=AUTH)
    assert r.status_code == 405 and "error" in r.json()


def test_unexpected_exception_is_500_json_without_internals(client: TestClient) -> None:
    r = client.get("/api/boom", headers=AUTH)
    assert r.status_code == 500
    assert r.json()["error"] == "internal error: RuntimeError"
    assert "secret internals" not in r.text


def test_page_carries_token_and_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert TOKEN in r.text and TOKEN_PLACEHOLDER not in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


def test_open_browser_is_skipped_without_a_graphical_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert open_browser("http://127.0.0.1:1/", delay=0) is False
    monkeypatch.setenv("DISPLAY", ":0")
    assert open_browser("http://127.0.0.1:1/", delay=0) is True
    deadline = time.monotonic() + 5
    while not opened and time.monotonic() < deadline:
        time.sleep(0.01)
    assert opened == ["http://127.0.0.1:1/"]
