"""Timestamp modes. Whatever the mode, no sample is ever stamped later than ``now``.

- ``shift`` (default): keep the spacing and move the series so its last point is ``now``.
  On Prometheus the points must also be within the head's append window (about the last
  hour) and later than what the series already holds, so shift a short window there.
- ``original``: keep the timestamps (VictoriaMetrics, or backfill-capable targets); points
  later than ``now`` (clock skew at the source) are dropped and counted.
- ``burst``: the points 1 ms apart ending at the moment the series is sent (PromFire's
  re-stamping, but clamped to the wall clock instead of running ahead of it).
- ``realtime``: :class:`RealtimeReplay` replays each series at its own cadence (median
  spacing of its points), cycling through its values, stamped with the due time, for a
  duration: steady active series rather than bursts.
"""

from __future__ import annotations

import heapq
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from promkit.fire.config import TimestampMode


@dataclass(frozen=True)
class Restamped:
    timestamps: list[int]
    values: list[float]
    dropped_future: int = 0


def restamp(
    mode: TimestampMode, timestamps: Sequence[int], values: Sequence[float], now_ms: int
) -> Restamped:
    """New timestamps for one series' points (sorted ascending) under ``mode``."""
    if not timestamps:
        return Restamped([], [])
    if mode == "shift":
        offset = now_ms - timestamps[-1]
        return Restamped([t + offset for t in timestamps], list(values))
    if mode == "burst":
        first = now_ms - len(timestamps) + 1
        return Restamped(list(range(first, now_ms + 1)), list(values))
    if mode == "original":
        if timestamps[-1] <= now_ms:
            return Restamped(list(timestamps), list(values))
        keep = [i for i, t in enumerate(timestamps) if t <= now_ms]
        return Restamped(
            [timestamps[i] for i in keep],
            [values[i] for i in keep],
            dropped_future=len(timestamps) - len(keep),
        )
    raise ValueError(f"restamp does not handle mode {mode!r}; realtime uses RealtimeReplay")


def cadence_ms(timestamps: Sequence[int], default_ms: int) -> int:
    """The median spacing of ``timestamps`` (at least 1 ms), or ``default_ms``."""
    deltas = [b - a for a, b in itertools.pairwise(timestamps) if b > a]
    if not deltas:
        return default_ms
    return max(1, int(statistics.median(deltas)))


@dataclass
class _Track:
    interval_ms: int
    values: list[float]
    position: int = 0


class RealtimeReplay:
    """Emit each series' next value whenever its cadence comes due, for ``duration_ms``.

    Series are phased like their source (last timestamp modulo the cadence) so the load is
    spread over the interval the way real scrapes are, not fired all at once.
    """

    def __init__(self, start_ms: int, duration_ms: int, default_interval_ms: int = 15_000) -> None:
        self.start_ms = start_ms
        self.end_ms = start_ms + duration_ms
        self._default = default_interval_ms
        self._tracks: list[_Track] = []
        self._heap: list[tuple[int, int]] = []  # (due_ms, track index)

    def add(self, timestamps: Sequence[int], values: Sequence[float]) -> int:
        """Register a series; returns its track index (used in :meth:`due`)."""
        interval = cadence_ms(timestamps, self._default)
        phase = (timestamps[-1] if timestamps else 0) % interval
        first = self.start_ms + (phase - self.start_ms) % interval
        index = len(self._tracks)
        self._tracks.append(_Track(interval_ms=interval, values=list(values) or [0.0]))
        if first < self.end_ms:
            heapq.heappush(self._heap, (first, index))
        return index

    def __len__(self) -> int:
        return len(self._tracks)

    def next_due_ms(self) -> int | None:
        """When the next sample comes due, or None when the replay is over."""
        return self._heap[0][0] if self._heap else None

    def due(self, now_ms: int) -> list[tuple[int, int, float]]:
        """Every ``(track, timestamp, value)`` due at or before ``now_ms``; advances them."""
        out = []
        limit = min(now_ms, self.end_ms - 1)
        while self._heap and self._heap[0][0] <= limit:
            when, index = heapq.heappop(self._heap)
            track = self._tracks[index]
            out.append((index, when, track.values[track.position % len(track.values)]))
            track.position += 1
            nxt = when + track.interval_ms
            if nxt < self.end_ms:
                heapq.heappush(self._heap, (nxt, index))
        return out

    def expected_samples(self) -> int:
        """Samples the whole replay emits (for plans and checks)."""
        total = 0
        for index, track in enumerate(self._tracks):
            del index
            total += max(0, -(-(self.end_ms - self.start_ms) // track.interval_ms))
        return total


__all__ = ["RealtimeReplay", "Restamped", "cadence_ms", "restamp"]
