"""Prometheus naming rules for definitions."""

from __future__ import annotations

import pytest

from promkit.tracker.naming import (
    check_buckets,
    check_label_name,
    check_metric_name,
    metric_name_from_title,
)


@pytest.mark.parametrize("name", ["page_views", "_x", "A1", "x" * 150])
def test_naming_accepts_metric_names(name: str) -> None:
    assert check_metric_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "1x", "a-b", "a:b", "__x", "x_total", "x_bucket", "x_count", "x_sum", "x" * 151]
)
def test_naming_refuses_metric_names(name: str) -> None:
    with pytest.raises(ValueError):
        check_metric_name(name)


@pytest.mark.parametrize("name", ["", "my-label", "__name__", "user_id", "le", "quantile", "9a"])
def test_naming_refuses_label_names(name: str) -> None:
    with pytest.raises(ValueError):
        check_label_name(name)


@pytest.mark.parametrize(
    ("title", "name"),
    [("Page Views", "page_views"), ("  Load--Time (ms) ", "load_time_ms"), ("123", "metric_123"),
     ("Requests total", "requests_value"), ("!!!", "metric")],
)  # fmt: skip
def test_naming_metric_name_from_title(title: str, name: str) -> None:
    assert metric_name_from_title(title) == name
    check_metric_name(name)


@pytest.mark.parametrize("buckets", [[], [2, 1], [1, 1], [1, float("inf")], [float("nan")]])
def test_naming_refuses_bad_buckets(buckets: list[float]) -> None:
    with pytest.raises(ValueError):
        check_buckets(buckets)
