"""Time windows for exports, with no sample exported twice at a window boundary.

VictoriaMetrics' ``/api/v1/export`` and ``/api/v1/query_range`` treat ``[start, end]`` as
inclusive at both ends, so windows that share a boundary second (as vmgather's do) export the
sample at that second twice. We plan half-open windows ``[start_ms, end_ms)`` and send
``end = end_ms - 1 ms``. VictoriaMetrics 1.79 accepts unix seconds with a fractional part
(``1763900000.001``) and honours the millisecond (verified against the Debian package); it
also accepts RFC3339 with fractions, but a bare millisecond integer is read as *seconds*, so
we always send ``<seconds>.<millis>``.

For query_range the windows are aligned to multiples of the step, so every evaluation
timestamp ``start + k*step`` falls into exactly one window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from promkit.core.errors import UsageError

__all__ = [
    "MAX_WINDOW_MS",
    "MIN_WINDOW_MS",
    "Window",
    "auto_window_ms",
    "format_seconds",
    "parse_duration_ms",
    "parse_time_ms",
    "plan_windows",
]

MIN_WINDOW_MS = 30_000
MAX_WINDOW_MS = 24 * 3600 * 1000
_AUTO_MIN_MS = 5 * 60 * 1000
_AUTO_MAX_MS = 6 * 3600 * 1000
_AUTO_TARGET_WINDOWS = 12


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[start_ms, end_ms)``; ``index`` counts from 0."""

    index: int
    start_ms: int
    end_ms: int

    @property
    def last_ms(self) -> int:
        """The last millisecond inside the window (the inclusive ``end`` a TSDB wants)."""
        return self.end_ms - 1

    def params(self) -> tuple[str, str]:
        """``(start, end)`` as the TSDB API wants them: inclusive, unix seconds with millis."""
        return format_seconds(self.start_ms), format_seconds(self.last_ms)

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def format_seconds(ms: int) -> str:
    """Milliseconds → ``"<seconds>.<millis>"`` (exact, no float rounding)."""
    sign = "-" if ms < 0 else ""
    sec, milli = divmod(abs(ms), 1000)
    return f"{sign}{sec}.{milli:03d}"


def auto_window_ms(range_ms: int, step_ms: int | None = None) -> int:
    """About 12 windows per range, each between 5 min and 6 h, in whole minutes (or steps).

    Every window costs the server an index search; fewer, larger windows export faster
    (measured in ``bench/gather_export.py``) while a resume still loses at most one window.
    """
    target = max(_AUTO_MIN_MS, min(_AUTO_MAX_MS, math.ceil(range_ms / _AUTO_TARGET_WINDOWS)))
    unit = 60_000 if step_ms is None else step_ms
    return max(unit, math.ceil(target / unit) * unit)


def plan_windows(
    start_ms: int,
    end_ms: int,
    *,
    window_ms: int | None = None,
    step_ms: int | None = None,
) -> list[Window]:
    """Windows covering ``[start_ms, end_ms]`` (``end_ms`` inclusive, as the user gave it).

    With ``step_ms`` (query_range) every window length is a multiple of the step, so each
    evaluation point ``start_ms + k*step`` lands in exactly one window.
    """
    if end_ms < start_ms:
        raise UsageError(
            "the time range ends before it starts",
            hint="pass --start earlier than --end",
        )
    stop = end_ms + 1
    if window_ms is None:
        window_ms = auto_window_ms(stop - start_ms, step_ms)
    elif window_ms < MIN_WINDOW_MS or window_ms > MAX_WINDOW_MS:
        raise UsageError(
            f"window of {window_ms // 1000}s is outside 30s..24h",
            hint="choose a window between 30s and 24h, or leave it to auto",
        )
    if step_ms is not None:
        if step_ms <= 0:
            raise UsageError("the query step must be positive", hint="for example --step 60s")
        window_ms = max(step_ms, window_ms // step_ms * step_ms)
    return list(_iter_windows(start_ms, stop, window_ms))


def _iter_windows(start_ms: int, stop_ms: int, window_ms: int) -> Iterator[Window]:
    # A tail shorter than a tenth of a window (typically the single inclusive end
    # millisecond) joins the last window instead of costing a request of its own.
    index = 0
    cursor = start_ms
    while cursor < stop_ms:
        end = min(cursor + window_ms, stop_ms)
        if stop_ms - end < window_ms // 10:
            end = stop_ms
        yield Window(index, cursor, end)
        cursor = end
        index += 1


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT_MS |= {"w": 7 * 86_400_000, "y": 365 * 86_400_000}


# ~31,700 years: anything larger is a typo (and float("9" * 400) is inf, which no int holds).
MAX_ABS_MS = 10**15


def seconds_to_ms(seconds: float | int, text: object) -> int:
    """Seconds → whole milliseconds; ``UsageError`` for non-finite or absurdly large values."""
    try:
        ms = float(seconds) * 1000
    except OverflowError:  # an int too large for a float
        ms = math.inf
    if not math.isfinite(ms) or abs(ms) > MAX_ABS_MS:
        raise UsageError(
            f"{text!r} is out of range", hint="use a time or duration within a few thousand years"
        )
    return round(ms)


def parse_duration_ms(text: str) -> int:
    """``"90s"``, ``"1h30m"``, ``"2d"`` or bare seconds ``"300"`` → milliseconds."""
    raw = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return seconds_to_ms(float(raw), text)
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(raw):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(raw) or not raw:
        raise UsageError(
            f"cannot parse duration {text!r}", hint="use forms like 30s, 5m, 1h30m, 2d"
        )
    return seconds_to_ms(total / 1000, text)


def parse_time_ms(text: str, *, now_ms: int) -> int:
    """RFC3339, unix seconds (fractions allowed), ``now`` or ``now-1h`` → unix milliseconds."""
    raw = text.strip()
    if raw == "now":
        return now_ms
    if raw.startswith("now-"):
        return now_ms - parse_duration_ms(raw[4:])
    if re.fullmatch(r"-?\d+(?:\.\d+)?", raw):
        return seconds_to_ms(float(raw), text)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(
            f"cannot parse time {text!r}",
            hint="use RFC3339 (2026-01-02T15:04:05Z), unix seconds, 'now' or 'now-1h'",
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)
