"""``/api/v1/web/*``: what the dashboard shows, always for the signed-in user only.

Every query filters on ``user.id`` taken from the access token, never on anything the
client sends: definitions and keys by ``WHERE user_id``, charts by a server-built
``user_id`` matcher, statistics by the hashes of the user's own keys.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from promkit.core.errors import NotFoundError
from promkit.tracker.deps import ContextDep, CurrentUser, SessionDep
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.models import ApiKey, MetricDefinition, Series
from promkit.tracker.web.context import WebDep
from promkit.tracker.web.history import NO_TSDB_HINT, RANGES, History, RangeName

router = APIRouter(prefix="/api/v1/web", tags=["web"])
ConfigId = Path(ge=1, le=2**31 - 1)


class MetricSummary(BaseModel):
    id: int
    name: str
    metric_name: str
    metric_type: str
    status: str
    current: float | None
    series: int


class KeySummary(BaseModel):
    id: int
    key_name: str
    masked_key: str
    is_active: bool
    accepted: int
    rejected: int
    last_seen: datetime | None


class IngestionSummary(BaseModel):
    accepted: int
    rejected: int
    last_seen: datetime | None
    note: str = "counted by this tracker instance since it started"


class Overview(BaseModel):
    metrics: list[MetricSummary]
    keys: list[KeySummary]
    ingestion: IngestionSummary
    series_total: int
    tsdb: bool
    hint: str | None


def _live_values(session: Session, user_id: int) -> dict[tuple[str, str], tuple[float, int]]:
    """(metric_name, type) -> (value, series count): counters/gauges sum values, others counts."""
    out: dict[tuple[str, str], tuple[float, int]] = defaultdict(lambda: (0.0, 0))
    rows = session.execute(
        select(Series.metric_name, Series.metric_type, Series.value, Series.count).where(
            Series.user_id == user_id
        )
    )
    for name, mtype, value, count in rows:
        total, n = out[(name, mtype)]
        amount = value if mtype in ("counter", "gauge") else count
        out[(name, mtype)] = (total + float(amount or 0.0), n + 1)
    return dict(out)


@router.get("/overview", response_model=Envelope[Overview])
async def overview(
    user: CurrentUser, ctx: ContextDep, web: WebDep, session: SessionDep
) -> Envelope[Overview]:
    await ctx.store.flush()  # live values include what was just ingested
    user_id = user.id

    def read() -> Overview:
        definitions = session.scalars(
            select(MetricDefinition)
            .where(MetricDefinition.user_id == user_id)
            .order_by(MetricDefinition.created_at, MetricDefinition.id)
        ).all()
        live = _live_values(session, user_id)
        keys = session.scalars(
            select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at, ApiKey.id)
        ).all()
        key_rows = [
            KeySummary(
                id=k.id, key_name=k.key_name, masked_key=k.key_prefix + "…",
                is_active=k.is_active, accepted=k.samples_accepted, rejected=k.samples_rejected,
                last_seen=k.last_used_at,
            )
            for k in keys
        ]  # fmt: skip
        seen = [row.last_seen for row in key_rows if row.last_seen is not None]
        metrics = []
        for d in definitions:
            value, n = live.get((d.metric_name, d.metric_type), (0.0, 0))
            metrics.append(
                MetricSummary(
                    id=d.id, name=d.name, metric_name=d.metric_name, metric_type=d.metric_type,
                    status=d.status, current=value if n else None, series=n,
                )
            )  # fmt: skip
        return Overview(
            metrics=metrics,
            keys=key_rows,
            ingestion=IngestionSummary(
                accepted=sum(row.accepted for row in key_rows),
                rejected=sum(row.rejected for row in key_rows),
                last_seen=max(seen) if seen else None,
            ),
            series_total=sum(n for _, n in live.values()),
            tsdb=web.source.configured,
            hint=None if web.source.configured else NO_TSDB_HINT,
        )

    return ok(await asyncio.to_thread(read))


@router.get("/metrics/{config_id}/history", response_model=Envelope[History])
async def history(
    user: CurrentUser,
    ctx: ContextDep,
    web: WebDep,
    session: SessionDep,
    config_id: int = ConfigId,
    range: Annotated[RangeName, Query(description="1h, 24h or 7d")] = "1h",
) -> Envelope[History]:
    definition = session.scalar(
        select(MetricDefinition).where(
            MetricDefinition.id == config_id, MetricDefinition.user_id == user.id
        )
    )
    if definition is None:
        raise NotFoundError(f"metric config {config_id} not found", hint="reload the dashboard")
    if web.source.configured:
        result = await asyncio.to_thread(
            web.source.fetch, definition.metric_type, definition.metric_name, user.id, range
        )
        return ok(result)
    await ctx.store.flush()
    live = await asyncio.to_thread(_live_values, session, user.id)
    value, n = live.get((definition.metric_name, definition.metric_type), (0.0, 0))
    return ok(
        History(
            source="live", range=range, step=RANGES[range][1], points=[],
            current=value if n else None, hint=NO_TSDB_HINT,
        )
    )  # fmt: skip


__all__ = ["router"]
