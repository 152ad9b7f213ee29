"""``GET /api/v1/tracker.js?k=<key>&a=0|1&c=0|1``: the tracking library for one key.

Errors answer as JavaScript comments (the page loads this with a <script> tag, so JSON
would be a syntax error in the site's console). The ETag follows the body; a matching
``If-None-Match`` gets 304.
"""

from __future__ import annotations

import asyncio
import gzip
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from promkit.core.errors import PromkitError
from promkit.tracker.apikeys import key_hash
from promkit.tracker.deps import ContextDep
from promkit.tracker.ratelimit import enforce
from promkit.tracker.snippet import render_tracker

router = APIRouter(tags=["snippet"])
JS = "application/javascript; charset=utf-8"


def _flag(value: str | None) -> bool:
    return value != "0"  # the reference's rule: anything but "0" is on


def base_url(request: Request, public_url: str | None) -> str:
    return (public_url or str(request.base_url)).rstrip("/")


def _js_error(status: int, message: str) -> Response:
    safe = message.replace("*/", "* /").replace("\n", " ")
    return Response(
        f"/* promkit tracker: {safe} */\n", status_code=status, media_type=JS,
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


@router.get("/api/v1/tracker.js", response_class=Response)
async def tracker_js(
    request: Request,
    ctx: ContextDep,
    k: Annotated[str | None, Query(max_length=200, description="API key")] = None,
    a: Annotated[str | None, Query(max_length=5, description="auto-tracking: 0 or 1")] = None,
    c: Annotated[str | None, Query(max_length=5, description="data-track events: 0 or 1")] = None,
) -> Response:
    if not k:
        return _js_error(400, "API key required (?k=)")
    digest = key_hash(k)
    s = ctx.settings
    try:
        await enforce(
            ctx.limiter, f"tjs:{digest[:24]}", s.ingest_rate_limit,
            s.rate_limit_window_seconds, "tracker.js",
        )  # fmt: skip
    except PromkitError as exc:
        return _js_error(exc.http_status, exc.message)
    hit, info = ctx.catalog.cached_key(digest)
    if not hit:
        info = await asyncio.to_thread(ctx.catalog.load_key, digest)
    if info is None or not info.active:
        return _js_error(401, "invalid or inactive API key")
    definitions = ctx.catalog.cached_definitions(info.user_id)
    if definitions is None:
        definitions = await asyncio.to_thread(ctx.catalog.load_definitions, info.user_id)
    script = render_tracker(
        k,
        base_url(request, s.public_url) + "/api/v1/metrics",
        definitions.values(),
        auto_track=_flag(a),
        custom_events=_flag(c),
    )
    headers = {
        "ETag": script.etag,
        "Cache-Control": "public, max-age=300, must-revalidate",
        "Vary": "Accept-Encoding",
    }
    gzipped = "gzip" in request.headers.get("accept-encoding", "")
    if gzipped:  # another representation, so another strong ETag
        headers["ETag"] = script.etag[:-1] + '-gz"'
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return Response(_gzipped(script.etag, script.body), media_type=JS, headers=headers)
    return Response(script.body, media_type=JS, headers=headers)


@lru_cache(maxsize=512)
def _gzipped(etag: str, body: bytes) -> bytes:
    """About a third of the size; cached per body (the ETag is its hash)."""
    return gzip.compress(body, compresslevel=9, mtime=0)


__all__ = ["base_url", "router"]
