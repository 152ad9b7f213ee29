"""What the web app adds to a tracker app: its history source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from promkit.tracker.web.history import HistorySource


@dataclass(frozen=True)
class WebContext:
    source: HistorySource


def get_web(request: Request) -> WebContext:
    web: WebContext = request.app.state.web
    return web


WebDep = Annotated[WebContext, Depends(get_web)]

__all__ = ["WebContext", "WebDep", "get_web"]
