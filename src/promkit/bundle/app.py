"""The ``promkit ui`` console: a FastAPI app serving the wizard page and its JSON API.

Built only by ``create_app(settings)``; nothing connects or reads the environment at import
time. The security model (Host/Origin checks, session token, error mapping) lives in
``promkit.core.web`` and is applied to every route here. The API is split by resource in
``promkit.bundle.routes``: connection (validate), discovery, sample, export jobs, download.
"""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

from promkit.bundle.routes import ROUTERS
from promkit.bundle.routes.connection import ValidateRequest
from promkit.bundle.routes.deps import (
    ClientFactory,
    Console,
    ConsoleSettings,
    Validator,
    connect_with_tsdb,
    validate_with_tsdb,
)
from promkit.core.jobs import JobManager
from promkit.core.web import (
    LocalUIGuard,
    install_error_handlers,
    load_static,
    page_response,
    static_response,
)

__all__ = [
    "ConfigResponse",
    "ConsoleSettings",
    "HealthResponse",
    "ValidateRequest",
    "Validator",
    "create_app",
    "validate_with_tsdb",
]


IMPORT_MARKER = b"<!-- promkit:import-wizard -->"


class HealthResponse(BaseModel):
    status: str
    version: str


class ConfigResponse(BaseModel):
    version: str
    output_dir: str
    os: str


def create_app(
    settings: ConsoleSettings,
    *,
    validator: Validator | None = None,
    client_factory: ClientFactory | None = None,
) -> FastAPI:
    """Build the console app. ``validator``/``client_factory`` are injectable for tests."""

    def job_manager() -> JobManager:
        return JobManager(
            settings.staging_root,
            concurrency=settings.job_concurrency,
            retention_s=settings.job_retention_s,
        )

    console = Console(
        settings=settings,
        jobs=job_manager(),
        client_factory=client_factory or connect_with_tsdb,
        validator=validator or validate_with_tsdb,
    )
    closed = False
    assets = load_static("promkit.bundle")
    # the import wizard's markup lives in its own file, spliced into the one page
    index = assets["index.html"].body.replace(IMPORT_MARKER, assets["import.html"].body)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal closed
        if closed:  # served again after a shutdown (in-process test clients do that)
            console.jobs, closed = job_manager(), False
        yield
        console.jobs.shutdown(cancel=True)  # running jobs stop after their current window
        closed = True

    app = FastAPI(
        title="promkit console",
        version=settings.version,
        docs_url=None,  # Swagger/ReDoc pages load third-party scripts; the spec is enough
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.console = console
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

    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return page_response(index, settings.policy)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return static_response(assets, name)

    app.add_middleware(LocalUIGuard, policy=settings.policy)
    return app
