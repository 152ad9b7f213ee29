"""Fuzz the console's OpenAPI spec with schemathesis: no generated input may cause a 5xx.

The app runs in-process (ASGI) with the real engine, but every connection it is asked to
open is validated as given and then pointed at the session's real VictoriaMetrics, so
generated host names never reach DNS or the network. Bounded: a few dozen valid-shaped and
invalid cases per route (about 20-40 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode

from promkit.bundle.app import ConsoleSettings, create_app
from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.tsdb import TSDBClient, ValidationResult
from promkit.core.web import TOKEN_HEADER, LocalUIPolicy
from support.servers import VMServer

pytestmark = pytest.mark.integration

TOKEN = "fuzz-session-token"
HEADERS = {TOKEN_HEADER: TOKEN}
MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def api_app(vm: VMServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    def redirect(config: ConnectionConfig) -> Connection:
        Connection.from_config(config)  # the generated settings are checked as given...
        return Connection.from_url(vm.url, timeout_seconds=10)  # ...then sent to the real VM

    def client_factory(config: ConnectionConfig) -> TSDBClient:
        return TSDBClient(redirect(config))

    def validator(config: ConnectionConfig) -> ValidationResult:
        with TSDBClient(redirect(config)) as client:
            return client.validate()

    out: Path = tmp_path_factory.mktemp("fuzz-output")
    policy = LocalUIPolicy(
        port=80, token=SecretStr(TOKEN), extra_hosts=frozenset({"testserver", "localhost"})
    )
    app = create_app(
        ConsoleSettings(policy=policy, output_dir=out, job_concurrency=1),
        validator=validator,
        client_factory=client_factory,
    )
    return app


@pytest.fixture(scope="module")
def api_schema(api_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/api/openapi.json", api_app, headers=HEADERS)


def test_openapi_fuzz_no_server_errors(api_schema: Any) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10  # every route is in the spec

    cases = [(op, mode) for op in operations for mode in GenerationMode]
    for operation, mode in cases:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=HEADERS)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )
                raise AssertionError(failures[-1])

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # a route without inputs has no bad ones
    assert failures == []


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_time = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["now", "now-1h", "now-5m", "2026-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]),
    _text,
)
_selector = st.one_of(
    st.sampled_from(["up", '{job=~".+"}', 'vm_app_version{job="x"}', "rate(up[5m])", "up or"]),
    _text,
)
_request = st.fixed_dictionaries(
    {
        "connection": st.just({"url": "http://127.0.0.1:1"}),
        "time_range": st.one_of(
            st.fixed_dictionaries(
                {
                    "start": st.sampled_from(["now-1h", "now-3h", "now-10m"]),
                    "end": st.sampled_from(["now", "now-1m"]),
                }
            ),
            st.fixed_dictionaries({"start": _time, "end": _time}),
        ),
        "mode": st.sampled_from(["cluster", "selector", "query"]),
    },
    optional={
        "jobs": st.lists(
            st.one_of(st.sampled_from(["victoria-metrics", "a|b", "x"]), _text), max_size=3
        ),
        "components": st.lists(st.sampled_from(["vmstorage", "vmsingle", "nope"]), max_size=2),
        "selector": _selector,
        "query": _selector,
        "step": st.one_of(st.integers(-5, 10**6), _text),
        "obfuscation": st.fixed_dictionaries(
            {},
            optional={
                "enabled": st.booleans(),
                "custom_labels": st.lists(_text, max_size=2),
                "drop_labels": st.lists(_text, max_size=2),
            },
        ),
        "batching": st.fixed_dictionaries(
            {}, optional={"enabled": st.booleans(), "window": st.one_of(st.integers(), _text)}
        ),
    },
)


def test_openapi_fuzz_export_requests_never_5xx(api_app: Any) -> None:
    """Well-formed but odd export requests go deep into the engine: still never a 5xx."""
    with TestClient(api_app, base_url="http://localhost") as client:  # runs the lifespan

        @given(
            body=_request,
            route=st.sampled_from(["/api/export/start", "/api/sample", "/api/discover"]),
        )
        @example(
            body={
                "connection": {"url": "http://127.0.0.1:1"},
                "time_range": {"start": "now-1h", "end": "now"},
                "mode": "selector",
                "selector": '{__name__=~"vm_app_version|up"}',
                "obfuscation": {"enabled": True},
            },
            route="/api/export/start",
        )
        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(body: dict[str, Any], route: str) -> None:
            if route == "/api/sample":
                payload: dict[str, Any] = {"config": body, "limit": 5}
            elif route == "/api/discover":
                payload = {
                    k: body[k] for k in ("connection", "time_range", "selector") if k in body
                }
                payload["mode"] = "selector" if body["mode"] != "cluster" else "cluster"
            else:
                payload = body
            r = client.post(route, json=payload, headers=HEADERS)
            assert r.status_code < 500, (route, payload, r.text)
            seen.append((route, r.status_code))

        seen: list[tuple[str, int]] = []
        run()
        assert ("/api/export/start", 200) in seen  # some requests did start jobs
        jobs = api_app.state.console.jobs
        for snap in jobs.jobs():
            final = jobs.wait(snap.job_id, timeout=60)
            assert final.state != "running", final
            assert not (final.error or "").startswith("internal error"), final
