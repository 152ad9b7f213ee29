"""Series selection: replica skipping, anchored name regexes, caps, stable shards."""

from __future__ import annotations

import pytest

from promkit.core.errors import UsageError
from promkit.fire.config import Selection
from promkit.fire.selection import SeriesFilter, Shard, label_key

SERIES = [
    {"__name__": "node_load1", "instance": "a"},
    {"__name__": "node_load1", "instance": "b"},
    {"__name__": "node_cpu_seconds_total", "instance": "a", "cpu": "0"},
    {"__name__": "go_gc_duration_seconds", "instance": "a"},
    {"__name__": "node_load1", "instance": "a", "fire_copy": "1"},  # a replica
]


def names(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [dict(k)["__name__"] for k in result.selected]


def test_select_skips_series_with_replication_label() -> None:
    r = SeriesFilter(Selection(), {"fire_copy"}).select(SERIES)
    assert len(r.selected) == 4
    assert r.skipped["already_replica"] == 1
    assert r.discovered == 5


def test_select_include_exclude_are_anchored() -> None:
    sel = Selection(include=["node_.*"], exclude=["load"])
    r = SeriesFilter(sel, {"x"}).select(SERIES)
    # 'load' is anchored: it does not exclude node_load1
    assert sorted(set(names(r))) == ["node_cpu_seconds_total", "node_load1"]
    r2 = SeriesFilter(Selection(exclude=["node_load.*"]), {"x"}).select(SERIES)
    assert "node_load1" not in names(r2)
    assert r2.skipped["name_filter"] == 3


def test_select_caps_are_deterministic() -> None:
    r = SeriesFilter(Selection(max_metrics=1), {"fire_copy"}).select(reversed(SERIES))
    assert names(r) == ["go_gc_duration_seconds"]  # first name in sorted order
    assert r.skipped["max_metrics"] == 3
    r2 = SeriesFilter(Selection(max_series=2), {"fire_copy"}).select(SERIES)
    assert r2.selected == sorted(label_key(s) for s in SERIES[:4])[:2]
    assert r2.skipped["max_series"] == 2


def test_shards_partition_the_series() -> None:
    series = [{"__name__": "m", "i": str(i)} for i in range(300)]
    seen: list[tuple[tuple[str, str], ...]] = []
    for i in range(3):
        part = SeriesFilter(Selection(), {"r"}, Shard(i, 3)).select(series).selected
        assert 50 < len(part) < 150  # roughly even
        seen.extend(part)
    assert sorted(seen) == sorted(label_key(s) for s in series)


def test_shard_is_stable_and_label_order_independent() -> None:
    shard = Shard(1, 4)
    a = label_key({"__name__": "m", "x": "1", "y": "2"})
    b = label_key({"y": "2", "x": "1", "__name__": "m"})
    assert shard.owns(a) == shard.owns(b)


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "0/0", "-1/2"])
def test_shard_parse_rejects_bad(text: str) -> None:
    with pytest.raises(UsageError):
        Shard.parse(text)


def test_shard_parse_ok() -> None:
    assert Shard.parse(" 2/5 ") == Shard(2, 5)
