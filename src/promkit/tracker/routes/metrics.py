"""``POST /api/v1/metrics`` (ingestion by API key), ``GET /metrics`` (Prometheus scrape) and
``GET /api/v1/metrics/exposition`` (one user's own series, by access token)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from promkit.core.errors import AuthError, DataError, UsageError
from promkit.tracker.apikeys import key_hash
from promkit.tracker.catalog import KeyInfo
from promkit.tracker.context import TrackerContext
from promkit.tracker.deps import ContextDep, CurrentUser
from promkit.tracker.envelope import Envelope, error_response, ok
from promkit.tracker.exposition import build_registry, render
from promkit.tracker.ingestion import ItemRefused, Limits, to_op
from promkit.tracker.ratelimit import enforce
from promkit.tracker.store import Op

router = APIRouter(tags=["metrics"])


class PayloadTooLargeError(UsageError):
    http_status = 413


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


async def _key_info(ctx: TrackerContext, raw_key: str | None) -> KeyInfo:
    if not raw_key:
        raise AuthError(
            "API key required", hint="send the X-API-Key header (or ?api_key= for beacons)"
        )
    digest = key_hash(raw_key)
    s = ctx.settings
    await enforce(
        ctx.limiter, f"ingest:{digest[:24]}", s.ingest_rate_limit,
        s.rate_limit_window_seconds, "ingestion",
    )  # fmt: skip
    hit, info = ctx.catalog.cached_key(digest)
    if not hit:
        info = await asyncio.to_thread(ctx.catalog.load_key, digest)
    if info is None or not info.active:
        raise AuthError("invalid or inactive API key", hint="check the key in your API keys list")
    return info


def _parse_body(raw: bytes, max_items: int) -> list[Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UsageError("the body is not valid JSON", hint='send {"metrics": [...]}') from None
    items = body.get("metrics") if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise UsageError("metrics must be a non-empty array", hint='send {"metrics": [...]}')
    if len(items) > max_items:
        raise UsageError(f"at most {max_items} metrics per request", hint="split the batch")
    return items


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
    info = await _key_info(ctx, x_api_key or api_key)
    s = ctx.settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > s.max_body_bytes:
        raise PayloadTooLargeError(f"the body is larger than {s.max_body_bytes} bytes")
    raw = await request.body()
    if len(raw) > s.max_body_bytes:
        raise PayloadTooLargeError(f"the body is larger than {s.max_body_bytes} bytes")
    items = _parse_body(raw, s.max_batch_items)
    definitions = ctx.catalog.cached_definitions(info.user_id)
    if definitions is None:
        definitions = await asyncio.to_thread(ctx.catalog.load_definitions, info.user_id)
    await ctx.store.prepare_user(info.user_id)
    limits = Limits(s.max_label_value_length)
    ops: list[Op] = []
    errors: list[ItemError] = []
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        try:
            op = to_op(info.user_id, item, definitions, limits)
        except ItemRefused as exc:
            errors.append(ItemError(index=index, name=_short(name), error=str(exc)))
            continue
        if not ctx.store.admit(op.key):
            errors.append(
                ItemError(
                    index=index,
                    name=_short(name),
                    error=f"series limit reached ({s.max_series_per_user} per user)",
                )
            )
            continue
        ops.append(op)
    ctx.store.apply(ops)
    result = IngestOut(processed=len(ops), total=len(items), errors=errors)
    if not ops:
        return error_response(
            422,
            "no valid metrics to process",
            hint="see details: every item was refused",
            kind=DataError.__name__,
            details=[e.model_dump() for e in errors],
        )
    return Response(ok(result).model_dump_json(), media_type="application/json")


def _short(name: Any) -> str | None:
    return name[:150] if isinstance(name, str) else None


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


@router.get("/api/v1/metrics/exposition", response_class=Response)
async def own_exposition(ctx: ContextDep, user: CurrentUser) -> Response:
    """Your own series only, in the Prometheus text format."""
    await ctx.store.flush()
    body = await asyncio.to_thread(render, build_registry(ctx.db, user.id))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


__all__ = ["router"]
