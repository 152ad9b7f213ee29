"""The web app's static files: ``/app/`` (index.html) and ``/app/static/<file>``.

Files are read from the package with ``importlib.resources`` (no build step) and served
with a strict CSP of their own: scripts, styles and API calls only from this origin, no
inline script, no framing. Every route of the single-page app answers with index.html.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from promkit.core.errors import NotFoundError

router = APIRouter(include_in_schema=False)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}


@cache
def _files() -> dict[str, bytes]:
    root = resources.files("promkit.tracker.web") / "static"
    return {
        entry.name: entry.read_bytes()
        for entry in root.iterdir()
        if entry.is_file() and any(entry.name.endswith(ext) for ext in TYPES)
    }


def static_file(name: str) -> Response:
    body = _files().get(name)
    if body is None:
        raise NotFoundError(f"no such file: {name[:80]}", hint="reload the web app")
    media = next(t for ext, t in TYPES.items() if name.endswith(ext))
    return Response(body, media_type=media, headers=HEADERS)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


@router.get("/app")
def app_no_slash() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


@router.get("/app/")
def index() -> Response:
    return static_file("index.html")


@router.get("/app/static/{name}")
def asset(name: str) -> Response:
    return static_file(name)


__all__ = ["CSP", "router"]
