"""The series store's in-memory side: delta arithmetic, histogram buckets, series limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from promkit.tracker.db import Database
from promkit.tracker.store import ADD, OBSERVE, SET, Delta, Op, SeriesKey, SeriesStore


def op(kind: int, key: SeriesKey, value: float, bounds: tuple[float, ...] | None = None) -> Op:
    return (kind, key, value, bounds)


def record(store: SeriesStore, ops: list[Op]) -> None:
    """Samples as one ingestion request through API key 0 records them."""
    store.record(ops, 0, 0, 0.0)


@pytest.fixture
def store(tmp_path: Path) -> SeriesStore:
    return SeriesStore(Database(f"sqlite:///{tmp_path / 's.db'}"), max_series_per_user=2)


def key(labels: tuple[tuple[str, str], ...] = (), mtype: str = "gauge") -> tuple:  # type: ignore[type-arg]
    return (1, "m", mtype, labels)


def test_store_gauge_set_then_inc_and_counter_adds(store: SeriesStore) -> None:
    g, c = key(), key(mtype="counter")
    record(store, [op(ADD, g, 2), op(SET, g, 10), op(ADD, g, 3), op(ADD, c, 1), op(ADD, c, 4)])
    pending = store._pending
    assert (pending[g].set_to, pending[g].inc) == (10, 3)
    assert (pending[c].set_to, pending[c].inc) == (None, 5)


def test_store_histogram_buckets_are_per_bound_with_inf_last(store: SeriesStore) -> None:
    h = key(mtype="histogram")
    bounds = (1.0, 10.0)
    record(store, [op(OBSERVE, h, v, bounds) for v in (0.5, 1.0, 5, 10, 11, 1e9)])
    delta = store._pending[h]
    assert delta.buckets == [2, 2, 2]
    assert delta.count == 6 and delta.inc == pytest.approx(0.5 + 1 + 5 + 10 + 11 + 1e9)


@pytest.mark.parametrize(
    ("first", "later", "set_to", "inc"),
    [
        (Delta(inc=2), Delta(inc=3), None, 5),
        (Delta(inc=2), Delta(set_to=7, inc=1), 7, 1),
        (Delta(set_to=7, inc=1), Delta(inc=2), 7, 3),
    ],
)
def test_store_delta_merge_keeps_order(
    first: Delta, later: Delta, set_to: float | None, inc: float
) -> None:
    first.merge(later)
    assert (first.set_to, first.inc) == (set_to, inc)


def test_store_series_limit_counts_distinct_label_sets(store: SeriesStore) -> None:
    a, b, c = key((("p", "a"),)), key((("p", "b"),)), key((("p", "c"),))
    assert store.admit(a) and store.admit(b)
    assert not store.admit(c)
    assert store.admit(a)  # existing series keep working
    assert store.series_count(1) == 2


def test_store_record_refuses_new_series_past_the_limit(store: SeriesStore) -> None:
    a, b, c = key((("p", "a"),)), key((("p", "b"),)), key((("p", "c"),))
    ops = [op(ADD, a, 1), op(ADD, b, 1), op(ADD, c, 1), op(ADD, a, 2), op(ADD, c, 5)]
    over = store.record(ops, 9, 1, 10.0)
    assert over == [ops[2], ops[4]]  # c is new and the user is at the limit (2)
    assert store.pending == 2 and store._pending[a].inc == 3
    use = store._usage[9]
    assert (use.accepted, use.rejected) == (3, 3)  # 1 refused before + 2 over the limit
    assert store.record([op(ADD, b, 1)], 9, 0, 11.0) == []  # existing series keep working


def test_store_drop_metric_forgets_pending(store: SeriesStore) -> None:
    record(store, [op(ADD, key(), 1)])
    store.drop_metric(1, "m")
    assert store.pending == 0


def test_store_flush_drops_samples_of_a_user_deleted_meanwhile(tmp_path: Path) -> None:
    """A user deleted while their samples were pending must not wedge every later flush."""
    import asyncio

    from sqlalchemy import delete, select

    from promkit.tracker.models import Series, User

    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    db.migrate()
    with db.session() as session:
        session.add_all([User(id=1, email="a@x.io", password_hash="h"),
                         User(id=2, email="b@x.io", password_hash="h")])  # fmt: skip
        session.commit()
    store = SeriesStore(db, max_series_per_user=10)
    record(store, [op(ADD, (1, "m", "counter", ()), 1), op(ADD, (2, "m", "counter", ()), 2)])
    with db.session() as session:
        session.execute(delete(User).where(User.id == 1))
        session.commit()
    asyncio.run(store.flush())
    assert store.pending == 0
    with db.session() as session:
        rows = session.execute(select(Series.user_id, Series.value)).all()
    assert [tuple(r) for r in rows] == [(2, 2.0)]
    db.dispose()


def test_store_failed_flush_keeps_its_deltas_under_the_later_ones(tmp_path: Path) -> None:
    import asyncio

    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from promkit.tracker.models import Series, User

    db = Database(f"sqlite:///{tmp_path / 's.db'}")  # not migrated yet: the flush fails
    store = SeriesStore(db, max_series_per_user=10)
    c, g = (1, "c", "counter", ()), (1, "g", "gauge", ())
    store.record([op(ADD, c, 1), op(SET, g, 5)], 7, 1, 100.0)
    with pytest.raises(SQLAlchemyError):
        asyncio.run(store.flush())
    store.record([op(ADD, c, 2), op(ADD, g, 1)], 7, 0, 200.0)
    assert (store._pending[c].inc, store._pending[c].set_to) == (3, None)
    assert (store._pending[g].set_to, store._pending[g].inc) == (5, 1)
    use = store._usage[7]
    assert (use.accepted, use.rejected, use.last_seen) == (4, 1, 200.0)
    db.migrate()
    with db.session() as session:
        session.add(User(id=1, email="a@x.io", password_hash="h"))
        session.commit()
    asyncio.run(store.flush())
    assert store.pending == 0
    with db.session() as session:
        rows = session.execute(select(Series.metric_name, Series.value)).all()
    assert sorted(tuple(r) for r in rows) == [("c", 3.0), ("g", 6.0)]
    db.dispose()
