"""``fire plan``: what a run would send, estimated without pulling any samples.

The series come from ``/api/v1/series`` (the same selection a run makes), the samples per
series from ``count_over_time`` queries (at most 24 per selected metric). For ``realtime`` the rate
of each series is its count over the window, replayed for ``timestamps.duration``.
Requests are a lower bound: each of the sender's workers also flushes a partial batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from promkit.fire.config import FireConfig
from promkit.fire.runner import Discovery
from promkit.fire.source import SeriesSource


@dataclass(frozen=True)
class Plan:
    mode: str
    window_seconds: float
    discovered_series: int
    selected_series: int
    selected_metrics: int
    skipped: dict[str, int]
    replicas_per_series: int
    source_samples: int
    series_out: int
    samples_out: int
    requests_min: int
    rate_limit: float | None
    duration_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def lines(self) -> list[str]:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        if self.duration_seconds is None:
            duration = "as fast as the target accepts (no rate limit)"
        else:
            duration = f"about {self.duration_seconds:.0f}s"
        return [
            f"plan: mode {self.mode}, window {self.window_seconds:.0f}s",
            f"  series     {self.selected_series} selected of {self.discovered_series} "
            f"discovered ({self.selected_metrics} metrics; skipped: {skipped})",
            f"  source     {self.source_samples} samples in the window",
            f"  replicas   {self.replicas_per_series} per series -> {self.series_out} series",
            f"  send       {self.samples_out} samples in at least {self.requests_min} requests",
            f"  duration   {duration}",
        ]


def make_plan(config: FireConfig, source: SeriesSource, disc: Discovery, mode: str) -> Plan:
    metrics = disc.selection.metrics
    counts = source.sample_counts(metrics, disc.start, disc.end)
    replicas = len(disc.combinations)
    window = disc.end - disc.start
    source_samples = 0
    out = 0
    for key in disc.selection.selected:
        labels = dict(key)
        name = labels.pop("__name__", "")
        n = counts.get((name, tuple(sorted(labels.items()))), 0)
        source_samples += n
        if mode == "realtime":
            # n samples per window -> n/window per second, for the replay duration
            out += math.ceil(n / window * config.timestamps.duration) * replicas if n else 0
        else:
            out += n * replicas
    rate = config.rate.samples_per_second
    if mode == "realtime":
        duration: float | None = config.timestamps.duration
    else:
        duration = out / rate if rate else None
    return Plan(
        mode=mode,
        window_seconds=window,
        discovered_series=disc.selection.discovered,
        selected_series=len(disc.selection.selected),
        selected_metrics=len(metrics),
        skipped=dict(disc.selection.skipped),
        replicas_per_series=replicas,
        source_samples=source_samples,
        series_out=len(disc.selection.selected) * replicas,
        samples_out=out,
        requests_min=math.ceil(out / config.send.batch_samples),
        rate_limit=rate,
        duration_seconds=duration,
    )


__all__ = ["Plan", "make_plan"]
