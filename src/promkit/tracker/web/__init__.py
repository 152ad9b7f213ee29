"""The tracker's web app: cookie sessions, dashboard API and the static single-page app.

``install_web(app)`` adds it to an app built by :func:`promkit.tracker.app.create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI

from promkit.tracker.web import dashboard, grafana, pages, session
from promkit.tracker.web.context import WebContext
from promkit.tracker.web.history import HistorySource, WebSettings


def install_web(app: FastAPI, settings: WebSettings | None = None) -> WebContext:
    """Mount the web app's routers on ``app`` (env settings by default)."""
    settings = settings if settings is not None else WebSettings()
    web = WebContext(source=HistorySource.from_settings(settings))
    app.state.web = web
    for module in (session, dashboard, grafana, pages):
        app.include_router(module.router)
    return web


__all__ = ["WebContext", "WebSettings", "install_web"]
