"""The tracker app factory: ``create_app(settings)`` builds everything, import builds nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from promkit import __version__
from promkit.tracker.context import TrackerContext
from promkit.tracker.envelope import install_error_handlers
from promkit.tracker.middleware import SecurityMiddleware
from promkit.tracker.routes import auth, health
from promkit.tracker.settings import TrackerSettings, check_settings


def create_app(settings: TrackerSettings) -> FastAPI:
    """A tracker app for ``settings`` (checked: unsafe secrets are refused outside dev)."""
    settings = check_settings(settings)
    ctx = TrackerContext.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            ctx.db.migrate()
        try:
            yield
        finally:
            await ctx.limiter.close()
            ctx.db.dispose()

    app = FastAPI(
        title="promkit tracker",
        version=__version__,
        description="Multi-user web metrics: accounts, API keys, metric definitions,"
        " ingestion and Prometheus exposition.",
        lifespan=lifespan,
    )
    app.state.tracker = ctx
    install_error_handlers(app)
    for module in (health, auth):
        app.include_router(module.router)
    app.add_middleware(SecurityMiddleware)
    return app


__all__ = ["create_app"]
