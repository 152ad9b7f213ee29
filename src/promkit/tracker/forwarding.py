"""Optional forwarding of series values by Prometheus remote write.

After every flush the new absolute values of the flushed series (the same names and labels
``/metrics`` exposes) are pushed to ``PROMKIT_TRACKER_REMOTE_WRITE_URL`` (VictoriaMetrics,
Prometheus with ``--web.enable-remote-write-receiver``, ...). Values are cumulative and
read back from the database under the row lock, so pushes from several instances agree
and a failed push only leaves a gap: nothing is lost, the next change sends the total.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx

from promkit.core.remote_write import REMOTE_WRITE_HEADERS, build_body
from promkit.core.series import Series
from promkit.tracker.exposition import family_name

log = logging.getLogger("promkit.tracker.forwarding")


@dataclass(frozen=True)
class Snapshot:
    """A series' values right after a flush."""

    user_id: int
    metric_name: str
    metric_type: str
    labels: tuple[tuple[str, str], ...]
    value: float
    count: float
    bucket_counts: tuple[float, ...] | None
    bounds: tuple[float, ...] | None


def to_series(snapshots: list[Snapshot], timestamp_ms: int) -> list[Series]:
    out: list[Series] = []

    def add(name: str, labels: dict[str, str], value: float) -> None:
        out.append(Series.of({"__name__": name, **labels}, [value], [timestamp_ms]))

    for snap in snapshots:
        name = family_name(snap.metric_type, snap.metric_name)
        labels = {"user_id": str(snap.user_id), **dict(snap.labels)}
        if snap.metric_type == "counter":
            add(f"{name}_total", labels, snap.value)
        elif snap.metric_type == "gauge":
            add(name, labels, snap.value)
        else:
            if snap.metric_type == "histogram" and snap.bucket_counts and snap.bounds:
                cumulative = 0.0
                for bound, count in zip(
                    [*snap.bounds, float("inf")], snap.bucket_counts, strict=False
                ):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else repr(float(bound))
                    add(f"{name}_bucket", {**labels, "le": le}, cumulative)
            add(f"{name}_sum", labels, snap.value)
            add(f"{name}_count", labels, snap.count)
    return out


class RemoteWriteForwarder:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout, headers=dict(REMOTE_WRITE_HEADERS))
        self.sent = 0
        self.failed = 0

    def forward(self, snapshots: list[Snapshot]) -> None:
        """Push one batch (blocking; runs in the flush thread). Failures are logged."""
        if not snapshots:
            return
        body = build_body(to_series(snapshots, int(time.time() * 1000)))
        for attempt in range(3):
            try:
                response = self._client.post(self.url, content=body)
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            else:
                if response.status_code < 300:
                    self.sent += 1
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses this batch; retrying will not help
            time.sleep(0.2 * 2**attempt)
        self.failed += 1
        log.warning("remote write of %d series failed: %s", len(snapshots), problem)

    def close(self) -> None:
        self._client.close()


__all__ = ["RemoteWriteForwarder", "Snapshot", "to_series"]
