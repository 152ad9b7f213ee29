"""Replica label sets: cartesian product order, factor, never equal to an original."""

from __future__ import annotations

import re

import pytest

from promkit.core.errors import DataError
from promkit.fire.config import Replication, ReplicationLabel
from promkit.fire.replication import (
    combinations_for,
    label_combinations,
    replica_labels,
    replicas_selector,
)

REGION = ReplicationLabel(name="region", values=["a", "b", "c"])
ENV = ReplicationLabel(name="env", values=["x", "y"])


def test_combinations_first_label_fastest_full_product() -> None:
    combos = label_combinations([REGION, ENV])
    assert [tuple(v for _, v in c) for c in combos] == [
        ("a", "x"), ("b", "x"), ("c", "x"), ("a", "y"), ("b", "y"), ("c", "y"),
    ]  # fmt: skip
    assert len(set(combos)) == 6


def test_factor_keeps_prefix() -> None:
    combos = combinations_for(Replication(labels=[REGION, ENV], factor=4))
    assert [tuple(v for _, v in c) for c in combos] == [
        ("a", "x"),
        ("b", "x"),
        ("c", "x"),
        ("a", "y"),
    ]


@pytest.mark.parametrize("factor", [None, 1, 3])
def test_no_labels_means_factor_benchmark_replicas(factor: int | None) -> None:
    combos = combinations_for(Replication(factor=factor))
    assert combos == [(("benchmark_replica", f"replica-{i}"),) for i in range(factor or 1)]


def test_replica_never_equals_original() -> None:
    original = {"__name__": "up", "job": "a"}
    for combo in combinations_for(Replication(labels=[REGION, ENV])):
        replica = replica_labels(original, combo)
        assert replica != original
        assert {k: v for k, v in replica.items() if k in original} == original


def test_replica_refuses_to_overwrite() -> None:
    with pytest.raises(DataError):
        replica_labels({"__name__": "up", "region": "z"}, (("region", "a"),))


def test_replicas_selector_matches_exactly_the_values() -> None:
    rep = Replication(labels=[ReplicationLabel(name="r", values=["a.b", 'q"x'])])
    sel = replicas_selector(rep)
    assert sel.startswith("{r=~")
    # PromQL string unescape, then the regex must full-match only the two values
    body = sel[len("{r=~") : -1]
    regex = bytes(body[1:-1], "utf-8").decode("unicode_escape")
    assert re.fullmatch(regex, "a.b") and re.fullmatch(regex, 'q"x')
    assert not re.fullmatch(regex, "aXb")
