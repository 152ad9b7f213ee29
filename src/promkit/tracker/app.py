"""The tracker app factory: ``create_app(settings)`` builds everything, import builds nothing."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from promkit import __version__
from promkit.tracker.context import TrackerContext
from promkit.tracker.envelope import install_error_handlers
from promkit.tracker.fastpath import IngestEndpoint, TrackerAPI
from promkit.tracker.routes import (
    api_keys,
    auth,
    code_generation,
    health,
    metric_configs,
    metrics,
    tracker_script,
)
from promkit.tracker.settings import TrackerSettings, check_settings
from promkit.tracker.web import install_web

log = logging.getLogger("promkit.tracker")


def create_app(settings: TrackerSettings) -> FastAPI:
    """A tracker app for ``settings`` (checked: unsafe secrets are refused outside dev)."""
    settings = check_settings(settings)
    ctx = TrackerContext.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await asyncio.to_thread(ctx.db.migrate)
        # Everything built so far lives as long as the app: keep the collector off it, so
        # ingestion's short-lived objects do not pay for full collections of the ORM's.
        gc.freeze()
        stop = asyncio.Event()
        flusher = asyncio.create_task(ctx.store.run(settings.flush_interval_seconds, stop))
        try:
            yield
        finally:
            stop.set()
            await flusher
            try:
                await ctx.store.flush()  # nothing ingested is lost on a clean stop
            except SQLAlchemyError as exc:
                log.error("final series flush failed: %s", type(exc).__name__)
            ctx.store.close()
            await ctx.limiter.close()
            ctx.db.dispose()

    app = TrackerAPI(
        title="promkit tracker",
        version=__version__,
        description="Multi-user web metrics: accounts, API keys, metric definitions,"
        " ingestion and Prometheus exposition.",
        lifespan=lifespan,
    )
    app.state.tracker = ctx
    install_error_handlers(app)
    routers = (health, auth, api_keys, metric_configs, metrics, code_generation, tracker_script)
    for module in routers:
        app.include_router(module.router)
    install_web(app)  # web app: cookie sessions, dashboard API, /app/ (tracker.web)
    # Outside FastAPI's own middleware: headers and logs for every answer, fast ingestion.
    app.install_edge(IngestEndpoint(ctx))
    return app


__all__ = ["create_app"]
