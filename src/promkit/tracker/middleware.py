"""ASGI middleware: security headers, CORS for the browser-facing paths, JSON access logs.

Written as plain ASGI (no BaseHTTPMiddleware) because it wraps the ingestion hot path.
Access logs carry the path but never the query string: ``tracker.js?k=`` and beacons put
the API key there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("promkit.tracker.access")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Paths any web site may call from a browser (no cookies are ever used, so no credentials).
PUBLIC_CORS_PATHS = frozenset({"/api/v1/metrics", "/api/v1/tracker.js"})
# What every answer on those paths needs; a preflight's answer adds what may be sent, and
# browsers read methods, headers and max-age from the preflight alone.
CORS_ORIGIN_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"cross-origin-resource-policy", b"cross-origin"),
)
CORS_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    *CORS_ORIGIN_HEADERS,
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type, X-API-Key"),
    (b"access-control-max-age", b"86400"),
)


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        public = path in PUBLIC_CORS_PATHS
        if public and scope["method"] == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [*CORS_HEADERS, *SECURITY_HEADERS],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra: Iterable[tuple[bytes, bytes]] = (
                    (*SECURITY_HEADERS, *CORS_HEADERS) if public else SECURITY_HEADERS
                )
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log_access(scope, status, started)


_direct: Callable[[str], None] | None = None


def direct_access_lines(sink: Callable[[str], None] | None) -> None:
    """Write access lines straight to ``sink`` (the service's block handler), skipping the
    ``LogRecord`` that ``logging`` builds per line; None restores plain logging."""
    global _direct
    _direct = sink


def log_access(scope: Scope, status: int, started: float) -> None:
    """One JSON access-log line (path only: query strings can carry API keys)."""
    if access_log.isEnabledFor(logging.INFO):
        line = orjson.dumps(
            {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "client": (scope.get("client") or ("-",))[0],
            }
        ).decode()
        if _direct is not None:
            _direct(line)
        else:
            access_log.info(line)


# What the ingestion fast path answers with (it bypasses the wrapper above; preflights of
# its path still go through the wrapper).
INGEST_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"application/json"),
    *SECURITY_HEADERS,
    *CORS_ORIGIN_HEADERS,
)

__all__ = ["INGEST_HEADERS", "SecurityMiddleware", "direct_access_lines", "log_access"]
