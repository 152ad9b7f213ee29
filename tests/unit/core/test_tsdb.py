"""TSDBClient logic against httpx.MockTransport: error mapping, flavour signals, secrets."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from promkit.core.connection import Auth, AuthType, Connection, ConnectionConfig
from promkit.core.errors import (
    AuthError,
    ConnectError,
    DataError,
    PromkitError,
    UnsupportedError,
    UpstreamError,
    UsageError,
)
from promkit.core.tsdb import Flavour, TSDBClient, parse_labels

Handler = Callable[[httpx.Request], httpx.Response]

OK_QUERY = {"status": "success", "data": {"resultType": "vector", "result": []}}
VM_METRICS = (
    'vm_app_version{version="victoria-metrics-20220808-v1.79.5", short_version="v1.79.5"} 1\n'
    'vm_rows{type="storage/big"} 0\n'
    'flag{name="retentionPeriod", value="1", is_set="false"} 1\n'
    'flag{name="httpListenAddr", value="127.0.0.1:8428", is_set="true"} 1\n'
    'flag{name="weird", value="a\\"b\\\\c", is_set="true"} 1\n'
)


def client_for(handler: Handler, url: str = "http://tsdb:8428", **cfg: Any) -> TSDBClient:
    conn = Connection.from_config(ConnectionConfig(url=url, **cfg))
    return TSDBClient(conn, transport=httpx.MockTransport(handler))


def routes(table: dict[str, httpx.Response | Callable[[httpx.Request], httpx.Response]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        for suffix, answer in table.items():
            if request.url.path.endswith(suffix):
                return answer(request) if callable(answer) else answer
        return httpx.Response(404, text="404 page not found")

    return handler


# ------------------------------------------------------------------ flavour detection
@pytest.mark.parametrize(
    ("table", "url", "flavour", "version"),
    [
        (
            {
                "/api/v1/query": httpx.Response(200, json=OK_QUERY),
                "/metrics": httpx.Response(200, text=VM_METRICS),
            },
            "http://tsdb:8428",
            Flavour.VMSINGLE,
            "v1.79.5",
        ),
        (
            {
                "/api/v1/query": httpx.Response(200, json=OK_QUERY),
                "/metrics": httpx.Response(
                    200, text='vm_app_version{version="", short_version=""} 1\n'
                ),
            },
            "http://tsdb:8481/select/0/prometheus",
            Flavour.VMSELECT,
            None,
        ),
        (
            {
                "/api/v1/query": httpx.Response(200, json=OK_QUERY),
                "/metrics": httpx.Response(
                    200,
                    text='vmauth_user_requests_total{username="u"} 1\n'
                    'vm_app_version{version="", short_version=""} 1\n',
                ),
            },
            "http://tsdb:8427/1011/rw/prometheus",
            Flavour.VMAUTH,
            None,
        ),
        (
            {
                "/api/v1/query": httpx.Response(200, json=OK_QUERY),
                "/metrics": httpx.Response(200, text='prometheus_build_info{version="2.42.0"} 1\n'),
                "/api/v1/status/buildinfo": httpx.Response(
                    200, json={"status": "success", "data": {"version": "2.42.0", "revision": "x"}}
                ),
            },
            "http://tsdb:9090",
            Flavour.PROMETHEUS,
            "2.42.0",
        ),
        (  # /metrics hidden: buildinfo still identifies Prometheus
            {
                "/api/v1/query": httpx.Response(200, json=OK_QUERY),
                "/api/v1/status/buildinfo": httpx.Response(
                    200,
                    json={"status": "success", "data": {"version": "2.53.1", "goVersion": "go"}},
                ),
            },
            "http://tsdb/prom",
            Flavour.PROMETHEUS,
            "2.53.1",
        ),
        (  # /metrics hidden, doubled X-Server-Hostname: proxied by vmauth
            {
                "/api/v1/query": httpx.Response(
                    200,
                    json=OK_QUERY,
                    headers=[("X-Server-Hostname", "a"), ("X-Server-Hostname", "b")],
                )
            },
            "http://tsdb/1/rw/prometheus",
            Flavour.VMAUTH,
            None,
        ),
        (
            {"/api/v1/query": httpx.Response(200, json=OK_QUERY)},
            "http://tsdb",
            Flavour.UNKNOWN,
            None,
        ),
    ],
)
def test_validate_detects_flavour(
    table: dict[str, httpx.Response], url: str, flavour: Flavour, version: str | None
) -> None:
    with client_for(routes(table), url) as client:
        result = client.validate()
    assert (result.flavour, result.version) == (flavour, version)
    assert result.attempts[0].ok and result.attempts[0].endpoint.endswith("/api/v1/query")
    assert all("?" not in a.endpoint for a in result.attempts)
    assert result.endpoint in result.message


# ------------------------------------------------------------------ error mapping
@pytest.mark.parametrize(
    ("response", "error", "fragment"),
    [
        (
            httpx.Response(401, text="missing `Authorization` request header"),
            AuthError,
            "requires credentials",
        ),
        (httpx.Response(403, text="forbidden"), AuthError, "refused"),
        (
            httpx.Response(400, text='cannot find the provided auth token "Basic eA==" in config'),
            AuthError,
            "refused",
        ),
        (
            httpx.Response(400, text='cannot parse accountID from "v1"'),
            UsageError,
            "without a tenant",
        ),
        (httpx.Response(404, text="404 page not found"), UpstreamError, "404"),
        (
            httpx.Response(422, json={"status": "error", "error": "cannot parse query"}),
            UsageError,
            "cannot parse query",
        ),
        (httpx.Response(429, text="slow down"), UpstreamError, "rate limited"),
        (httpx.Response(503, text="overloaded"), UpstreamError, "overloaded"),
        (httpx.Response(200, text="<html>not an API</html>"), UpstreamError, "Prometheus API JSON"),
    ],
)
def test_query_maps_http_errors(
    response: httpx.Response, error: type[PromkitError], fragment: str
) -> None:
    with client_for(lambda r: response) as client, pytest.raises(error) as info:
        client.query("up")
    assert fragment in info.value.message
    assert type(info.value) is error


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "cannot connect"),
        (httpx.ConnectTimeout("timed out"), "no answer"),
        (httpx.ReadTimeout("timed out"), "no answer"),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "TLS"),
        (httpx.RemoteProtocolError("peer closed"), "failed"),
    ],
)
def test_validate_maps_transport_errors(exc: Exception, fragment: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with client_for(handler) as client, pytest.raises(ConnectError) as info:
        client.validate()
    assert fragment in info.value.message and info.value.hint
    attempts = info.value.attempts  # type: ignore[attr-defined]
    assert attempts[-1].ok is False


def test_validate_single_node_with_select_path_says_not_a_cluster() -> None:
    response = httpx.Response(
        400, text='unsupported path requested: "/select/0/prometheus/api/v1/query"'
    )
    url = "http://vm:8428/select/0/prometheus"
    with client_for(lambda r: response, url) as client, pytest.raises(UsageError) as info:
        client.validate()
    assert "not a VictoriaMetrics cluster" in info.value.message


# ------------------------------------------------------------------ export / import
def test_export_streams_chunks_with_identity_encoding() -> None:
    body = b"".join(
        b'{"metric":{"__name__":"m"},"values":[1],"timestamps":[%d]}\n' % i for i in range(2000)
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body)

    with client_for(handler, "https://m/1011/rw/prometheus") as client:
        stream = client.export(['{job="a"}', "up"], start=10, end=20.5, chunk_size=4096)
        chunks = list(stream)
    assert b"".join(chunks) == body and len(chunks) > 1
    request = seen[0]
    assert request.url.path == "/1011/prometheus/api/v1/export"
    assert request.headers["accept-encoding"] == "identity"
    form = parse_qs(request.content.decode())
    assert form == {"match[]": ['{job="a"}', "up"], "start": ["10"], "end": ["20.5"]}


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404, text="404 page not found"),
        httpx.Response(
            400,
            text='cannot determine targetURL: missing route for "/1/rw/prometheus/api/v1/export"',
        ),
        httpx.Response(
            400, text='unsupported path requested: "/select/0/prometheus/api/v1/export"'
        ),
    ],
)
def test_export_without_export_api_raises_unsupported(response: httpx.Response) -> None:
    with client_for(lambda r: response) as client, pytest.raises(UnsupportedError):
        client.export(["up"], None, None)


def test_import_stream_gzip_and_extra_labels() -> None:
    seen: list[tuple[httpx.Request, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request, request.read()))
        return httpx.Response(204)

    lines = [b'{"metric":{"__name__":"m"},"values":[1],"timestamps":[1]}\n'] * 3
    with client_for(handler, "http://lb/select/3/prometheus") as client:
        client.import_stream(iter(lines), gzip=True, extra_labels={"env": "lab"})
    request, raw = seen[0]
    assert request.url.path == "/insert/3/prometheus/api/v1/import"
    assert request.url.params.get_list("extra_label") == ["env=lab"]
    assert request.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == b"".join(lines)


def test_import_rejected_data_is_data_error() -> None:
    response = httpx.Response(400, text="cannot unmarshal JSON line")
    with client_for(lambda r: response) as client, pytest.raises(DataError):
        client.import_stream([b"not json\n"])


def test_flags_parses_vm_flag_series() -> None:
    with client_for(routes({"/metrics": httpx.Response(200, text=VM_METRICS)})) as client:
        flags = client.flags()
    assert flags["retentionPeriod"] == "1"
    assert flags["weird"] == 'a"b\\c'
    with client_for(routes({})) as client:
        assert client.flags() == {}


def test_parse_labels_unescapes() -> None:
    assert parse_labels('{a="x\\ny", b="q\\"", c="\\\\"}') == {"a": "x\ny", "b": 'q"', "c": "\\"}


def test_query_results_and_scalars() -> None:
    vector = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {"a": "b"}, "value": [1, "2"]}]},
    }
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}
    with client_for(lambda r: httpx.Response(200, json=vector)) as client:
        assert client.query("x") == [{"metric": {"a": "b"}, "value": [1, "2"]}]
    with client_for(lambda r: httpx.Response(200, json=scalar)) as client:
        assert client.query("1") == [{"metric": {}, "value": [1, "3"]}]


# ------------------------------------------------------------------ secrets never leak
SECRET_CASES = [
    ({"auth": Auth(type=AuthType.BASIC, username="alice", password="pw-Secret-1")}, "pw-Secret-1"),  # type: ignore[arg-type]
    ({"auth": Auth(type=AuthType.BEARER, token="tok-Secret-2")}, "tok-Secret-2"),  # type: ignore[arg-type]
    (
        {"auth": Auth(type=AuthType.HEADER, header_name="X-Api-Key", header_value="hv-Secret-3")},  # type: ignore[arg-type]
        "hv-Secret-3",
    ),
    ({"url": "http://bob:url-Secret-4@tsdb:8428/select/0/prometheus"}, "url-Secret-4"),
]


def _echo_all_headers(request: httpx.Request) -> str:
    """Like vmauth's 'cannot find the provided auth token "<header>"': servers echo secrets."""
    return " ".join(f"{k}={v}" for k, v in request.headers.items())


@pytest.mark.parametrize(("cfg", "secret"), SECRET_CASES)
def test_credentials_never_leak(
    cfg: dict[str, Any], secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    import base64

    cfg = {"url": "http://tsdb:8428", **cfg}
    forms = {secret, base64.b64encode(f"alice:{secret}".encode()).decode()}
    forms.add(base64.b64encode(f"bob:{secret}".encode()).decode())
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)

    def check(text: str) -> None:
        seen.append(text)
        for form in forms:
            assert form not in text

    conn = Connection.from_config(ConnectionConfig(**cfg))
    check(repr(conn) + str(conn) + conn.display_url + orjson.dumps(conn.redacted()).decode())

    scenarios: list[Handler] = [
        lambda r: httpx.Response(
            400, text=f'cannot find the provided auth token "{_echo_all_headers(r)}" in config'
        ),
        lambda r: httpx.Response(401, text=_echo_all_headers(r)),
        lambda r: httpx.Response(500, json={"status": "error", "error": _echo_all_headers(r)}),
        lambda r: httpx.Response(404, text=_echo_all_headers(r)),
        lambda r: httpx.Response(200, json={"status": "error", "error": _echo_all_headers(r)}),
    ]

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {_echo_all_headers(request)}")

    scenarios.append(boom)
    for handler in scenarios:
        client = TSDBClient(conn, transport=httpx.MockTransport(handler))
        check(repr(client))
        calls = (client.validate, partial(client.query, "up"), partial(client.export, ["up"]))
        for call in calls:
            try:
                call()
            except PromkitError as exc:
                check(
                    str(exc) + (exc.hint or "") + repr(exc) + orjson.dumps(exc.to_dict()).decode()
                )
                for attempt in getattr(exc, "attempts", []):
                    check(attempt.model_dump_json())
        client.close()

    ok = routes(
        {
            "/api/v1/query": httpx.Response(200, json=OK_QUERY),
            "/metrics": lambda r: httpx.Response(
                200, text=f"# {_echo_all_headers(r)}\n" + VM_METRICS
            ),
        }
    )
    with TSDBClient(conn, transport=httpx.MockTransport(ok)) as client:
        result = client.validate()
    check(result.model_dump_json())
    for record in caplog.records:
        check(record.getMessage())
    # the secret did reach the server, so the scrubbing above was really exercised
    assert len(seen) > 10


def test_validate_vmselect_root_without_tenant_hints_select_form() -> None:
    # vmselect's answer for /api/v1/query: the path has no /select/<tenant>/ part
    body = 'auth error: cannot parse accountID from "v1": strconv.ParseUint: parsing "v1"'
    response = httpx.Response(400, text=body)
    client = client_for(lambda r: response, "http://vmselect:8481")
    with client, pytest.raises(UsageError) as info:
        client.validate()
    assert "without a tenant" in info.value.message
    assert info.value.hint and "/select/0/prometheus" in info.value.hint
