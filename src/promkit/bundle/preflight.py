"""Preflight: what an import would do, from one streaming pass over the whole bundle.

Memory stays bounded whatever the bundle size: counters, the label-name table (capped) and
a set of 64-bit series hashes (capped at ``SERIES_CAP``; beyond it the series count is a lower
bound and says so). Points are never kept.

The target's limits come from its ``flag`` metrics (``retentionPeriod``, where a bare number
means months, and ``maxLabelsPerTimeseries``) or from overrides. Retention is applied to the
**shifted** timestamps, so the report tells exactly how many samples the chosen shift keeps.
When the shift depends on the data (``now``, ``align=``) and the shifted data reaches past the
cutoff, a second pass counts the samples that would go.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from promkit.bundle.alignment import ShiftMode, ShiftSpec, parse_retention_ms
from promkit.bundle.reader import BundleReader
from promkit.core.errors import DataError, UsageError
from promkit.core.series import decode_line

__all__ = [
    "SERIES_CAP",
    "VM_179_DEFAULT_MAX_LABELS",
    "LabelStat",
    "PreflightReport",
    "TargetLimits",
    "human_duration",
    "run_preflight",
    "target_limits",
]

SERIES_CAP = 2_000_000
LABEL_NAMES_CAP = 10_000
VM_179_DEFAULT_MAX_LABELS = 30
FUTURE_SLACK_MS = 2 * 86_400_000  # VictoriaMetrics refuses samples further ahead than ~2 days


class TargetLimits(BaseModel):
    """The target's limits and where each came from (``flag``, ``override`` or ``unknown``)."""

    retention_ms: int | None = None
    retention_raw: str | None = None
    retention_source: str = "unknown"
    max_labels: int | None = None
    max_labels_source: str = "unknown"


def target_limits(
    flags: Mapping[str, str],
    *,
    retention: str | None = None,
    max_labels: int | None = None,
) -> TargetLimits:
    """Combine the target's flags (``TSDBClient.flags()``) with user overrides."""
    out = TargetLimits()
    raw = retention if retention else flags.get("retentionPeriod")
    if raw:
        out.retention_ms = parse_retention_ms(raw)
        out.retention_raw = raw
        out.retention_source = "override" if retention else "flag"
    if max_labels is not None:
        if max_labels < 1:
            raise UsageError("--max-labels must be at least 1")
        out.max_labels, out.max_labels_source = max_labels, "override"
    elif flags.get("maxLabelsPerTimeseries", "").strip().isdigit():
        out.max_labels = int(flags["maxLabelsPerTimeseries"].strip())
        out.max_labels_source = "flag"
    return out


class LabelStat(BaseModel):
    name: str
    series: int


class PreflightReport(BaseModel):
    bundle: dict[str, Any]
    lines: int = 0
    bad_lines: int = 0
    bad_line_examples: list[str] = []
    series: int = 0
    series_exact: bool = True
    samples: int = 0
    skipped_points: int = 0
    nan_points: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    first: str | None = None
    last: str | None = None
    label_names: int = 0
    label_stats: list[LabelStat] = []
    max_labels_seen: int = 0
    series_over_label_limit: int = 0
    target: TargetLimits = TargetLimits()
    shift_mode: str = "none"
    shift_ms: int = 0
    shifted_first_ms: int | None = None
    shifted_last_ms: int | None = None
    retention_cutoff_ms: int | None = None
    samples_outside_retention: int = 0
    samples_in_future: int = 0
    suggested_shift_ms: int | None = None
    suggested_shift: str | None = None
    now_ms: int = 0
    warnings: list[str] = []


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


def human_duration(ms: int) -> str:
    """``93784000`` → ``1d2h3m4s`` (sign kept, sub-second part dropped)."""
    sign = "-" if ms < 0 else ""
    rest = abs(ms) // 1000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return sign + ("".join(parts) or "0s")


@dataclass
class _Scan:
    lines: int = 0
    bad_lines: int = 0
    samples: int = 0
    skipped: int = 0
    nan: int = 0
    first: int | None = None
    last: int | None = None
    max_labels: int = 0
    over_limit: int = 0
    outside: int = 0
    future: int = 0


def _count_outside(
    series_stamps: Iterable[list[int]], shift: int, cutoff: int | None, future: int
) -> tuple[int, int]:
    outside = ahead = 0
    for stamps in series_stamps:
        for t in stamps:
            ts = t + shift
            if cutoff is not None and ts < cutoff:
                outside += 1
            elif ts > future:
                ahead += 1
    return outside, ahead


def run_preflight(
    reader: BundleReader,
    *,
    limits: TargetLimits | None = None,
    shift: ShiftSpec | None = None,
    add_labels: Mapping[str, str] | None = None,
    drop_labels: Sequence[str] = (),
    now_ms: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> PreflightReport:
    """Scan the whole bundle once (twice for a data-dependent shift that reaches past the
    retention) and report counts, ranges, label statistics, limits and warnings."""
    lim = limits or TargetLimits()
    spec = shift or ShiftSpec()
    now = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff = now - lim.retention_ms if lim.retention_ms is not None else None
    future = now + FUTURE_SLACK_MS
    known_shift = spec.mode in (ShiftMode.NONE, ShiftMode.EXPLICIT)
    pre_shift = spec.resolve(None, None, now_ms=now) if known_shift else 0
    drop = frozenset(drop_labels)
    added = dict(add_labels or {})
    seen: set[int] = set()
    exact = True
    label_counts: dict[str, int] = {}
    examples: list[str] = []
    scan = _Scan()

    for line, offset in reader.lines():
        scan.lines += 1
        try:
            series, skipped = decode_line(line)
        except DataError as exc:
            scan.bad_lines += 1
            if len(examples) < 5:
                examples.append(f"line {scan.lines}: {exc.message}")
            continue
        scan.skipped += skipped
        stamps = series.timestamps
        scan.samples += len(stamps)
        scan.nan += sum(1 for v in series.values if v != v)
        if stamps:
            lo, hi = min(stamps), max(stamps)
            scan.first = lo if scan.first is None else min(scan.first, lo)
            scan.last = hi if scan.last is None else max(scan.last, hi)
            if known_shift:
                out, ahead = _count_outside((stamps,), pre_shift, cutoff, future)
                scan.outside += out
                scan.future += ahead
        key = hash(series.labels)
        if key in seen:
            continue
        if len(seen) >= SERIES_CAP:
            exact = False
        else:
            seen.add(key)
        names = [n for n in series.labels if n not in drop]
        n_labels = len(set(names) | set(added))
        scan.max_labels = max(scan.max_labels, n_labels)
        if lim.max_labels is not None and n_labels > lim.max_labels:
            scan.over_limit += 1
        for name in series.labels:
            if name in label_counts:
                label_counts[name] += 1
            elif len(label_counts) < LABEL_NAMES_CAP:
                label_counts[name] = 1
        if on_progress is not None and scan.lines % 10_000 == 0:
            on_progress(offset)

    if scan.lines == 0:
        raise DataError(f"{reader.info.path.name} holds no series", hint="nothing to import")
    shift_ms = spec.resolve(scan.first, scan.last, now_ms=now)
    shifted_first = None if scan.first is None else scan.first + shift_ms
    shifted_last = None if scan.last is None else scan.last + shift_ms
    reaches_out = (
        shifted_first is not None
        and shifted_last is not None
        and ((cutoff is not None and shifted_first < cutoff) or shifted_last > future)
    )
    if not known_shift and reaches_out:
        scan.outside, scan.future = _count_outside(_stamps(reader), shift_ms, cutoff, future)

    report = PreflightReport(
        bundle=reader.info.describe() | {"checksum_verified": reader.verified},
        lines=scan.lines,
        bad_lines=scan.bad_lines,
        bad_line_examples=examples,
        series=len(seen),
        series_exact=exact,
        samples=scan.samples,
        skipped_points=scan.skipped,
        nan_points=scan.nan,
        first_ms=scan.first,
        last_ms=scan.last,
        first=_iso(scan.first),
        last=_iso(scan.last),
        label_names=len(label_counts),
        label_stats=[
            LabelStat(name=n, series=c)
            for n, c in sorted(label_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50]
        ],
        max_labels_seen=scan.max_labels,
        series_over_label_limit=scan.over_limit,
        target=lim,
        shift_mode=spec.mode.value,
        shift_ms=shift_ms,
        shifted_first_ms=shifted_first,
        shifted_last_ms=shifted_last,
        retention_cutoff_ms=cutoff,
        samples_outside_retention=scan.outside,
        samples_in_future=scan.future,
        now_ms=now,
    )
    _suggest(report)
    report.warnings = _warnings(report)
    return report


def _stamps(reader: BundleReader) -> Iterator[list[int]]:
    for line, _ in reader.lines():
        try:
            yield decode_line(line)[0].timestamps
        except DataError:
            continue


def _suggest(r: PreflightReport) -> None:
    """Suggest the shift that puts the last sample at now when data falls outside retention
    or lies in the future (computed from the untrimmed range, unlike vmimporter)."""
    if r.first_ms is None or r.last_ms is None:
        return
    first = r.shifted_first_ms if r.shifted_first_ms is not None else r.first_ms
    last = r.shifted_last_ms if r.shifted_last_ms is not None else r.last_ms
    cutoff = r.retention_cutoff_ms
    needs = (cutoff is not None and first < cutoff) or last > r.now_ms + FUTURE_SLACK_MS
    if not needs:
        return
    r.suggested_shift_ms = r.now_ms - r.last_ms
    r.suggested_shift = "now"


def _pct(part: int, whole: int) -> str:
    if not whole:
        return "0%"
    value = 100 * part / whole
    return f"{value:.1f}%" if value >= 0.1 or value == 0 else "<0.1%"


def _warnings(r: PreflightReport) -> list[str]:
    out: list[str] = []
    t = r.target
    if r.bad_lines:
        out.append(
            f"{r.bad_lines} of {r.lines} lines are not series and will be skipped "
            f"(first: {r.bad_line_examples[0] if r.bad_line_examples else '?'})."
        )
    if r.skipped_points:
        out.append(
            f"{r.skipped_points} points have no usable value or timestamp (null, text) and will "
            "be skipped; the rest of their series is imported."
        )
    if r.nan_points:
        out.append(
            f"{r.nan_points} points are NaN; VictoriaMetrics does not store plain NaN values."
        )
    if t.retention_ms is None:
        out.append(
            "The target's retention is unknown (no retentionPeriod flag on its /metrics, e.g. "
            "behind vmauth or vminsert); pass --retention to check what would be dropped."
        )
    elif r.samples_outside_retention:
        cut = _iso(r.retention_cutoff_ms)
        msg = (
            f"{r.samples_outside_retention} of {r.samples} samples "
            f"({_pct(r.samples_outside_retention, r.samples)}) would be older than the target's "
            f"retention ({human_duration(t.retention_ms)}, cutoff {cut}) and will be dropped."
        )
        if r.suggested_shift_ms is not None and r.shift_mode != "now":
            msg += (
                f" Use --shift now (a shift of {human_duration(r.suggested_shift_ms)}) to move "
                "the data to the present."
            )
        out.append(msg)
    if (
        t.retention_ms is not None
        and r.first_ms is not None
        and r.last_ms is not None
        and r.last_ms - r.first_ms > t.retention_ms
    ):
        out.append(
            f"The bundle spans {human_duration(r.last_ms - r.first_ms)}, longer than the "
            f"target's retention of {human_duration(t.retention_ms)}: its oldest part is "
            "dropped whatever the shift."
        )
    if r.samples_in_future:
        out.append(
            f"{r.samples_in_future} samples would lie more than 2 days in the future; "
            "VictoriaMetrics rejects them. Use --shift now."
        )
    if t.max_labels is not None and r.series_over_label_limit:
        out.append(
            f"{r.series_over_label_limit} series have more than {t.max_labels} labels (the "
            f"target's maxLabelsPerTimeseries; the largest has {r.max_labels_seen}). "
            "VictoriaMetrics 1.79 drops the extra labels (series may merge); newer versions "
            "drop such series. Remove labels with --drop-label."
        )
    elif t.max_labels is None and r.max_labels_seen > VM_179_DEFAULT_MAX_LABELS:
        out.append(
            f"The target's label limit is unknown and a series has {r.max_labels_seen} labels "
            f"(VictoriaMetrics' default limit is {VM_179_DEFAULT_MAX_LABELS} in 1.79, 40 later)."
        )
    if not r.series_exact:
        out.append(f"More than {SERIES_CAP} series: the series count is a lower bound.")
    if math.isfinite(r.samples) and r.samples == 0:
        out.append("The bundle holds no samples.")
    return out
