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
from hypothesis import HealthCheck, given, settings
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
def api_schema(vm: VMServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
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
    return schemathesis.openapi.from_asgi("/api/openapi.json", app, headers=HEADERS)


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
