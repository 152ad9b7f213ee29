"""``POST /api/v1/metrics`` (ingestion by API key), ``GET /metrics`` (Prometheus scrape),
``GET /api/v1/metrics`` (where the data can be read, by access token) and
``GET /api/v1/metrics/exposition`` (one user's own series, by access token)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from promkit.core.errors import AuthError, DataError
from promkit.tracker.context import TrackerContext
from promkit.tracker.deps import ContextDep, CurrentUser
from promkit.tracker.envelope import Envelope, error_response, ok
from promkit.tracker.exposition import build_registry, render
from promkit.tracker.ingestion import PayloadTooLargeError
from promkit.tracker.ingestion import ingest as ingest_batch

router = APIRouter(tags=["metrics"])


class SampleIn(BaseModel):
    """One sample (documentation of the body; items are validated one by one)."""

    name: str = Field(description="metric_name of one of your active metric configs")
    value: float
    type: str | None = Field(None, description="must match the config when given")
    operation: str | None = Field(None, description="gauge: set (default), inc or dec")
    labels: dict[str, str | float] | None = None


class IngestIn(BaseModel):
    metrics: list[SampleIn] = Field(min_length=1, max_length=100)


class ItemError(BaseModel):
    index: int
    name: str | None
    error: str


class IngestOut(BaseModel):
    processed: int
    total: int
    errors: list[ItemError]


@router.post(
    "/api/v1/metrics",
    response_model=Envelope[IngestOut],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": IngestIn.model_json_schema()}},
        }
    },
)
async def ingest(
    request: Request,
    ctx: ContextDep,
    x_api_key: Annotated[str | None, Header(max_length=200)] = None,
    api_key: Annotated[str | None, Query(max_length=200, description="for beacons")] = None,
) -> Response:
    """Record a batch of samples (served by the fast ASGI path in front of FastAPI, with
    this same code and answers; this route documents it)."""
    s = ctx.settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > s.max_body_bytes:
        raise PayloadTooLargeError(f"the body is larger than {s.max_body_bytes} bytes")
    body = await request.body()
    result = await ingest_batch(ctx, x_api_key or api_key, body, request.headers.get("origin"))
    if not result.processed:
        return error_response(
            422,
            "no valid metrics to process",
            hint="see details",
            kind=DataError.__name__,
            details=result.errors,
        )
    out = IngestOut(
        processed=result.processed,
        total=result.total,
        errors=[ItemError(**e) for e in result.errors],
    )
    return Response(ok(out).model_dump_json(), media_type="application/json")


def _check_scrape_token(ctx: TrackerContext, authorization: str | None) -> None:
    token = ctx.settings.scrape_token
    if token is None:
        if ctx.settings.dev:
            return
        raise AuthError(
            "/metrics is disabled: no scrape token is configured",
            hint="set PROMKIT_TRACKER_SCRAPE_TOKEN and give Prometheus the same bearer token",
        )
    expected = f"Bearer {token.get_secret_value()}"
    if not authorization or not secrets.compare_digest(authorization.encode(), expected.encode()):
        raise AuthError("invalid scrape token", hint="send Authorization: Bearer <scrape token>")


@router.get("/metrics", response_class=Response)
async def scrape(
    ctx: ContextDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    _check_scrape_token(ctx, authorization)
    await ctx.store.flush()
    body = await asyncio.to_thread(render, ctx.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class MetricsInfo(BaseModel):
    """The reference's informational answer; URLs are null when not configured."""

    message: str
    prometheusUrl: str | None
    grafanaUrl: str | None
    metricsEndpoint: str = "/metrics"


def _without_credentials(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _query_url(request: Request) -> str | None:
    """The TSDB the web dashboard reads (``PROMKIT_TRACKER_QUERY_URL``), without credentials."""
    web = getattr(request.app.state, "web", None)
    connection = getattr(getattr(web, "source", None), "connection", None)
    url = getattr(connection, "display_url", None)
    return url if isinstance(url, str) else None


@router.get("/api/v1/metrics", response_model=Envelope[MetricsInfo])
async def metrics_info(
    request: Request, ctx: ContextDep, user: CurrentUser
) -> Envelope[MetricsInfo]:
    """Where your ingested metrics can be read: Prometheus, Grafana and the scrape endpoint."""
    return ok(
        MetricsInfo(
            message="Metrics are exposed in the Prometheus format at metricsEndpoint, every"
            f' series labelled user_id="{user.id}"; send samples with POST /api/v1/metrics.',
            prometheusUrl=_query_url(request),
            grafanaUrl=_without_credentials(ctx.settings.grafana_url),
        )
    )


@router.get("/api/v1/metrics/exposition", response_class=Response)
async def own_exposition(ctx: ContextDep, user: CurrentUser) -> Response:
    """Your own series only, in the Prometheus text format."""
    await ctx.store.flush()
    body = await asyncio.to_thread(render, build_registry(ctx.db, user.id))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


__all__ = ["router"]
