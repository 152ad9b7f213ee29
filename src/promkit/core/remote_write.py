"""Prometheus remote write: a batching, concurrent, retrying sender.

``RemoteWriteSender`` is the sink of a pipeline: callers ``add()`` series, the sender cuts
WriteRequests of ``batch_samples`` samples, encodes them (protobuf + snappy, see
``remote_write_pb``), and posts them from ``concurrency`` worker threads.

Why threads and a sync ``httpx.Client``: producers (``fire``, the importer) are synchronous
generators with a blocking token bucket; socket I/O and snappy release the GIL, so a few
threads overlap network waits with encoding without an event loop in every caller.

Ordering: a series is always routed to the same worker (by the hash of its labels), and a
worker sends its batches one after another, retries included. So samples of one series
reach the server in the order they were added, which Prometheus requires (it answers
"out of order sample" otherwise), while different series go out in parallel.

Retries: 429, 5xx and network errors are retried with capped exponential backoff and
jitter (``Retry-After`` is honoured up to the cap); any other 4xx is never retried: it is
counted by status and the server's message is kept. Failures never raise: callers read
``stats()`` and decide (``fire`` turns a failure ratio into an exit code).

Secrets: servers echo credentials in their refusals (vmauth quotes a refused bearer token or
base64 Basic pair in its 400 body), so every stored message and error text is scrubbed of the
connection's ``secrets`` before it is kept (and before it is cut to length, so no prefix of a
secret survives either).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from promkit.core.connection import scrub_secrets
from promkit.core.errors import DataError, UsageError
from promkit.core.remote_write_pb import (
    STALE_NAN,
    compress,
    encode_write_request,
    is_stale_nan,
)
from promkit.core.series import Series

__all__ = [
    "REMOTE_WRITE_HEADERS",
    "STALE_NAN",
    "RemoteWriteSender",
    "RetryPolicy",
    "SenderStats",
    "build_body",
    "is_stale_nan",
]

REMOTE_WRITE_HEADERS: Mapping[str, str] = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
_MAX_MESSAGE = 500
_LATENCY_RESERVOIR = 50_000


def build_body(series: Iterable[Series]) -> bytes:
    """A complete remote-write request body: snappy-compressed WriteRequest."""
    return compress(encode_write_request(series))


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter: attempt k waits in [cap_k/2, cap_k]."""

    max_attempts: int = 8
    initial_backoff: float = 0.2
    max_backoff: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff:
            raise UsageError("backoff must satisfy 0 <= initial_backoff <= max_backoff")

    def delay(self, attempt: int, jitter: float, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))
        wait = cap / 2 + cap / 2 * jitter
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_backoff))
        return wait

    @staticmethod
    def retryable(status: int) -> bool:
        return status == 429 or status >= 500


@dataclass(frozen=True)
class SenderStats:
    """A snapshot of what a sender did. Samples count once, however often retried."""

    series: int = 0
    samples_sent: int = 0
    samples_failed: int = 0
    requests: int = 0  # HTTP attempts, retries included
    requests_ok: int = 0
    requests_failed: int = 0  # batches given up on
    retries: int = 0
    bytes_sent: int = 0  # request bodies of successful requests
    failures: Mapping[str, int] = field(default_factory=dict)  # "400", "503", "network"
    messages: Mapping[str, str] = field(default_factory=dict)  # last message per key
    latency_p50: float | None = None  # seconds per HTTP attempt
    latency_p99: float | None = None
    elapsed: float = 0.0

    @property
    def failure_ratio(self) -> float:
        total = self.samples_sent + self.samples_failed
        return self.samples_failed / total if total else 0.0

    @property
    def samples_per_second(self) -> float:
        return self.samples_sent / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "samples_sent": self.samples_sent,
            "samples_failed": self.samples_failed,
            "requests": self.requests,
            "requests_ok": self.requests_ok,
            "requests_failed": self.requests_failed,
            "retries": self.retries,
            "bytes_sent": self.bytes_sent,
            "failures": dict(self.failures),
            "messages": dict(self.messages),
            "latency_p50_s": self.latency_p50,
            "latency_p99_s": self.latency_p99,
            "elapsed_s": self.elapsed,
            "samples_per_second": self.samples_per_second,
            "failure_ratio": self.failure_ratio,
        }


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class _Counters:
    """Mutable counters shared by the workers, guarded by one lock."""

    def __init__(self, rng: random.Random, secrets: Iterable[str] = ()) -> None:
        self.lock = threading.Lock()
        self.rng = rng
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self.values: dict[str, int] = dict.fromkeys(
            (
                "series",
                "samples_sent",
                "samples_failed",
                "requests",
                "requests_ok",
                "requests_failed",
                "retries",
                "bytes_sent",
            ),
            0,
        )
        self.failures: dict[str, int] = {}
        self.messages: dict[str, str] = {}
        self.latencies: list[float] = []
        self.seen_latencies = 0

    def add(self, **deltas: int) -> None:
        with self.lock:
            for key, delta in deltas.items():
                self.values[key] += delta

    def latency(self, seconds: float) -> None:
        with self.lock:  # reservoir sampling keeps memory bounded on long runs
            self.seen_latencies += 1
            if len(self.latencies) < _LATENCY_RESERVOIR:
                self.latencies.append(seconds)
            else:
                slot = self.rng.randrange(self.seen_latencies)
                if slot < _LATENCY_RESERVOIR:
                    self.latencies[slot] = seconds

    def fail(self, key: str, message: str, samples: int) -> None:
        with self.lock:
            self.failures[key] = self.failures.get(key, 0) + 1
            self.messages[key] = scrub_secrets(message, self.secrets)[:_MAX_MESSAGE]
            self.values["samples_failed"] += samples
            self.values["requests_failed"] += 1


class RemoteWriteSender:
    """Send series to a remote-write URL (``.../api/v1/write``). Use as a context manager.

    ``client``: an ``httpx.Client`` carrying auth/TLS (not closed here); without one the
    sender makes its own from ``headers`` and ``timeout``. ``rate_limit(samples)`` is
    called before a batch's first attempt and may block (a token bucket). ``secrets``: the
    credential strings the requests carry (``Connection.secrets()`` plus any secret header
    values); they are replaced by ``***`` in every message ``stats()`` reports.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client | None = None,
        headers: Mapping[str, str] | None = None,
        concurrency: int = 4,
        batch_samples: int = 10_000,
        retry: RetryPolicy | None = None,
        rate_limit: Callable[[int], None] | None = None,
        timeout: float = 30.0,
        queue_depth: int = 2,
        seed: int | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise UsageError(
                f"not a remote-write URL: {parts.scheme or '?'}://{parts.hostname or '?'}",
                hint="Use e.g. http://127.0.0.1:8428/api/v1/write (VictoriaMetrics) "
                "or http://127.0.0.1:9090/api/v1/write (Prometheus).",
            )
        if concurrency < 1 or batch_samples < 1 or queue_depth < 1:
            raise UsageError("concurrency, batch_samples and queue_depth must be at least 1")
        self.url = url
        self.batch_samples = batch_samples
        self.retry = retry or RetryPolicy()
        self._rate_limit = rate_limit
        self._headers = {**REMOTE_WRITE_HEADERS, **(headers or {})}
        self._own_client = client is None
        self._client = client or httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        rng = random.Random(seed)  # noqa: S311 (jitter, not crypto)
        self._counters = _Counters(rng, secrets)
        self._abort = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._pending: list[list[Series]] = [[] for _ in range(concurrency)]
        self._pending_samples = [0] * concurrency
        self._queues: list[queue.Queue[list[Series] | None]] = [
            queue.Queue(maxsize=queue_depth) for _ in range(concurrency)
        ]
        self._started = time.monotonic()
        self._closed = False
        self._workers = [
            threading.Thread(target=self._work, args=(q,), name=f"remote-write-{i}", daemon=True)
            for i, q in enumerate(self._queues)
        ]
        for worker in self._workers:
            worker.start()

    # ------------------------------------------------------------------ producer side

    def add(self, series: Series) -> None:
        """Queue one series; blocks while the workers are busy (bounded memory).

        Call from one producer thread: batches of a shard are queued in call order.
        """
        if self._closed:
            raise UsageError("the remote-write sender is closed")
        self._raise_worker_error()
        n = len(series.timestamps)
        self._counters.add(series=1)
        if n == 0:
            return
        shard = hash(series.labels) % len(self._queues)
        start = 0
        while start < n:
            with self._lock:
                room = self.batch_samples - self._pending_samples[shard]
                end = min(n, start + room)
                part = (
                    series
                    if start == 0 and end == n
                    else Series(
                        series.labels, series.values[start:end], series.timestamps[start:end]
                    )
                )
                self._pending[shard].append(part)
                self._pending_samples[shard] += end - start
                full = (
                    self._take(shard)
                    if self._pending_samples[shard] >= self.batch_samples
                    else None
                )
            if full:
                self._queues[shard].put(full)
            start = end

    def add_many(self, series: Iterable[Series]) -> None:
        for s in series:
            self.add(s)

    def _take(self, shard: int) -> list[Series]:
        batch = self._pending[shard]
        self._pending[shard] = []
        self._pending_samples[shard] = 0
        return batch

    def flush(self) -> None:
        """Send every pending batch and wait until all of them are done."""
        if self._closed:
            return
        with self._lock:
            batches = [(i, self._take(i)) for i in range(len(self._queues))]
        for shard, batch in batches:
            if batch:
                self._queues[shard].put(batch)
        for q in self._queues:
            q.join()
        self._raise_worker_error()

    def close(self, *, drain: bool = True) -> SenderStats:
        """Stop the workers. ``drain=False`` (e.g. on SIGINT) drops queued batches and
        ends retries, but lets requests already on the wire finish."""
        if self._closed:
            return self.stats()
        if drain:
            try:
                self.flush()
            finally:
                self._stop()
        else:
            self._abort.set()
            self._stop()
        return self.stats()

    def _stop(self) -> None:
        self._closed = True
        for q in self._queues:
            q.put(None)
        for worker in self._workers:
            worker.join()
        if self._own_client:
            self._client.close()
        self._raise_worker_error()

    def __enter__(self) -> RemoteWriteSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(drain=exc_type is None)

    def stats(self) -> SenderStats:
        c = self._counters
        with c.lock:
            lat = sorted(c.latencies)
            return SenderStats(
                **c.values,
                failures=dict(c.failures),
                messages=dict(c.messages),
                latency_p50=_percentile(lat, 0.50),
                latency_p99=_percentile(lat, 0.99),
                elapsed=time.monotonic() - self._started,
            )

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            raise self._error

    # ------------------------------------------------------------------ worker side

    def _work(self, q: queue.Queue[list[Series] | None]) -> None:
        while True:
            batch = q.get()
            try:
                if batch is None:
                    return
                samples = sum(len(s.timestamps) for s in batch)
                if self._abort.is_set():
                    self._counters.fail("canceled", "canceled before sending", samples)
                    continue
                self._send(batch, samples)
            except BaseException as exc:  # a bug: surface it to the producer
                self._error = exc
            finally:
                q.task_done()

    def _send(self, batch: list[Series], samples: int) -> None:
        try:
            body = build_body(batch)
        except DataError as exc:
            self._counters.fail("invalid", exc.message, samples)
            return
        if self._rate_limit is not None:
            self._rate_limit(samples)
        attempt = 0
        while True:
            attempt += 1
            key, message, retry_after = self._attempt(body)
            if key is None:
                self._counters.add(samples_sent=samples, requests_ok=1, bytes_sent=len(body))
                return
            retryable = key == "network" or RetryPolicy.retryable(int(key))
            if not retryable or attempt >= self.retry.max_attempts or self._abort.is_set():
                self._counters.fail(key, message, samples)
                return
            self._counters.add(retries=1)
            with self._counters.lock:
                jitter = self._counters.rng.random()
            if self._abort.wait(self.retry.delay(attempt, jitter, retry_after)):
                self._counters.fail(key, message, samples)
                return

    def _attempt(self, body: bytes) -> tuple[str | None, str, float | None]:
        """One POST: (None, "", None) on success, else (failure key, message, Retry-After)."""
        self._counters.add(requests=1)
        started = time.monotonic()
        try:
            response = self._client.post(self.url, content=body, headers=self._headers)
        except httpx.TransportError as exc:
            return "network", f"{type(exc).__name__}: {exc}", None
        finally:
            self._counters.latency(time.monotonic() - started)
        if response.is_success:
            return None, "", None
        text = response.text.strip() or response.reason_phrase
        return str(response.status_code), text, _retry_after(response.headers.get("Retry-After"))


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
    return seconds if seconds >= 0 else None
