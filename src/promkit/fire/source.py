"""Reading the original series: discovery, samples, and sample counts for plans.

Samples come from VictoriaMetrics' ``/api/v1/export`` (raw samples, streamed). A server
without it (Prometheus) is read per metric name with an instant query of a range selector,
``{__name__="m"}[<window>]``, which returns the raw samples too (not step-evaluated
points, unlike PromFire's ``query_range``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from promkit.core.connection import Auth, AuthType, Connection, ConnectionConfig
from promkit.core.errors import UnsupportedError
from promkit.core.promql import matcher
from promkit.core.series import DecodeStats, Labels, Series, iter_lines, iter_series
from promkit.core.tsdb import TSDBClient
from promkit.fire.config import Endpoint


def connection_for(endpoint: Endpoint) -> Connection:
    """A resolved ``Connection`` (auth from env/file, headers, tenant header, TLS)."""
    auth = Auth()
    password = endpoint.password()
    token = endpoint.bearer_token()
    if token is not None:
        auth = Auth(type=AuthType.BEARER, token=token)
    elif endpoint.username:
        auth = Auth(type=AuthType.BASIC, username=endpoint.username, password=password)
    return Connection.from_config(
        ConnectionConfig(
            url=endpoint.url,
            auth=auth,
            headers=endpoint.all_headers(),
            ca_file=endpoint.tls_ca_file,
            skip_tls_verify=endpoint.tls_insecure_skip_verify,
            timeout_seconds=endpoint.timeout,
        )
    )


def _range_selector(name: str, start: float, end: float) -> str:
    window_ms = max(1, math.ceil((end - start) * 1000))
    return "{" + matcher("__name__", "=", name) + "}" + f"[{window_ms}ms]"


def _chunks(start: float, end: float, size: float) -> list[tuple[float, float]]:
    """``(lo, hi]`` pieces of at most ``size`` seconds covering ``(start, end]``, in order."""
    out = []
    lo = start
    while lo < end:
        hi = min(end, lo + size)
        out.append((lo, hi))
        lo = hi
    return out


def _labels_without_name(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


class SeriesSource:
    """The original series of one TSDB, within ``[start, end]``."""

    def __init__(self, client: TSDBClient, *, query_chunk: float = 3600.0) -> None:
        self.client = client
        self.query_chunk = query_chunk
        self.decode = DecodeStats()

    def discover(self, match: Sequence[str], start: float, end: float) -> list[dict[str, str]]:
        return self.client.series(match, start, end)

    def read(
        self, match: Sequence[str], start: float, end: float, metrics: Sequence[str]
    ) -> Iterator[Series]:
        """Every series of ``match`` with samples in the window (callers filter)."""
        try:
            stream = self.client.export(match, start, end)
        except UnsupportedError:
            yield from self._read_by_query(metrics, start, end)
            return
        with stream:
            yield from iter_series(iter_lines(stream), stats=self.decode)

    def _read_by_query(self, metrics: Sequence[str], start: float, end: float) -> Iterator[Series]:
        """Per metric, the window in chunks of ``query_chunk`` seconds (so one query stays
        under Prometheus' ``--query.max-samples``), merged per series before it is yielded:
        memory holds one metric's samples."""
        for name in metrics:
            merged: dict[tuple[tuple[str, str], ...], tuple[Labels, list[float], list[int]]] = {}
            for lo, hi in _chunks(start, end, self.query_chunk):
                for row in self.client.query(_range_selector(name, lo, hi), time=hi):
                    labels = Labels(row.get("metric") or {})
                    entry = merged.setdefault(labels.pairs(), (labels, [], []))
                    for ts, value in row.get("values") or []:
                        entry[1].append(float(value))
                        entry[2].append(round(float(ts) * 1000))
            for labels, values, stamps in merged.values():
                self.decode.series += 1
                self.decode.samples += len(values)
                yield Series(labels, values, stamps)

    def sample_counts(
        self, metrics: Sequence[str], start: float, end: float
    ) -> dict[tuple[str, tuple[tuple[str, str], ...]], int]:
        """Samples per series in the window, by ``(metric, labels without __name__)``,
        from ``count_over_time`` (no samples are pulled). The window is cut into at most
        24 pieces of at least ``query_chunk`` seconds, so one query does not load a whole
        long window (Prometheus counts loaded samples against ``--query.max-samples``)."""
        counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        size = max(self.query_chunk, (end - start) / 24)
        for name in metrics:
            for lo, hi in _chunks(start, end, size):
                rows: list[dict[str, Any]] = self.client.query(
                    f"count_over_time({_range_selector(name, lo, hi)})", time=hi
                )
                for row in rows:
                    key = (name, _labels_without_name(row.get("metric") or {}))
                    counts[key] = counts.get(key, 0) + int(float(row["value"][1]))
        return counts


__all__ = ["SeriesSource", "connection_for"]
