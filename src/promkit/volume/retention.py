"""Retention policies (``prune --keep-*``), restic's semantics.

Versions are walked newest first. ``keep_last`` keeps the newest N; ``keep_hourly`` (daily,
weekly, monthly, yearly) keeps the newest version of each of the last N hours (days, ISO weeks,
months, years) that have versions, calendar periods taken in UTC; ``keep_within`` keeps
everything within that span of the newest version (not of "now", so backups that stopped
running are not all pruned away). A version is kept if any rule keeps it; the reasons are
reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from promkit.core.errors import UsageError

_SPAN_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$")


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_within: timedelta | None = None
    keep_hourly: int = 0
    keep_yearly: int = 0

    def check(self) -> None:
        counts = (
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        )
        if any(c < 0 for c in counts):
            raise UsageError("--keep-* counts must be >= 0")
        if not any(counts) and not self.keep_within:
            raise UsageError(
                "no retention rule given; refusing to prune every version",
                hint="Pass at least one of --keep-last/--keep-hourly/--keep-daily/"
                "--keep-weekly/--keep-monthly/--keep-yearly/--keep-within.",
            )


@dataclass(frozen=True)
class Decision:
    version: str
    created_at: datetime
    keep: bool
    reasons: tuple[str, ...]


def parse_span(text: str) -> timedelta:
    """``2d``, ``1w3d``, ``6m`` (months = 30 days), ``1y`` (365 days), ``12h``."""
    match = _SPAN_RE.match(text.strip())
    if not text.strip() or not match:
        raise UsageError(f"invalid duration {text!r}", hint="Use e.g. 7d, 2w, 6m, 1y, 1y6m, 36h.")
    y, m, w, d, h = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=365 * y + 30 * m + 7 * w + d, hours=h)


_BUCKETS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar())[:2],
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: (t.year,),
}


def _utc(t: datetime) -> datetime:
    """Calendar periods are UTC periods; a naive time is taken to be UTC already."""
    return t if t.tzinfo is None else t.astimezone(UTC)


def decide(versions: Sequence[tuple[str, datetime]], policy: RetentionPolicy) -> list[Decision]:
    """Which versions to keep; the result is ordered newest first."""
    policy.check()
    ordered = sorted(versions, key=lambda v: (v[1], v[0]), reverse=True)
    reasons: dict[str, list[str]] = {v: [] for v, _ in ordered}
    for i, (version, _) in enumerate(ordered):
        if i < policy.keep_last:
            reasons[version].append("last")
    for rule, count in (
        ("hourly", policy.keep_hourly),
        ("daily", policy.keep_daily),
        ("weekly", policy.keep_weekly),
        ("monthly", policy.keep_monthly),
        ("yearly", policy.keep_yearly),
    ):
        seen: list[tuple[int, ...]] = []
        for version, created in ordered:
            if len(seen) >= count:
                break
            bucket = _BUCKETS[rule](_utc(created))
            if bucket not in seen:
                seen.append(bucket)
                reasons[version].append(rule)
    if policy.keep_within and ordered:
        newest = ordered[0][1]
        for version, created in ordered:
            if newest - created <= policy.keep_within:
                reasons[version].append("within")
    return [
        Decision(version, created, bool(reasons[version]), tuple(reasons[version]))
        for version, created in ordered
    ]
