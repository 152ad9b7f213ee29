"""Preview: a few series of the chosen selection, obfuscated exactly as the export will be.

The series are read at the END of the chosen range (not "now": an export of last week shows
last week's series), with plain PromQL (``topk``), so Prometheus answers too; vmgather's
MetricsQL-only ``any()`` is never used. When nothing is alive at the end (a series that
stopped earlier in the range), the label sets come from ``/api/v1/series`` over the range.

The obfuscator is built from the same ``ExportSpec`` (settings, component hints) and numbers
instances and jobs the same way the export does (sorted label values over the range), so
the fake names in the preview are the ones the bundle will contain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from promkit.bundle.discovery import build_match
from promkit.bundle.export import ExportSpec
from promkit.bundle.obfuscation import Obfuscator
from promkit.core.errors import DataError, PromkitError, UpstreamError, UsageError
from promkit.core.tsdb import TSDBClient

__all__ = ["MAX_PREVIEW", "Preview", "PreviewSeries", "build_preview", "preview_obfuscator"]

MAX_PREVIEW = 1000
DEFAULT_PREVIEW = 10


class PreviewSeries(BaseModel):
    """One series as the bundle will show it (vmgather's sample shape, plus ``source``)."""

    name: str  # metric{label="value",...}
    metric_name: str
    labels: dict[str, str]
    value: float | None = None  # None: the series had no sample at the end of the range
    timestamp: int | None = None  # ms


class Preview(BaseModel):
    samples: list[PreviewSeries]
    count: int
    at_ms: int
    obfuscated: bool
    source: str  # "query" (instant query at the end) or "series" (labels over the range)


def preview_obfuscator(client: TSDBClient, spec: ExportSpec, match: str) -> Obfuscator:
    """The obfuscator the export of ``spec`` would start with (same numbering)."""
    obf = Obfuscator(spec.obfuscation, component_hints=spec.component_hints)
    if not spec.obfuscation.enabled:
        return obf
    obf.preregister(jobs=spec.jobs)
    if spec.mode == "query":
        return obf
    start, end = spec.start_ms / 1000, spec.end_ms / 1000
    try:
        instances = client.label_values("instance", [match], start, end)
        jobs = client.label_values("job", [match], start, end)
    except PromkitError:
        return obf
    obf.preregister(instances=instances, jobs=jobs)
    return obf


def _series_name(labels: Mapping[str, str]) -> str:
    metric = labels.get("__name__", "")
    inner = ",".join(f"{k}={_quote(v)}" for k, v in sorted(labels.items()) if k != "__name__")
    return f"{metric}{{{inner}}}"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _value(raw: Any) -> tuple[float | None, int | None]:
    try:
        ts, text = raw
        value = float(text)
    except (TypeError, ValueError):
        return None, None
    return (None if math.isnan(value) else value), round(float(ts) * 1000)


def _instant(client: TSDBClient, spec: ExportSpec, match: str, limit: int) -> list[dict[str, Any]]:
    at = spec.end_ms / 1000
    try:
        return client.query(f"topk({limit}, {match})", time=at)
    except (UpstreamError, UsageError):  # 422 "rejected query" is a UsageError
        if spec.mode != "query":
            raise
    # a query whose result is not an instant vector (a scalar, say): evaluate it as is
    return client.query(match, time=at)[:limit]


def build_preview(client: TSDBClient, spec: ExportSpec, *, limit: int = DEFAULT_PREVIEW) -> Preview:
    """Up to ``limit`` series of ``spec``'s selection, through the export's obfuscation."""
    if not 1 <= limit <= MAX_PREVIEW:
        raise UsageError(
            f"preview limit {limit} is outside 1..{MAX_PREVIEW}", hint="ask for 10 or so"
        )
    match = build_match(spec.mode, spec.jobs, spec.selector, spec.query)
    obf = preview_obfuscator(client, spec, match)
    rows: list[tuple[dict[str, str], float | None, int | None]] = []
    source = "query"
    for item in _instant(client, spec, match, limit):
        metric = item.get("metric")
        if isinstance(metric, Mapping):
            value, ts = _value(item.get("value"))
            rows.append((dict(metric), value, ts))
    if not rows and spec.mode != "query":
        source = "series"
        found = client.series([match], spec.start_ms / 1000, spec.end_ms / 1000, limit=limit)
        rows = [(dict(labels), None, None) for labels in found]
    if not rows:
        raise DataError(
            "the selection matched no series in the chosen time range",
            hint="check the time range, jobs or selector (`promkit gather discover` lists jobs)",
        )
    samples: list[PreviewSeries] = []
    for labels, value, ts in rows:
        out = obf.labels(labels)
        samples.append(
            PreviewSeries(
                name=_series_name(out),
                metric_name=out.get("__name__", ""),
                labels={k: v for k, v in out.items() if k != "__name__"},
                value=value,
                timestamp=ts,
            )
        )
    samples.sort(key=lambda s: s.name)
    return Preview(
        samples=samples[:limit],
        count=len(samples[:limit]),
        at_ms=spec.end_ms,
        obfuscated=spec.obfuscation.enabled,
        source=source,
    )
