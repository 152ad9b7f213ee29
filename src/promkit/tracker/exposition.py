"""``/metrics``: a custom prometheus_client collector that reads the series table at scrape time.

Counters and gauges keep the reference's family name ``user_metric_<name>`` (a counter is
exposed as ``user_metric_<name>_total``, so the two never clash; definitions cannot end in
``_total``). Histograms and summaries get their own prefixes (``user_hist_``,
``user_summ_``) because their family name would clash with a gauge's. So two users may
define the same metric name with different types or labels and both expose cleanly; every
sample carries the owner's ``user_id``. Only series whose definition still exists with the same
type are exposed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Metric, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import and_, select

from promkit.tracker.db import Database
from promkit.tracker.models import MetricDefinition, Series

FAMILY_PREFIXES = {
    "counter": "user_metric_",
    "gauge": "user_metric_",
    "histogram": "user_hist_",
    "summary": "user_summ_",
}


def family_name(metric_type: str, metric_name: str) -> str:
    return FAMILY_PREFIXES[metric_type] + metric_name


def _help(metric_type: str, metric_name: str, helps: set[str | None]) -> str:
    if len(helps) == 1:
        (only,) = helps
        if only:
            return only
    return f"{metric_type} {metric_name} recorded by the promkit tracker"


class SeriesCollector(Collector):
    """Reads every (or one user's) series from the database on each ``collect``."""

    def __init__(self, db: Database, user_id: int | None = None) -> None:
        self._db = db
        self._user_id = user_id

    def _rows(self) -> list[Any]:
        query = (
            select(
                Series.user_id,
                Series.metric_name,
                Series.metric_type,
                Series.labels,
                Series.value,
                Series.count,
                Series.bucket_counts,
                MetricDefinition.help_text,
                MetricDefinition.buckets,
            )
            .join(
                MetricDefinition,
                and_(
                    MetricDefinition.user_id == Series.user_id,
                    MetricDefinition.metric_name == Series.metric_name,
                    MetricDefinition.metric_type == Series.metric_type,
                ),
            )
            .order_by(Series.metric_name, Series.metric_type, Series.user_id, Series.id)
        )
        if self._user_id is not None:
            query = query.where(Series.user_id == self._user_id)
        with self._db.session() as session:
            return list(session.execute(query).all())

    def collect(self) -> Iterator[Metric]:
        families: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in self._rows():
            families[(row.metric_type, row.metric_name)].append(row)
        for (mtype, mname), rows in families.items():
            name = family_name(mtype, mname)
            metric = Metric(name, _help(mtype, mname, {r.help_text for r in rows}), mtype)
            for row in rows:
                labels = {"user_id": str(row.user_id), **(row.labels or {})}
                _add_samples(metric, name, mtype, labels, row)
            yield metric


def _add_samples(metric: Metric, name: str, mtype: str, labels: dict[str, str], row: Any) -> None:
    if mtype == "counter":
        metric.add_sample(f"{name}_total", labels, row.value)
    elif mtype == "gauge":
        metric.add_sample(name, labels, row.value)
    else:
        if mtype == "histogram":
            bounds = list(row.buckets or [])
            counts = list(row.bucket_counts or [])
            if len(counts) == len(bounds) + 1:
                cumulative = 0.0
                for bound, count in zip([*bounds, float("inf")], counts, strict=True):
                    cumulative += count
                    le = {**labels, "le": _le(bound)}
                    metric.add_sample(f"{name}_bucket", le, cumulative)
            else:  # no observation recorded with these bounds yet
                metric.add_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, row.count)
        metric.add_sample(f"{name}_sum", labels, row.value)
        metric.add_sample(f"{name}_count", labels, row.count)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def build_registry(db: Database, user_id: int | None = None) -> CollectorRegistry:
    """A registry (never the global one) holding the series collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SeriesCollector(db, user_id))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format (blocking: reads the database)."""
    return generate_latest(registry)


__all__ = ["SeriesCollector", "build_registry", "family_name", "render"]
