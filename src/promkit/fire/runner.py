"""One fire run: discover -> select -> read -> restamp -> replicate -> remote write.

The runner is synchronous; the ``RemoteWriteSender`` (``promkit.core.remote_write``) owns
batching, the worker threads, retries and the rate-limit hook. Ctrl-C stops reading, lets
the requests on the wire finish, drops the queued ones (counted as ``canceled``) and still
returns a result, so the summary is always printed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from promkit.core.errors import NotFoundError, PromkitError
from promkit.core.remote_write import RemoteWriteSender, RetryPolicy, SenderStats
from promkit.core.series import Labels, Series
from promkit.core.tsdb import TSDBClient
from promkit.fire.config import FireConfig, TimestampMode
from promkit.fire.ratelimit import TokenBucket
from promkit.fire.replication import Combination, combinations_for, replica_labels
from promkit.fire.selection import LabelKey, SelectionResult, SeriesFilter, Shard
from promkit.fire.source import SeriesSource, connection_for
from promkit.fire.timestamps import RealtimeReplay, restamp

REALTIME_FLUSH_SECONDS = 1.0


class Sink(Protocol):
    """What the runner needs from a sender (``RemoteWriteSender`` fits)."""

    def add(self, series: Series) -> None: ...
    def flush(self) -> None: ...
    def close(self, *, drain: bool = True) -> SenderStats: ...
    def stats(self) -> SenderStats: ...


@dataclass
class Discovery:
    start: float
    end: float
    selection: SelectionResult
    combinations: list[Combination]


@dataclass
class RunResult:
    mode: TimestampMode
    discovery: Discovery
    stats: SenderStats
    started_at: float
    series_read: int = 0
    replica_series: int = 0  # distinct series written (originals read x replicas)
    source_samples: int = 0
    dropped_future: int = 0
    missing_series: int = 0
    bad_lines: int = 0
    rate_limited_seconds: float = 0.0
    send_seconds: float = 0.0  # first batch released -> last answer received
    send_window: tuple[float, float] | None = None  # the same, as Unix times
    interrupted: bool = False
    source_error: PromkitError | None = None  # reading stopped early; raised after the summary
    warnings: list[str] = field(default_factory=list)

    @property
    def replicas_per_series(self) -> int:
        return len(self.discovery.combinations)

    @property
    def achieved_samples_per_second(self) -> float:
        """Accepted samples over the sending window (what a rate limit is compared to)."""
        return self.stats.samples_sent / self.send_seconds if self.send_seconds > 0 else 0.0


class _Gate:
    """The sender's rate-limit hook: notes when the first batch is released, then applies
    the token bucket (if any)."""

    def __init__(self, bucket: TokenBucket | None) -> None:
        self.bucket = bucket
        self.first: float | None = None
        self.first_wall = 0.0

    def __call__(self, samples: int) -> None:
        if self.first is None:
            self.first = time.monotonic()
            self.first_wall = time.time()
        if self.bucket is not None:
            self.bucket.acquire(samples)


def make_sender(config: FireConfig, rate_limit: Callable[[int], None] | None) -> RemoteWriteSender:
    conn = connection_for(config.target)
    return RemoteWriteSender(
        config.target.url,
        client=conn.client(),
        concurrency=config.send.concurrency,
        batch_samples=config.send.batch_samples,
        retry=RetryPolicy(
            max_attempts=config.send.max_retries + 1,
            initial_backoff=config.send.backoff_min,
            max_backoff=max(config.send.backoff_max, config.send.backoff_min),
        ),
        rate_limit=rate_limit,
        timeout=config.target.timeout,
        secrets=target_secrets(config),
    )


def target_secrets(config: FireConfig) -> list[str]:
    """Every secret the target connection sends (servers echo them in error messages)."""
    secrets = connection_for(config.target).secrets()
    secrets += [v for k, v in config.target.all_headers().items() if k in config.target.headers_env]
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def open_source(config: FireConfig) -> SeriesSource:
    return SeriesSource(TSDBClient(connection_for(config.source)))


class FireRunner:
    def __init__(
        self,
        config: FireConfig,
        source: SeriesSource,
        *,
        shard: Shard | None = None,
        mode: TimestampMode | None = None,
        sender_factory: Callable[[Callable[[int], None] | None], Sink] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.source = source
        self.shard = shard
        self.mode: TimestampMode = mode or config.timestamps.mode
        self._sender_factory = sender_factory or (lambda rl: make_sender(config, rl))
        self._clock = clock
        self._sleep = sleep
        self.bucket: TokenBucket | None = None

    # ------------------------------------------------------------------ discovery
    def discover(self) -> Discovery:
        """Which series a run would replicate (no samples are read)."""
        sel = self.config.selection
        start, end = sel.resolve_window(self._clock())
        combos = combinations_for(self.config.replication)
        filt = SeriesFilter(sel, self.config.replication.label_names(), self.shard)
        result = filt.select(self.source.discover(sel.match, start, end))
        if not result.selected:
            skipped = ", ".join(f"{k}={v}" for k, v in sorted(result.skipped.items())) or "none"
            hint = (
                "check selection.match, include/exclude, the window (selection.window/"
                "start/end) and --shard"
            )
            if result.skipped.get("already_replica") == result.discovered:
                names = ", ".join(sorted(self.config.replication.label_names()))
                hint = (
                    f"every discovered series already carries a replication label ({names}): "
                    "pick label names the originals do not have, or match the originals only"
                )
            raise NotFoundError(
                f"no series to replicate: {result.discovered} discovered in the window, "
                f"skipped: {skipped}",
                hint=hint,
            )
        return Discovery(start, end, result, combos)

    # ------------------------------------------------------------------ run
    def run(
        self,
        discovery: Discovery | None = None,
        *,
        progress: Callable[[SenderStats], None] | None = None,
        progress_interval: float = 2.0,
    ) -> RunResult:
        disc = discovery or self.discover()
        rate = self.config.rate.samples_per_second
        if rate is not None:
            self.bucket = TokenBucket(rate, rate * self.config.rate.burst_seconds)
        gate = _Gate(self.bucket)
        sender = self._sender_factory(gate)
        result = RunResult(
            mode=self.mode, discovery=disc, stats=sender.stats(), started_at=self._clock()
        )
        stop = threading.Event()
        ticker = None
        if progress is not None:

            def tick() -> None:
                while not stop.wait(progress_interval):
                    progress(sender.stats())

            ticker = threading.Thread(target=tick, name="fire-progress", daemon=True)
            ticker.start()
        drain = True
        try:
            self._produce(disc, sender, result)
        except KeyboardInterrupt:
            result.interrupted = True
            drain = False
        except PromkitError as exc:  # the source failed mid-run: send what was read, report
            result.source_error = exc
        finally:
            stop.set()
            try:
                result.stats = sender.close(drain=drain)
            except KeyboardInterrupt:
                result.interrupted = True
                result.stats = sender.close(drain=False)
            if ticker is not None:
                ticker.join()
        if gate.first is not None:
            result.send_seconds = time.monotonic() - gate.first
            result.send_window = (gate.first_wall, gate.first_wall + result.send_seconds)
        if self.bucket is not None:
            result.rate_limited_seconds = self.bucket.waited
        result.bad_lines = self.source.decode.bad_lines
        return result

    def _produce(self, disc: Discovery, sender: Sink, result: RunResult) -> None:
        sel = self.config.selection
        wanted: set[LabelKey] = set(disc.selection.selected)
        seen: set[LabelKey] = set()
        offsets: dict[LabelKey, int] = {}
        realtime: dict[LabelKey, Series] = {}
        for series in self.source.read(sel.match, disc.start, disc.end, disc.selection.metrics):
            key = series.labels.pairs()
            if key not in wanted or not series.timestamps:
                continue
            seen.add(key)
            result.series_read += 1
            result.source_samples += len(series.timestamps)
            if self.mode == "realtime":
                prev = realtime.get(key)
                realtime[key] = series if prev is None else _concat(prev, series)
                continue
            now_ms = int(self._clock() * 1000)
            if self.mode == "shift" and key in offsets:
                # A series split over several export lines keeps one offset.
                r = restamp(
                    "original", [t + offsets[key] for t in series.timestamps], series.values, now_ms
                )
            else:
                r = restamp(self.mode, series.timestamps, series.values, now_ms)
                if self.mode == "shift":
                    offsets[key] = now_ms - series.timestamps[-1]
            result.dropped_future += r.dropped_future
            if not r.timestamps:
                continue
            for combo in disc.combinations:
                labels = Labels(replica_labels(series.labels, combo))
                sender.add(Series(labels, r.values, r.timestamps))
        result.missing_series = len(wanted - seen)
        result.replica_series = len(seen) * len(disc.combinations)
        if self.mode == "realtime":
            self._replay(realtime, disc.combinations, sender)

    def _replay(
        self, originals: dict[LabelKey, Series], combos: list[Combination], sender: Sink
    ) -> None:
        start_ms = int(self._clock() * 1000)
        replay = RealtimeReplay(start_ms, int(self.config.timestamps.duration * 1000))
        replicas: list[list[Labels]] = []
        for series in originals.values():
            replay.add(series.timestamps, series.values)
            replicas.append([Labels(replica_labels(series.labels, c)) for c in combos])
        last_flush = self._clock()
        while (due := replay.next_due_ms()) is not None:
            wait = due / 1000 - self._clock()
            if wait > 0:
                self._sleep(min(wait, REALTIME_FLUSH_SECONDS))
            else:
                groups: dict[int, tuple[list[float], list[int]]] = {}
                for index, ts, value in replay.due(int(self._clock() * 1000)):
                    values, stamps = groups.setdefault(index, ([], []))
                    values.append(value)
                    stamps.append(ts)
                for index, (values, stamps) in groups.items():
                    for labels in replicas[index]:
                        sender.add(Series(labels, values, stamps))
            if self._clock() - last_flush >= REALTIME_FLUSH_SECONDS:
                sender.flush()  # trickling samples must not wait for a full batch
                last_flush = self._clock()


def _concat(a: Series, b: Series) -> Series:
    pairs = sorted(zip(a.timestamps + b.timestamps, a.values + b.values, strict=True))
    return Series(a.labels, [v for _, v in pairs], [t for t, _ in pairs])


__all__ = [
    "Discovery",
    "FireRunner",
    "RunResult",
    "Sink",
    "make_sender",
    "open_source",
]
