"""Chart data of one user's metric: PromQL built on the server, always scoped to that user.

The query names a family the user defined and a ``user_id`` matcher whose value comes from
the signed-in session (escaped with :func:`promkit.core.promql.matcher`); nothing a client
sends ends up in the query except the choice of a range. Without a query URL, the live
value from the tracker's own series table is shown instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import httpx
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from promkit.core import promql
from promkit.core.connection import Connection
from promkit.core.errors import DataError
from promkit.core.tsdb import TSDBClient
from promkit.tracker.exposition import family_name

RangeName = Literal["1h", "24h", "7d"]
# range -> (seconds, step): about 240 points per chart
RANGES: dict[str, tuple[int, int]] = {"1h": (3600, 15), "24h": (86400, 360), "7d": (604800, 2520)}
NO_TSDB_HINT = (
    "Showing live values only. Set PROMKIT_TRACKER_QUERY_URL to a VictoriaMetrics or"
    " Prometheus that scrapes this tracker's /metrics (or receives its remote write)"
    " to get history charts."
)


class WebSettings(BaseSettings):
    """Settings of the web app (same ``PROMKIT_TRACKER_`` prefix as the service)."""

    model_config = SettingsConfigDict(env_prefix="PROMKIT_TRACKER_", extra="ignore", frozen=True)

    query_url: str | None = Field(
        None, description="VictoriaMetrics/Prometheus URL the dashboard reads history from"
    )
    query_timeout_seconds: float = Field(10.0, gt=0)


def sample_name(metric_type: str, metric_name: str) -> str:
    """The exposed sample the chart follows: a counter's total, a gauge, or an observation count."""
    family = family_name(metric_type, promql.validate_metric_name(metric_name))
    if metric_type == "counter":
        return f"{family}_total"
    if metric_type == "gauge":
        return family
    return f"{family}_count"


def user_query(metric_type: str, metric_name: str, user_id: int) -> str:
    """``sum(<sample>{user_id="<id>"})``: one line per metric, only this user's series."""
    selector = promql.selector(
        sample_name(metric_type, metric_name), [promql.matcher("user_id", "=", str(user_id))]
    )
    return f"sum({selector})"


class Point(BaseModel):
    t: float = Field(description="unix seconds")
    v: float


class History(BaseModel):
    source: Literal["tsdb", "live"]
    range: RangeName
    step: int
    points: list[Point]
    current: float | None
    hint: str | None = None


@dataclass(frozen=True)
class HistorySource:
    """Where history comes from; ``connection`` is None without a configured TSDB."""

    connection: Connection | None
    transport: httpx.BaseTransport | None = None  # tests inject a MockTransport

    @classmethod
    def from_settings(cls, settings: WebSettings) -> HistorySource:
        if not settings.query_url:
            return cls(None)
        return cls(
            Connection.from_url(settings.query_url, timeout_seconds=settings.query_timeout_seconds)
        )

    @property
    def configured(self) -> bool:
        return self.connection is not None

    def fetch(
        self,
        metric_type: str,
        metric_name: str,
        user_id: int,
        range_name: str,
        now: float | None = None,
    ) -> History:
        """Blocking: ask the TSDB for the chart of one metric of ``user_id``."""
        assert self.connection is not None
        if range_name not in RANGES:
            raise DataError(f"unknown range {range_name!r}", hint="use 1h, 24h or 7d")
        seconds, step = RANGES[range_name]
        end = time.time() if now is None else now
        query = user_query(metric_type, metric_name, user_id)
        with TSDBClient(self.connection, transport=self.transport) as client:
            result = client.query_range(query, end - seconds, end, step)
        points: list[Point] = []
        for series in result[:1]:  # sum() yields at most one series
            for ts, raw in series.get("values", []):
                try:
                    value = float(raw)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(value):  # NaN/Inf have no place on a chart (nor in JSON)
                    points.append(Point(t=float(ts), v=value))
        return History(
            source="tsdb",
            range=range_name,
            step=step,
            points=points,
            current=points[-1].v if points else None,
        )


__all__ = [
    "NO_TSDB_HINT",
    "RANGES",
    "History",
    "HistorySource",
    "Point",
    "WebSettings",
    "sample_name",
    "user_query",
]
