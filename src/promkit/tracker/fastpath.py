"""The edge of the tracker app: ingestion answered in plain ASGI, everything else by FastAPI.

Ingestion is the one hot path (every visitor of every site sends batches), and FastAPI's
routing, dependency solving and middleware cost several times the work of the ingestion
itself. So ``POST /api/v1/metrics`` is served here with the same :mod:`ingestion` code the
documented FastAPI route uses, the same JSON envelopes and the same error mapping.

Under ``tracker serve`` (:class:`~promkit.core.http_server.DirectRouteHttpProtocol`) the
common case goes further: a batch whose key, definitions and user are cached is answered by
:meth:`IngestEndpoint.answer_now` inside the HTTP protocol, without an ASGI task; anything
that must wait (a rate limit, a database read) is handed to the ASGI path.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from promkit.core.errors import DataError, PromkitError
from promkit.core.http_server import Answer, DirectRoute
from promkit.tracker.context import TrackerContext
from promkit.tracker.ingestion import BatchResult, PayloadTooLargeError, ingest, ingest_now
from promkit.tracker.middleware import INGEST_HEADERS, SecurityMiddleware, log_access
from promkit.tracker.ratelimit import RateLimitedError

log = logging.getLogger("promkit.tracker")
INGEST_PATH = "/api/v1/metrics"
JSON_HEADERS = list(INGEST_HEADERS)  # content type, security and CORS headers


def error_body(exc: PromkitError) -> bytes:
    return orjson.dumps(
        {"success": False, "error": exc.message, "hint": exc.hint, "kind": type(exc).__name__}
    )


class IngestEndpoint:
    """``POST /api/v1/metrics`` as a bare ASGI callable, with its own headers and access log
    (the security middleware's per-request wrapper is measurable on this path)."""

    def __init__(self, ctx: TrackerContext) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        try:
            status, headers, body = await self._handle(scope, receive)
            # A length instead of chunked framing: fewer bytes and less work on both ends.
            headers = [*headers, (b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            log_access(scope, status, started)

    async def _handle(self, scope: Scope, receive: Receive) -> Answer:
        try:
            raw_key, origin = _credentials(scope)
            body = await _read_body(receive, self.ctx.settings.max_body_bytes)
            return _answer(await ingest(self.ctx, raw_key, body, origin))
        except Exception as exc:
            return _refusal(exc)

    def answer_now(self, scope: Scope, body: bytes) -> Answer | None:
        """The answer when the batch needs nothing awaited, else None (nothing done yet);
        the caller adds the content length (a :class:`DirectRoute`'s ``answer``)."""
        started = time.perf_counter()
        try:
            raw_key, origin = _credentials(scope)
            result = ingest_now(self.ctx, raw_key, body, origin)
            if result is None:
                return None
            answer = _answer(result)
        except Exception as exc:
            answer = _refusal(exc)
        log_access(scope, answer[0], started)
        return answer

    def direct_route(self) -> DirectRoute:
        return DirectRoute(self.answer_now, self.ctx.settings.max_body_bytes)


def _answer(result: BatchResult) -> Answer:
    if not result.processed:
        refused = DataError("no valid metrics to process", hint="see details")
        payload = orjson.loads(error_body(refused))
        payload["details"] = result.errors
        return 422, JSON_HEADERS, orjson.dumps(payload)
    data = {"processed": result.processed, "total": result.total, "errors": result.errors}
    return 200, JSON_HEADERS, orjson.dumps({"success": True, "data": data})


def _refusal(exc: Exception) -> Answer:
    """The JSON error answer for an exception raised while ingesting."""
    if not isinstance(exc, PromkitError):  # the server would otherwise print a traceback
        log.error("internal error in ingestion: %s", type(exc).__name__, exc_info=exc)
        return 500, JSON_HEADERS, b'{"success":false,"error":"internal server error"}'
    headers = list(JSON_HEADERS)
    if isinstance(exc, RateLimitedError):
        headers.append((b"retry-after", str(exc.retry_after).encode()))
    elif exc.http_status == 401:
        headers.append((b"www-authenticate", b"API-Key"))
    return exc.http_status, headers, error_body(exc)


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    """(API key from X-API-Key or ?api_key=, Origin header)."""
    key: str | None = None
    origin: str | None = None
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            key = value.decode("latin-1")
        elif name == b"origin":
            origin = value.decode("latin-1")
    query = scope.get("query_string", b"")
    if key is None and query:
        values: list[str] = parse_qs(query.decode("latin-1")).get("api_key", [])
        if values:
            key = values[0]
    return key, origin


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class TrackerAPI(FastAPI):
    """FastAPI with an edge in front: ingestion to the fast path; everything else (CORS
    preflights included) through the security middleware to FastAPI."""

    ingest_endpoint: IngestEndpoint | None = None
    rest: SecurityMiddleware | None = None
    direct_routes: dict[tuple[str, str], DirectRoute] | None = None

    def install_edge(self, ingest_endpoint: IngestEndpoint) -> None:
        self.ingest_endpoint = ingest_endpoint
        self.rest = SecurityMiddleware(self.framework)
        self.direct_routes = {("POST", INGEST_PATH): ingest_endpoint.direct_route()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.rest is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)
        elif scope["path"] == INGEST_PATH and scope["method"] == "POST":
            await self.ingest_endpoint(scope, receive, send)  # type: ignore[misc]
        else:
            await self.rest(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


__all__ = ["IngestEndpoint", "TrackerAPI"]
