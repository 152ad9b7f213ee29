"""Ingestion rules in isolation: values, labels, type semantics (no app, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from promkit.tracker.catalog import Definition
from promkit.tracker.ingestion import ItemRefused, Limits, parse_value, to_op
from promkit.tracker.store import ADD, OBSERVE, SET

LIMITS = Limits(max_label_value_length=8)


def definition(mtype: str, *labels: tuple[str, str | None], status: str = "active") -> Definition:
    buckets = (1.0, 10.0) if mtype == "histogram" else None
    return Definition("m", mtype, status, tuple(labels), buckets, None)


@pytest.mark.parametrize(
    ("raw", "value"), [(1, 1.0), (2.5, 2.5), ("3", 3.0), (" -4.5e1 ", -45.0), (0, 0.0)]
)
def test_parse_value_accepts_numbers(raw: Any, value: float) -> None:
    assert parse_value(raw) == value


@pytest.mark.parametrize("raw", ["12abc", "", "NaN", "Infinity", float("nan"), True, None, [1]])
def test_parse_value_refuses_junk(raw: Any) -> None:
    with pytest.raises(ItemRefused):
        parse_value(raw)


@pytest.mark.parametrize(
    ("mtype", "item", "kind", "value"),
    [
        ("counter", {"value": 2}, ADD, 2.0),
        ("counter", {"value": 0}, ADD, 0.0),
        ("gauge", {"value": 5}, SET, 5.0),
        ("gauge", {"value": 5, "operation": "inc"}, ADD, 5.0),
        ("gauge", {"value": 5, "operation": "dec"}, ADD, -5.0),
        ("gauge", {"value": -3}, SET, -3.0),
        ("histogram", {"value": 7}, OBSERVE, 7.0),
        ("summary", {"value": 7, "operation": "observe"}, OBSERVE, 7.0),
    ],
)
def test_to_op_type_semantics(mtype: str, item: dict[str, Any], kind: int, value: float) -> None:
    op = to_op(1, {"name": "m", **item}, {"m": definition(mtype)}, LIMITS)
    assert (op[0], op[2]) == (kind, value)
    assert op[1][:3] == (1, "m", mtype)
    assert op[3] == ((1.0, 10.0) if mtype == "histogram" else None)


@pytest.mark.parametrize(
    ("mtype", "item", "reason"),
    [
        ("counter", {"value": -1}, ">= 0"),
        ("counter", {"value": 1, "operation": "set"}, "only supports"),
        ("gauge", {"value": 1, "operation": "observe"}, "set, inc or dec"),
        ("histogram", {"value": 1, "operation": "inc"}, "only supports"),
        ("counter", {"value": 1, "type": "gauge"}, "is a counter"),
    ],
)
def test_to_op_refuses_wrong_semantics(mtype: str, item: dict[str, Any], reason: str) -> None:
    with pytest.raises(ItemRefused, match=reason):
        to_op(1, {"name": "m", **item}, {"m": definition(mtype)}, LIMITS)


def test_to_op_refuses_undefined_and_paused_metrics() -> None:
    with pytest.raises(ItemRefused, match="not defined"):
        to_op(1, {"name": "other", "value": 1}, {"m": definition("counter")}, LIMITS)
    paused = {"m": definition("counter", status="paused")}
    with pytest.raises(ItemRefused, match="paused"):
        to_op(1, {"name": "m", "value": 1}, paused, LIMITS)


def test_to_op_labels_are_checked_defaulted_and_sorted() -> None:
    defs = {"m": definition("counter", ("page", None), ("env", "prod"), ("blank", ""))}
    op = to_op(1, {"name": "m", "value": 1, "labels": {"page": "/a"}}, defs, LIMITS)
    assert op[1][3] == (("env", "prod"), ("page", "/a"))
    op = to_op(1, {"name": "m", "value": 1, "labels": {"env": "dev", "page": 3}}, defs, LIMITS)
    assert op[1][3] == (("env", "dev"), ("page", "3"))
    assert to_op(1, {"name": "m", "value": 1}, defs, LIMITS)[1][3] == (("env", "prod"),)
    for labels, reason in (
        ({"user_id": "2"}, "not defined"),
        ({"page": "x" * 9}, "longer than 8"),
        ({"page": {"nested": 1}}, "string or a number"),
        (["page"], "object"),
    ):
        with pytest.raises(ItemRefused, match=reason):
            to_op(1, {"name": "m", "value": 1, "labels": labels}, defs, LIMITS)


def test_to_op_same_labels_in_any_order_are_one_series() -> None:
    defs = {"m": definition("counter", ("a", None), ("b", None))}
    one = to_op(1, {"name": "m", "value": 1, "labels": {"a": "1", "b": "2"}}, defs, LIMITS)
    two = to_op(1, {"name": "m", "value": 1, "labels": {"b": "2", "a": "1"}}, defs, LIMITS)
    assert one[1] == two[1]


def test_resolved_label_cache_gives_the_uncached_answer() -> None:
    """The per-definition cache of resolved label sets never changes an answer."""
    defs = {"m": definition("counter", ("page", None), ("env", "prod"))}

    def labels_of(raw: Any) -> Any:
        return to_op(1, {"name": "m", "value": 1, "labels": raw}, defs, LIMITS)[1][3]

    for _ in range(2):  # second time from the cache
        assert labels_of({"page": "1"}) == (("env", "prod"), ("page", "1"))
        assert labels_of({"page": ""}) == (("env", "prod"),)
    # 1 == True == 1.0 as dict keys: non-string values are never cached, so no mix-ups.
    assert labels_of({"page": 1}) == (("env", "prod"), ("page", "1"))
    assert labels_of({"page": True}) == (("env", "prod"), ("page", "true"))
    assert labels_of({"page": 1.0}) == (("env", "prod"), ("page", "1.0"))
    assert labels_of({"page": "1"}) == (("env", "prod"), ("page", "1"))
    for bad, reason in (({"page": "x" * 9}, "longer than 8"), ({"page": [1]}, "string or")):
        with pytest.raises(ItemRefused, match=reason):
            labels_of(bad)
    assert len(defs["m"].resolved) == 2


def test_resolved_label_cache_is_bounded() -> None:
    defs = {"m": definition("counter", ("page", None))}
    for i in range(3000):
        to_op(1, {"name": "m", "value": 1, "labels": {"page": str(i)}}, defs, LIMITS)
    assert 0 < len(defs["m"].resolved) <= 1024
