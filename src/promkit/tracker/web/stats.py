"""Ingestion statistics per API key (accepted and rejected samples, last seen).

Recorded by a small ASGI wrapper (around the app's ingestion edge when it has one) that
watches the answers of ``POST /api/v1/metrics``
(the ingestion route reports ``processed``/``total`` or every refused item), keyed by the
SHA-256 of the API key, so the dashboard can add up the keys a user owns. The counts live
in this instance's memory: they restart at zero with the process and are per instance
behind a load balancer (a durable counter belongs in the ingestion path itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promkit.tracker.apikeys import key_hash

INGEST_PATH = "/api/v1/metrics"
MAX_CAPTURE = 64 * 1024  # ingestion answers are small; never buffer more than this


@dataclass
class KeyStats:
    accepted: int = 0
    rejected: int = 0
    last_seen: float | None = None  # unix seconds of the last ingestion request


class IngestionStats:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._by_key: dict[str, KeyStats] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def record(self, digest: str, accepted: int, rejected: int, when: float) -> None:
        with self._lock:
            entry = self._by_key.get(digest)
            if entry is None:
                if len(self._by_key) >= self._max_keys:
                    return
                entry = self._by_key[digest] = KeyStats()
            entry.accepted += accepted
            entry.rejected += rejected
            entry.last_seen = when

    def for_keys(self, digests: Iterable[str]) -> dict[str, KeyStats]:
        with self._lock:
            return {
                d: KeyStats(s.accepted, s.rejected, s.last_seen)
                for d in digests
                if (s := self._by_key.get(d)) is not None
            }


def counts(status: int, body: bytes) -> tuple[int, int] | None:
    """(accepted, rejected) from an ingestion answer; None when it is not a per-item answer."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    if status == 200 and isinstance(data := parsed.get("data"), dict):
        processed, total = data.get("processed"), data.get("total")
        if isinstance(processed, int) and isinstance(total, int):
            return processed, max(0, total - processed)
    if status == 422 and isinstance(details := parsed.get("details"), list):
        return 0, len(details)
    return None


def _raw_key(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-api-key":
            return bytes(value).decode("latin-1")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    keys = query.get("api_key")
    return str(keys[0]) if keys else None


class IngestionStatsMiddleware:
    def __init__(self, app: ASGIApp, stats: IngestionStats) -> None:
        self.app = app
        self.stats = stats

    def _wrap_edge(self, app: Any) -> None:
        """The tracker may answer ingestion in an ASGI ``edge`` in front of FastAPI (its
        middleware never sees those requests): at startup, watch the edge instead."""
        edge = getattr(app, "edge", None)
        if edge is not None and not isinstance(edge, IngestionStatsMiddleware):
            app.edge = IngestionStatsMiddleware(edge, self.stats)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self._wrap_edge(scope.get("app"))
        if not (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == INGEST_PATH
        ):
            await self.app(scope, receive, send)
            return
        raw = _raw_key(scope)
        status = 0
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and len(body) < MAX_CAPTURE:
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if raw and status in (200, 422):
            seen = counts(status, bytes(body))
            if seen is not None:
                self.stats.record(key_hash(raw), seen[0], seen[1], time.time())


__all__ = ["IngestionStats", "IngestionStatsMiddleware", "KeyStats", "counts"]
