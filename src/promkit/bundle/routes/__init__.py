"""The console's JSON API, one router per resource (see each module)."""

from __future__ import annotations

from fastapi import APIRouter

from promkit.bundle.routes import (
    connection,
    discovery,
    download,
    export,
    import_bundles,
    import_jobs,
    sample,
)

ROUTERS: tuple[APIRouter, ...] = (
    connection.router,
    discovery.router,
    sample.router,
    export.router,
    download.router,
    import_bundles.router,
    import_jobs.router,
)

__all__ = ["ROUTERS"]
