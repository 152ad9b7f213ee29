"""The console app in-process: routes, security guard, error mapping, no credential echo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from promkit.bundle.app import ConsoleSettings, create_app
from promkit.core.connection import AuthType, Connection, ConnectionConfig
from promkit.core.errors import AuthError, ConnectError, UpstreamError
from promkit.core.tsdb import Attempt, Flavour, ValidationResult
from promkit.core.web import TOKEN_HEADER, LocalUIPolicy

PORT = 18081
TOKEN = "unit-test-session-token"
BASE = f"http://127.0.0.1:{PORT}"
AUTH = {TOKEN_HEADER: TOKEN}
SECRETS = ("pa55-w0rd-xyz", "t0ken-abc-123", "hdr-value-789")
SCRIPTS = (
    "app.js",
    "api.js",
    "dom.js",
    "connection.js",
    "timerange.js",
    "selection.js",
    "preview.js",
    "exportjob.js",
    "jobrunner.js",
)


class FakeValidator:
    """Resolves the connection like the real one, then answers by host name."""

    def __init__(self) -> None:
        self.seen: list[ConnectionConfig] = []

    def __call__(self, config: ConnectionConfig) -> ValidationResult:
        self.seen.append(config)
        conn = Connection.from_config(config)
        if conn.host == "down.invalid":
            error = ConnectError(
                f"cannot connect to {conn.display_url}", hint="check that the server is running"
            )
            error.attempts = [  # type: ignore[attr-defined]
                Attempt(endpoint=conn.api_url("query"), ok=False, error="connection refused")
            ]
            raise error
        if conn.host == "locked.invalid":
            raise AuthError(f"{conn.display_url} refused the credentials")
        if conn.host == "broken.invalid":
            raise UpstreamError("server answered 500", hint="look at the server log")
        return ValidationResult(
            flavour=Flavour.VMSINGLE,
            version="v1.79.5",
            endpoint=conn.display_url,
            api_base_path=conn.base_path,
            tenant_id=conn.tenant_id,
            attempts=[Attempt(endpoint=conn.api_url("query"), ok=True, status=200)],
            message="VictoriaMetrics single-node v1.79.5",
        )


@pytest.fixture
def validator() -> FakeValidator:
    return FakeValidator()


@pytest.fixture
def client(validator: FakeValidator, tmp_path: Path) -> Iterator[TestClient]:
    settings = ConsoleSettings(
        policy=LocalUIPolicy(port=PORT, token=SecretStr(TOKEN)),
        output_dir=tmp_path,
        version="9.9.9",
    )
    app = create_app(settings, validator=validator)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def _validate(client: TestClient, connection: dict[str, object]) -> httpx.Response:
    response: httpx.Response = client.post(
        "/api/validate", json={"connection": connection}, headers=AUTH
    )
    return response


def test_app_health_reports_version_without_token(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": "9.9.9"}


def test_app_config_needs_token_and_reports_output_dir(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/api/config").status_code == 401
    body = client.get("/api/config", headers=AUTH).json()
    assert body["output_dir"] == str(tmp_path) and body["version"] == "9.9.9"


def test_app_validate_success_reports_flavour_version_endpoint(
    client: TestClient, validator: FakeValidator
) -> None:
    r = client.post(
        "/api/validate",
        json={"connection": {"url": "http://vm.invalid:8481/select/3/prometheus/"}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flavour"] == "vmsingle"
    assert body["version"] == "v1.79.5"
    assert body["endpoint"] == "http://vm.invalid:8481/select/3/prometheus"
    assert body["tenant_id"] == "3"
    assert body["attempts"] == [
        {
            "endpoint": "http://vm.invalid:8481/select/3/prometheus/api/v1/query",
            "ok": True,
            "status": 200,
            "error": None,
        }
    ]
    assert validator.seen[0].url == "http://vm.invalid:8481/select/3/prometheus/"


def test_app_validate_requires_token(client: TestClient, validator: FakeValidator) -> None:
    r = client.post("/api/validate", json={"connection": {"url": "http://vm.invalid"}})
    assert r.status_code == 401
    assert validator.seen == []


def test_app_validate_refuses_cross_origin_before_touching_the_server(
    client: TestClient, validator: FakeValidator
) -> None:
    r = client.post(
        "/api/validate",
        json={"connection": {"url": "http://vm.invalid"}},
        headers={**AUTH, "Origin": "https://attacker.example"},
    )
    assert r.status_code == 403
    assert validator.seen == []


@pytest.mark.parametrize(
    ("host", "status", "hint"),
    [
        ("down.invalid", 502, "check that the server is running"),
        ("locked.invalid", 401, AuthError.default_hint),
        ("broken.invalid", 502, "look at the server log"),
    ],
)
def test_app_validate_failure_maps_error_to_status_and_hint(
    client: TestClient, host: str, status: int, hint: str
) -> None:
    r = _validate(client, {"url": f"http://{host}:8428"})
    assert r.status_code == status
    body = r.json()
    assert body["error"] and body["hint"] == hint


def test_app_validate_failure_lists_the_attempts(client: TestClient) -> None:
    body = _validate(client, {"url": "http://down.invalid:8428"}).json()
    assert body["attempts"] == [
        {
            "endpoint": "http://down.invalid:8428/api/v1/query",
            "ok": False,
            "status": None,
            "error": "connection refused",
        }
    ]


@pytest.mark.parametrize(
    "connection",
    [
        {"url": ""},
        {"url": "ftp://vm.invalid"},
        {"url": "http://vm.invalid:8481/select/"},
        {"url": "http://vm.invalid", "auth": {"type": "basic"}},
        {"url": "http://vm.invalid", "auth": {"type": "kerberos"}},
        {"nope": 1},
    ],
)
def test_app_validate_bad_connection_is_400_with_hint(
    client: TestClient, connection: dict[str, object]
) -> None:
    r = _validate(client, connection)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] and body["hint"]


def test_app_validate_rejects_unknown_top_level_fields(client: TestClient) -> None:
    r = client.post(
        "/api/validate",
        json={"connection": {"url": "http://vm.invalid"}, "extra": 1},
        headers=AUTH,
    )
    assert r.status_code == 400


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "basic", "username": "alice", "password": SECRETS[0]},
        {"type": "bearer", "token": SECRETS[1]},
        {"type": "header", "header_name": "X-Api-Key", "header_value": SECRETS[2]},
    ],
)
@pytest.mark.parametrize("host", ["vm.invalid", "down.invalid", "locked.invalid"])
def test_app_never_echoes_credentials(
    client: TestClient, validator: FakeValidator, auth: dict[str, str], host: str
) -> None:
    r = _validate(client, {"url": f"http://{host}:8428", "auth": auth})
    text = r.text
    assert all(secret not in text for secret in SECRETS)
    assert validator.seen[-1].auth.type is AuthType(auth["type"])  # they did reach the validator


def test_app_never_echoes_credentials_given_in_the_url(client: TestClient) -> None:
    r = _validate(client, {"url": f"http://alice:{SECRETS[0]}@vm.invalid:8428"})
    assert r.status_code == 200
    assert SECRETS[0] not in r.text and "alice" not in r.text


def test_app_validation_error_does_not_echo_submitted_password(client: TestClient) -> None:
    r = _validate(client, {"url": 12, "auth": {"type": "basic", "password": SECRETS[0]}})
    assert r.status_code == 400
    assert SECRETS[0] not in r.text


def test_app_page_embeds_session_token_and_loads_module(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert f'content="{TOKEN}"' in r.text
    assert '<script type="module" src="/static/app.js">' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("name", "media"),
    [*((name, "text/javascript") for name in SCRIPTS), ("app.css", "text/css")],
)
def test_app_serves_static_assets(client: TestClient, name: str, media: str) -> None:
    r = client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(media)
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/..%2fapp.py", "/static/%2e%2e/app.py", "/static/../app.py"]
)
def test_app_static_never_leaves_the_package_folder(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert "create_app" not in r.text


def test_app_static_scripts_never_use_inner_html(client: TestClient) -> None:
    for name in SCRIPTS:
        source = client.get(f"/static/{name}").text
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{name} uses {sink}"


def test_app_openapi_spec_is_served_behind_the_token(client: TestClient) -> None:
    assert client.get("/api/openapi.json").status_code == 401
    spec = client.get("/api/openapi.json", headers=AUTH).json()
    assert "/api/validate" in spec["paths"]
    assert client.get("/docs").status_code == 404


def test_app_api_surface_is_exactly_the_documented_routes(client: TestClient) -> None:
    spec = client.get("/api/openapi.json", headers=AUTH).json()
    assert set(spec["paths"]) == {
        "/api/health",
        "/api/config",
        "/api/validate",
        "/api/validate-query",
        "/api/discover",
        "/api/sample",
        "/api/export",
        "/api/export/start",
        "/api/export/status",
        "/api/export/cancel",
        "/api/export/resume",
        "/api/download",
        "/api/import/bundles",
        "/api/import/upload",
        "/api/import/discard",
        "/api/import/preflight",
        "/api/import/start",
        "/api/import/status",
        "/api/import/cancel",
        "/api/import/resume",
    }  # in particular no file-system browsing (vmgather's /api/fs/*)
