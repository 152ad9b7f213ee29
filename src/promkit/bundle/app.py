"""The ``promkit ui`` console: a FastAPI app serving the page and its JSON API.

Built only by ``create_app(settings)``; nothing connects or reads the environment at import
time. The security model (Host/Origin checks, session token, error mapping) lives in
``promkit.core.web`` and is applied to every route here.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from promkit import __version__
from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.tsdb import TSDBClient, ValidationResult
from promkit.core.web import (
    LocalUIGuard,
    LocalUIPolicy,
    install_error_handlers,
    load_static,
    page_response,
    static_response,
)

Validator = Callable[[ConnectionConfig], ValidationResult]


def validate_with_tsdb(config: ConnectionConfig) -> ValidationResult:
    """The production validator: ``TSDBClient(Connection.from_config(config)).validate()``."""
    with TSDBClient(Connection.from_config(config)) as client:
        return client.validate()


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


class HealthResponse(BaseModel):
    status: str
    version: str


class ConfigResponse(BaseModel):
    version: str
    output_dir: str
    os: str


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
        response_model=ValidationResult,
        tags=["gather"],
        responses={
            400: {"description": "bad connection settings"},
            401: {"description": "credentials refused"},
            502: {"description": "server unreachable or answered with an error"},
        },
    )
    def validate_connection(body: ValidateRequest) -> ValidationResult:
        """Tell which server answers at the connection and its version.

        Credentials are never echoed: the answer holds the resolved endpoint only.
        """
        return validate(body.connection)

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return page_response(index, settings.policy)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return static_response(assets, name)

    app.add_middleware(LocalUIGuard, policy=settings.policy)
    return app


__all__ = [
    "ConfigResponse",
    "ConsoleSettings",
    "HealthResponse",
    "ValidateRequest",
    "Validator",
    "create_app",
    "validate_with_tsdb",
]
