"""The ``promkit ui`` console: a FastAPI app serving the page and its JSON API.

Built only by ``create_app(settings)``; nothing connects or reads the environment at import
time. The security model (Host/Origin checks, session token, error mapping) lives in
``promkit.core.web`` and is applied to every route here.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from promkit import __version__
from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.web import (
    LocalUIGuard,
    LocalUIPolicy,
    install_error_handlers,
    load_static,
    page_response,
    static_response,
)


class ValidationOutcome(Protocol):
    """What a validator reports (``promkit.core.tsdb.ValidationResult`` has this shape)."""

    @property
    def flavour(self) -> Any: ...
    @property
    def version(self) -> str | None: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def api_base_path(self) -> str: ...
    @property
    def tenant_id(self) -> str | None: ...
    @property
    def attempts(self) -> Sequence[Any]: ...
    @property
    def message(self) -> str | None: ...


Validator = Callable[[ConnectionConfig], ValidationOutcome]


def validate_with_tsdb(config: ConnectionConfig) -> ValidationOutcome:
    """The production validator: ``TSDBClient(Connection.from_config(config)).validate()``."""
    from promkit.core.tsdb import TSDBClient

    client = TSDBClient(Connection.from_config(config))
    try:
        result: ValidationOutcome = client.validate()
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()
    return result


@dataclass(frozen=True)
class ConsoleSettings:
    """Everything the console needs, resolved once by the CLI."""

    policy: LocalUIPolicy
    output_dir: Path
    version: str = __version__


# --------------------------------------------------------------------------- API models


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: ConnectionConfig


class Attempt(BaseModel):
    """One endpoint the validator tried."""

    endpoint: str
    success: bool
    api_base_path: str | None = None
    status_code: int | None = None
    error: str | None = None


class ValidateResponse(BaseModel):
    flavour: str
    version: str | None
    endpoint: str
    api_base_path: str
    tenant_id: str | None
    message: str | None
    attempts: list[Attempt]


class HealthResponse(BaseModel):
    status: str
    version: str


class ConfigResponse(BaseModel):
    version: str
    output_dir: str
    os: str


def _attempt(raw: Any) -> Attempt:
    """Accept the validator's attempt records (dataclass, model or mapping)."""
    if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
        data = dataclasses.asdict(raw)
    elif isinstance(raw, BaseModel):
        data = raw.model_dump()
    elif isinstance(raw, dict):
        data = dict(raw)
    else:
        data = {"endpoint": str(raw), "success": False}
    data.setdefault("endpoint", data.get("url", ""))
    data.setdefault("success", bool(data.get("ok", False)))
    return Attempt.model_validate({k: v for k, v in data.items() if k in Attempt.model_fields})


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


def to_response(result: ValidationOutcome) -> ValidateResponse:
    return ValidateResponse(
        flavour=_text(result.flavour),
        version=result.version,
        endpoint=result.endpoint,
        api_base_path=result.api_base_path,
        tenant_id=result.tenant_id,
        message=result.message,
        attempts=[_attempt(a) for a in result.attempts],
    )


def attempts_payload(attempts: Sequence[Any]) -> list[dict[str, Any]]:
    """JSON-ready attempts for an error body (see ``core.web.error_body``)."""
    return [_attempt(a).model_dump() for a in attempts]


# --------------------------------------------------------------------------- the app


def create_app(settings: ConsoleSettings, *, validator: Validator | None = None) -> FastAPI:
    """Build the console app. ``validator`` is injectable for tests; default: the TSDB client."""
    validate = validator or validate_with_tsdb
    assets = load_static("promkit.bundle")
    index = assets["index.html"].body

    app = FastAPI(
        title="promkit console",
        version=settings.version,
        docs_url=None,  # Swagger/ReDoc pages load third-party scripts; the spec is enough
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    install_error_handlers(app)

    @app.get("/api/health", response_model=HealthResponse, tags=["console"])
    def health() -> HealthResponse:
        """Liveness probe; the only API route that needs no session token."""
        return HealthResponse(status="ok", version=settings.version)

    @app.get("/api/config", response_model=ConfigResponse, tags=["console"])
    def config() -> ConfigResponse:
        return ConfigResponse(
            version=settings.version,
            output_dir=str(settings.output_dir),
            os=platform.system().lower(),
        )

    @app.post(
        "/api/validate",
        response_model=ValidateResponse,
        tags=["gather"],
        responses={
            400: {"description": "bad connection settings"},
            401: {"description": "credentials refused"},
            502: {"description": "server unreachable or answered with an error"},
        },
    )
    def validate_connection(body: ValidateRequest) -> ValidateResponse:
        """Tell which server answers at the connection and its version.

        Credentials are never echoed: the answer holds the resolved endpoint only.
        """
        return to_response(validate(body.connection))

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return page_response(index, settings.policy)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return static_response(assets, name)

    app.add_middleware(LocalUIGuard, policy=settings.policy)
    return app


__all__ = [
    "Attempt",
    "ConfigResponse",
    "ConsoleSettings",
    "HealthResponse",
    "ValidateRequest",
    "ValidateResponse",
    "ValidationOutcome",
    "Validator",
    "attempts_payload",
    "create_app",
    "to_response",
    "validate_with_tsdb",
]
