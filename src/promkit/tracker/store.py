"""The durable state of every series: in-memory deltas written behind to the database.

Ingestion only touches memory (:meth:`SeriesStore.record` on the event loop). Every
``flush_interval`` seconds, before every scrape and at shutdown the accumulated deltas are
added to the ``series`` rows in one transaction, so a restart loses nothing that was
flushed and several instances sharing one database add up instead of overwriting each
other (gauges are last-writer-wins by nature). A failed flush keeps its deltas for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from promkit.tracker.db import Database
from promkit.tracker.forwarding import RemoteWriteForwarder, Snapshot
from promkit.tracker.models import ApiKey, Series, User

log = logging.getLogger("promkit.tracker.store")

LabelPairs = tuple[tuple[str, str], ...]  # sorted by name
# (user_id, metric_name, metric_type, labels)
SeriesKey = tuple[int, str, str, LabelPairs]
ADD, SET, OBSERVE = 0, 1, 2


def labels_hash(labels: LabelPairs) -> str:
    """The database's identity of a label set (label sets can be longer than an index key)."""
    return hashlib.sha256(orjson.dumps(labels)).hexdigest()


# One accepted sample: (kind, key, value, histogram bounds or None); kind is ADD, SET or
# OBSERVE. A plain tuple: ingestion builds ten per request, and a class costs ~1 us each.
Op = tuple[int, SeriesKey, float, tuple[float, ...] | None]


@dataclass(slots=True)
class Delta:
    inc: float = 0.0  # counter/gauge increment, or histogram/summary sum
    set_to: float | None = None  # gauge: absolute value the increments apply to
    count: float = 0.0
    buckets: list[float] | None = None  # non-cumulative counts, +Inf last
    bounds: tuple[float, ...] | None = None

    def merge(self, later: Delta) -> None:
        """Apply ``later`` on top of this delta (both for the same series)."""
        if later.set_to is not None:
            self.set_to, self.inc = later.set_to, later.inc
        else:
            self.inc += later.inc
        self.count += later.count
        if later.buckets is not None:
            if self.buckets is None or len(self.buckets) != len(later.buckets):
                self.buckets, self.bounds = list(later.buckets), later.bounds
            else:
                self.buckets = [a + b for a, b in zip(self.buckets, later.buckets, strict=True)]


@dataclass(slots=True)
class KeyUse:
    """Samples ingested through one API key since the last flush."""

    accepted: int = 0
    rejected: int = 0
    last_seen: float = 0.0  # unix seconds

    def merge(self, later: KeyUse) -> None:
        self.accepted += later.accepted
        self.rejected += later.rejected
        self.last_seen = max(self.last_seen, later.last_seen)


@dataclass
class _Known:
    loaded_at: float
    keys: set[SeriesKey] = field(default_factory=set)


class SeriesStore:
    def __init__(
        self,
        db: Database,
        max_series_per_user: int,
        known_ttl: float = 30.0,
        forwarder: RemoteWriteForwarder | None = None,
    ) -> None:
        self._db = db
        self._forwarder = forwarder
        self.max_series_per_user = max_series_per_user
        self._known_ttl = known_ttl
        self._pending: dict[SeriesKey, Delta] = {}
        self._usage: dict[int, KeyUse] = {}  # API key id -> counts since the last flush
        self._known: dict[int, _Known] = {}
        self._flush_lock = asyncio.Lock()
        # Ingestion records on the event loop; definition changes drop from worker threads.
        self._lock = threading.Lock()
        self.flushed_batches = 0

    # cardinality
    def knows(self, user_id: int) -> bool:
        """True when the user's series were loaded recently (:meth:`prepare_user` is a no-op)."""
        known = self._known.get(user_id)
        return known is not None and time.monotonic() - known.loaded_at < self._known_ttl

    async def prepare_user(self, user_id: int) -> None:
        """Load the user's existing series (for the series limit) when not known recently."""
        if self.knows(user_id):
            return
        keys = await asyncio.to_thread(self._load_known, user_id)
        pending = {k for k in list(self._pending) if k[0] == user_id}
        self._known[user_id] = _Known(time.monotonic(), keys | pending)

    def _load_known(self, user_id: int) -> set[SeriesKey]:
        with self._db.session() as session:
            rows = session.execute(
                select(Series.metric_name, Series.metric_type, Series.labels).where(
                    Series.user_id == user_id
                )
            ).all()
        return {(user_id, r[0], r[1], tuple(sorted((r[2] or {}).items()))) for r in rows}

    def admit(self, key: SeriesKey) -> bool:
        """True when ``key`` exists or the user is below the series limit (then it counts)."""
        known = self._known.get(key[0])
        if known is None:
            known = self._known[key[0]] = _Known(time.monotonic())
        keys = known.keys
        if key in keys:
            return True
        if len(keys) >= self.max_series_per_user:
            return False
        keys.add(key)
        return True

    def series_count(self, user_id: int) -> int:
        known = self._known.get(user_id)
        return len(known.keys) if known else 0

    # recording
    def record(self, ops: list[Op], key_id: int, rejected: int, when: float) -> list[Op]:
        """One ingestion request: its samples, and its counts against its API key (``rejected``
        refused before, at ``when``), under one lock. Samples of new series past the user's
        series limit are not recorded but returned (and counted as rejected).

        A series with a pending delta was admitted already, so only new ones are checked."""
        over: list[Op] = []
        with self._lock:
            pending = self._pending
            for op in ops:
                kind, key, value, bounds = op
                delta = pending.get(key)
                if delta is None:
                    if not self.admit(key):
                        over.append(op)
                        continue
                    delta = pending[key] = Delta()
                if kind == ADD:
                    delta.inc += value
                elif kind == SET:
                    delta.set_to, delta.inc = value, 0.0
                else:
                    _observe(delta, value, bounds)
            use = self._usage.get(key_id)
            if use is None:
                use = self._usage[key_id] = KeyUse()
            use.accepted += len(ops) - len(over)
            use.rejected += rejected + len(over)
            use.last_seen = when
        return over

    def drop_user(self, user_id: int) -> None:
        """Forget everything pending for a deleted user (their rows go with the user)."""
        with self._lock:
            for key in [k for k in self._pending if k[0] == user_id]:
                del self._pending[key]
        self._known.pop(user_id, None)

    def drop_metric(self, user_id: int, metric_name: str) -> None:
        """Forget pending deltas of a metric whose definition was deleted or reshaped."""
        with self._lock:
            for key in [k for k in self._pending if k[0] == user_id and k[1] == metric_name]:
                del self._pending[key]
        self._known.pop(user_id, None)

    @property
    def pending(self) -> int:
        return len(self._pending)

    # persistence
    async def flush(self) -> None:
        async with self._flush_lock:
            if not self._pending and not self._usage:
                return
            with self._lock:
                batch, self._pending = self._pending, {}
                usage, self._usage = self._usage, {}
            write = asyncio.ensure_future(asyncio.to_thread(self._write, batch, usage))
            try:
                # Shielded: a cancelled caller (shutdown, a scrape that hung up) must not
                # mistake a write still running in its thread for a failed one.
                await asyncio.shield(write)
            except asyncio.CancelledError:
                write.add_done_callback(lambda done: self._settle(batch, usage, done))
                raise
            except Exception:
                self._restore(batch, usage)
                raise
            self.flushed_batches += 1

    def _settle(
        self, batch: dict[SeriesKey, Delta], usage: dict[int, KeyUse], write: asyncio.Future[None]
    ) -> None:
        if write.cancelled() or write.exception() is not None:
            self._restore(batch, usage)

    def _restore(self, batch: dict[SeriesKey, Delta], usage: dict[int, KeyUse]) -> None:
        """Put an unwritten batch back under the deltas recorded since."""
        with self._lock:
            self._pending = _merged(batch, self._pending)
            self._usage = _merged(usage, self._usage)

    def _write(self, batch: Mapping[SeriesKey, Delta], usage: Mapping[int, KeyUse]) -> None:
        for attempt in (1, 2):
            try:
                snapshots = self._write_once(batch, usage)
                break
            except IntegrityError:
                # Another instance inserted one of these series first (the retry updates
                # it), or a user was deleted while their samples were pending: their rows
                # are gone, so are their deltas (kept, they would fail every flush).
                if attempt == 2:
                    raise
                batch = self._without_deleted_users(batch)
        if self._forwarder is not None:
            self._forwarder.forward(snapshots)

    def _without_deleted_users(self, batch: Mapping[SeriesKey, Delta]) -> Mapping[SeriesKey, Delta]:
        users = {key[0] for key in batch}
        with self._db.session() as session:
            alive = set(session.scalars(select(User.id).where(User.id.in_(users))))
        gone = users - alive
        if not gone:
            return batch
        log.info("dropping pending samples of %d deleted user(s)", len(gone))
        return {key: delta for key, delta in batch.items() if key[0] not in gone}

    def _write_once(
        self, batch: Mapping[SeriesKey, Delta], usage: Mapping[int, KeyUse]
    ) -> list[Snapshot]:
        snapshots: list[Snapshot] = []
        with self._db.session() as session:
            for key_id, use in sorted(usage.items()):
                _add_use(session, key_id, use)
            for (user_id, name, mtype, labels), delta in sorted(batch.items()):
                lhash = labels_hash(labels)
                row = session.scalar(
                    select(Series)
                    .where(
                        Series.user_id == user_id,
                        Series.metric_name == name,
                        Series.metric_type == mtype,
                        Series.labels_key == lhash,
                    )
                    .with_for_update()
                )
                if row is None:
                    row = Series(
                        user_id=user_id,
                        metric_name=name,
                        metric_type=mtype,
                        labels_key=lhash,
                        labels=dict(labels),
                        value=0.0,
                        count=0.0,
                    )
                    session.add(row)
                _apply(row, delta)
                if self._forwarder is not None:
                    buckets = tuple(row.bucket_counts) if row.bucket_counts else None
                    snapshots.append(
                        Snapshot(
                            user_id,
                            name,
                            mtype,
                            labels,
                            row.value,
                            row.count,
                            buckets,
                            delta.bounds,
                        )
                    )
            session.commit()
        return snapshots

    def close(self) -> None:
        if self._forwarder is not None:
            self._forwarder.close()

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Flush every ``interval`` seconds until ``stop`` is set (errors are logged, data kept)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            try:
                await self.flush()
            except SQLAlchemyError as exc:
                log.warning("series flush failed, will retry: %s", type(exc).__name__)


class _Mergeable(Protocol):
    def merge(self, later: Any, /) -> None: ...


_K = TypeVar("_K")
_M = TypeVar("_M", bound=_Mergeable)


def _merged(older: dict[_K, _M], newer: Mapping[_K, _M]) -> dict[_K, _M]:
    """``older`` with every entry of ``newer`` applied on top of it."""
    for key, item in newer.items():
        if key in older:
            older[key].merge(item)
        else:
            older[key] = item
    return older


def _observe(delta: Delta, value: float, bounds: tuple[float, ...] | None) -> None:
    delta.inc += value
    delta.count += 1
    if bounds is not None:
        if delta.buckets is None or delta.bounds != bounds:
            delta.buckets, delta.bounds = [0.0] * (len(bounds) + 1), bounds
        # The first bound >= value (Prometheus buckets are "le"); past the last: +Inf.
        delta.buckets[bisect_left(bounds, value)] += 1


def _add_use(session: Session, key_id: int, use: KeyUse) -> None:
    """Add counts to a key's row (additive, so instances add up; a deleted key matches none)."""
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(
            samples_accepted=ApiKey.samples_accepted + use.accepted,
            samples_rejected=ApiKey.samples_rejected + use.rejected,
            updated_at=ApiKey.updated_at,  # usage is not an edit of the key
        )
    )
    seen = datetime.fromtimestamp(use.last_seen, UTC)
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < seen))
        .values(last_used_at=seen, updated_at=ApiKey.updated_at)
    )


def _apply(row: Series, delta: Delta) -> None:
    if delta.set_to is not None:
        row.value = delta.set_to + delta.inc
    else:
        row.value = (row.value or 0.0) + delta.inc
    row.count = (row.count or 0.0) + delta.count
    if delta.buckets is not None:
        old = row.bucket_counts
        if old is None or len(old) != len(delta.buckets):
            row.bucket_counts = list(delta.buckets)
        else:
            row.bucket_counts = [a + b for a, b in zip(old, delta.buckets, strict=True)]


__all__ = [
    "ADD",
    "OBSERVE",
    "SET",
    "Delta",
    "KeyUse",
    "LabelPairs",
    "Op",
    "SeriesKey",
    "SeriesStore",
]
