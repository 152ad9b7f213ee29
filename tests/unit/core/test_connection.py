"""Connection: URL normalisation, tenants, auth headers, TLS and proxy settings (no sockets)."""

from __future__ import annotations

import base64
import ssl
from typing import Any

import httpx
import pytest

from promkit.core.connection import Auth, AuthType, Connection, ConnectionConfig, PathKind
from promkit.core.errors import UsageError

# (url, extra config) -> (query base URL, export base URL, import base URL, tenant)
NORMALISATION_CASES: list[tuple[str, dict[str, Any], tuple[str, str, str, str | None]]] = [
    ("http://vm:8428", {}, ("http://vm:8428", "http://vm:8428", "http://vm:8428", None)),
    ("vm:8428", {}, ("http://vm:8428", "http://vm:8428", "http://vm:8428", None)),
    ("  localhost:8428/  ", {}, ("http://localhost:8428",) * 3 + (None,)),
    ("HTTPS://VM.Example.COM", {}, ("https://vm.example.com",) * 3 + (None,)),
    ("http://vm:8428///", {}, ("http://vm:8428",) * 3 + (None,)),
    ("http://vm:8428/prometheus", {}, ("http://vm:8428/prometheus",) * 3 + (None,)),
    ("http://vm:8428/prometheus/", {}, ("http://vm:8428/prometheus",) * 3 + (None,)),
    ("http://vm:8428/prometheus/api/v1/query", {}, ("http://vm:8428/prometheus",) * 3 + (None,)),
    ("http://vm:8428/api/v1/query_range?query=up", {}, ("http://vm:8428",) * 3 + (None,)),
    ("http://vm:8428/vmui/", {}, ("http://vm:8428",) * 3 + (None,)),
    (
        "http://vmselect:8481/select/0/prometheus",
        {},
        (
            "http://vmselect:8481/select/0/prometheus",
            "http://vmselect:8481/select/0/prometheus",
            "http://vmselect:8481/insert/0/prometheus",
            "0",
        ),
    ),
    (
        "http://vmselect:8481/select/42",
        {},
        (
            "http://vmselect:8481/select/42/prometheus",
            "http://vmselect:8481/select/42/prometheus",
            "http://vmselect:8481/insert/42/prometheus",
            "42",
        ),
    ),
    (
        "http://lb/select/7:3/prometheus/api/v1/series?match[]=up#frag",
        {},
        (
            "http://lb/select/7:3/prometheus",
            "http://lb/select/7:3/prometheus",
            "http://lb/insert/7:3/prometheus",
            "7:3",
        ),
    ),
    (
        "http://lb/select/multitenant/prometheus",
        {},
        (
            "http://lb/select/multitenant/prometheus",
            "http://lb/select/multitenant/prometheus",
            "http://lb/insert/multitenant/prometheus",
            "multitenant",
        ),
    ),
    (
        "http://lb/insert/5/prometheus/api/v1/import",
        {},
        (
            "http://lb/select/5/prometheus",
            "http://lb/select/5/prometheus",
            "http://lb/insert/5/prometheus",
            "5",
        ),
    ),
    ("http://vmauth:8427/1011", {}, ("http://vmauth:8427/1011/prometheus",) * 3 + ("1011",)),
    (
        "https://managed.example/1011/rw/prometheus",
        {},
        (
            "https://managed.example/1011/rw/prometheus",
            "https://managed.example/1011/prometheus",
            "https://managed.example/1011/rw/prometheus",
            "1011",
        ),
    ),
    (
        "https://managed.example/1011/rw/prometheus/api/v1/export/",
        {},
        (
            "https://managed.example/1011/rw/prometheus",
            "https://managed.example/1011/prometheus",
            "https://managed.example/1011/rw/prometheus",
            "1011",
        ),
    ),
    (
        "http://proxy/team-a/rw/prometheus",
        {},
        (
            "http://proxy/team-a/rw/prometheus",
            "http://proxy/team-a/prometheus",
            "http://proxy/team-a/rw/prometheus",
            None,
        ),
    ),
    ("http://proxy/prom", {}, ("http://proxy/prom",) * 3 + (None,)),
    ("http://proxy/a/b/", {}, ("http://proxy/a/b",) * 3 + (None,)),
    (
        "http://[::1]:8428/select/0/prometheus",
        {},
        ("http://[::1]:8428/select/0/prometheus",) * 2
        + ("http://[::1]:8428/insert/0/prometheus",)
        + ("0",),
    ),
    ("[2001:db8::1]:9090", {}, ("http://[2001:db8::1]:9090",) * 3 + (None,)),
    ("http://user:pa%40ss@vm:8428/", {}, ("http://vm:8428",) * 3 + (None,)),
    ("http://10.0.0.5", {}, ("http://10.0.0.5",) * 3 + (None,)),
    ("http://vm_host:8428", {}, ("http://vm_host:8428",) * 3 + (None,)),
    (
        "http://vmselect:8481",
        {"tenant_id": "3"},
        ("http://vmselect:8481/select/3/prometheus",) * 2
        + ("http://vmselect:8481/insert/3/prometheus", "3"),
    ),
    (
        "http://vmselect:8481",
        {"api_base_path": "/select/0/prometheus/"},
        ("http://vmselect:8481/select/0/prometheus",) * 2
        + ("http://vmselect:8481/insert/0/prometheus", "0"),
    ),
    (
        "http://vmselect:8481/select/0/prometheus",
        {"api_base_path": "/select/0/prometheus"},
        ("http://vmselect:8481/select/0/prometheus",) * 2
        + ("http://vmselect:8481/insert/0/prometheus", "0"),
    ),
    (
        "http://lb/select/0/prometheus",
        {"tenant_id": "0"},
        ("http://lb/select/0/prometheus",) * 2 + ("http://lb/insert/0/prometheus", "0"),
    ),
]


@pytest.mark.parametrize(("url", "extra", "expected"), NORMALISATION_CASES)
def test_connection_normalises_url(
    url: str, extra: dict[str, Any], expected: tuple[str, str, str, str | None]
) -> None:
    conn = Connection.from_config(ConnectionConfig(url=url, **extra))
    got = (conn.query_base_url, conn.export_base_url, conn.import_base_url, conn.tenant_id)
    assert got == expected
    assert conn.display_url == conn.query_base_url
    assert "@" not in conn.display_url and "?" not in conn.display_url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://vm:21", "scheme"),
        ("http://vm:99999", "port"),
        ("http://vm:port", "port"),
        ("http://vm:0", "port 0"),
        ("http://", "no host"),
        ("http://vm host:8428", "spaces"),
        ("http:\\\\vm\\x", "backslash"),
        ("http://-bad-.example", "host"),
        ("http://exa$mple.com", "host"),
        ("http://vm:8428/select/prometheus", "tenant"),
        ("http://vm:8428/select/", "tenant"),
        ("http://vm:8428/insert/abc/prometheus", "tenant"),
    ],
)
def test_connection_rejects_bad_url_with_hint(url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        Connection.from_url(url)
    assert fragment in info.value.message
    assert info.value.hint


def test_connection_vmselect_without_tenant_hints_select_form() -> None:
    with pytest.raises(UsageError) as info:
        Connection.from_url("http://vmselect:8481/select")
    assert info.value.hint is not None
    assert "/select/0/prometheus" in info.value.hint


def test_connection_bad_url_error_hides_userinfo() -> None:
    with pytest.raises(UsageError) as info:
        Connection.from_url("ftp://bob:hunter2@vm:21")
    assert "hunter2" not in str(info.value) and "bob" not in str(info.value)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"tenant_id": "abc"}, "invalid tenant"),
        ({"tenant_id": "1", "url": "http://lb/select/2/prometheus"}, "conflicts"),
        ({"auth": {"type": "basic"}}, "username"),
        ({"auth": {"type": "bearer"}}, "token"),
        ({"auth": {"type": "header", "header_value": "v"}}, "header name"),
        ({"auth": {"type": "header", "header_name": "X-K", "header_value": "a\nb"}}, "one-line"),
        ({"headers": {"Bad Name": "v"}}, "header name"),
        ({"headers": {"X-Ok": "a\r\nInjected: 1"}}, "line break"),
        ({"ca_file": " "}, "CA file"),
    ],
)
def test_connection_rejects_bad_settings(extra: dict[str, Any], fragment: str) -> None:
    data: dict[str, Any] = {"url": "http://vm:8428", **extra}
    with pytest.raises(UsageError) as info:
        Connection.from_config(ConnectionConfig.model_validate(data))
    assert fragment in info.value.message


def test_connection_accepts_vmgather_auth_json() -> None:
    cfg = ConnectionConfig.model_validate(
        {
            "url": "http://vm:8428",
            "api_base_path": "",
            "tenant_id": "",
            "is_multitenant": False,
            "auth": {"type": "basic", "username": "u", "password": "p", "token": ""},
            "skip_tls_verify": False,
            "debug": True,
        }
    )
    conn = Connection.from_config(cfg)
    assert conn.auth.type is AuthType.BASIC
    assert conn.kind is PathKind.ROOT


def _captured(conn: Connection) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with conn.client(transport=httpx.MockTransport(handler)) as client:
        client.get(conn.api_url("query"))
    return seen[0]


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        (
            Auth(type=AuthType.BASIC, username="alice", password="s3cret"),  # type: ignore[arg-type]
            "authorization",
            "Basic " + base64.b64encode(b"alice:s3cret").decode(),
        ),
        (
            Auth(type=AuthType.BEARER, token="tok-123"),  # type: ignore[arg-type]
            "authorization",
            "Bearer tok-123",
        ),
        (
            Auth(type=AuthType.HEADER, header_name="X-Api-Key", header_value="k-9"),  # type: ignore[arg-type]
            "x-api-key",
            "k-9",
        ),
    ],
)
def test_connection_client_sends_auth(auth: Auth, header: str, value: str) -> None:
    conn = Connection.from_config(ConnectionConfig(url="http://vm:8428", auth=auth))
    assert _captured(conn).headers[header] == value


def test_connection_client_uses_url_userinfo_as_basic_auth() -> None:
    conn = Connection.from_url("http://bob:pa%40ss@vm:8428")
    request = _captured(conn)
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"bob:pa@ss").decode()
    assert request.url.host == "vm" and request.url.userinfo == b""


def test_connection_explicit_auth_wins_over_url_userinfo() -> None:
    auth = Auth(type=AuthType.BEARER, token="tok")  # type: ignore[arg-type]
    conn = Connection.from_config(ConnectionConfig(url="http://bob:pw@vm:8428", auth=auth))
    assert _captured(conn).headers["authorization"] == "Bearer tok"


def test_connection_client_sends_extra_headers() -> None:
    conn = Connection.from_config(
        ConnectionConfig(url="http://vm:8428", headers={"X-Scope-OrgID": "team"})
    )
    assert _captured(conn).headers["x-scope-orgid"] == "team"


def test_connection_tls_verification_settings(tmp_path: Any) -> None:
    assert Connection.from_url("https://vm").verify() is True
    assert Connection.from_url("https://vm", skip_tls_verify=True).verify() is False
    cafile = ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile
    ctx = Connection.from_url("https://vm", ca_file=cafile).verify()
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode is ssl.CERT_REQUIRED
    with pytest.raises(UsageError, match="cannot load CA file"):
        Connection.from_url("https://vm", ca_file=str(tmp_path / "missing.pem")).verify()


def test_connection_client_honours_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with Connection.from_url("https://vm.example").client() as client:
        assert client._transport_for_url(httpx.URL("https://vm.example/")) is not client._transport


def test_connection_timeout_is_per_step_not_global() -> None:
    conn = Connection.from_url("http://vm", timeout_seconds=7)
    with conn.client() as client:
        assert client.timeout.read == 7 and client.timeout.connect == 7


def test_connection_repr_and_redacted_hide_secrets() -> None:
    auth = Auth(type=AuthType.HEADER, header_name="X-Key", header_value="hv-secret")  # type: ignore[arg-type]
    conn = Connection.from_config(
        ConnectionConfig(url="http://u:url-secret@vm:8428/select/0/prometheus", auth=auth)
    )
    text = repr(conn) + str(conn) + str(conn.redacted())
    assert "hv-secret" not in text and "url-secret" not in text
    assert conn.redacted()["auth_type"] == "header"
    assert conn.redacted()["url"] == "http://vm:8428/select/0/prometheus"


@pytest.mark.parametrize(
    ("auth", "header", "raw"),
    [
        (Auth(type=AuthType.BEARER, token="tök"), "authorization", "Bearer tök".encode()),  # type: ignore[arg-type]
        (
            Auth(type=AuthType.HEADER, header_name="X-K", header_value="vä"),  # type: ignore[arg-type]
            "x-k",
            "vä".encode(),
        ),
        (
            Auth(type=AuthType.BASIC, username="ü", password="pä"),  # type: ignore[arg-type]
            "authorization",
            b"Basic " + base64.b64encode("ü:pä".encode()),
        ),
    ],
)
def test_connection_client_sends_non_ascii_secrets_as_utf8(
    auth: Auth, header: str, raw: bytes
) -> None:
    conn = Connection.from_config(
        ConnectionConfig(url="http://vm:8428", auth=auth, headers={"X-Team": "équipe"})
    )
    request = _captured(conn)
    assert request.headers.get_list(header) and request.headers.raw
    assert (header.encode(), raw) in [(k.lower(), v) for k, v in request.headers.raw]
    assert (b"x-team", "équipe".encode()) in [(k.lower(), v) for k, v in request.headers.raw]


@pytest.mark.parametrize(
    "url",
    ["http://bob:pw-Secret@vm:8428/x?y=1", "bob:pw-Secret@vm:8428", "https://bob:pw-Secret@[::1]"],
)
def test_connection_config_moves_url_userinfo_into_auth(url: str) -> None:
    cfg = ConnectionConfig(url=url)
    assert "pw-Secret" not in repr(cfg) + cfg.model_dump_json() + cfg.url
    assert cfg.auth.type is AuthType.BASIC and cfg.auth.username == "bob"
    assert cfg.auth.password is not None and cfg.auth.password.get_secret_value() == "pw-Secret"
    assert "@" not in cfg.url
