"""User-scoped chart queries: built on the server, escaped, one user's series only."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from promkit.core.connection import Connection
from promkit.core.errors import DataError, UsageError
from promkit.tracker.web.grafana import dashboard, datasource
from promkit.tracker.web.history import HistorySource, sample_name, user_query


@pytest.mark.parametrize(
    ("mtype", "expected"),
    [
        ("counter", "user_metric_page_views_total"),
        ("gauge", "user_metric_page_views"),
        ("histogram", "user_hist_page_views_count"),
        ("summary", "user_summ_page_views_count"),
    ],
)
def test_web_history_sample_name_follows_the_exposition(mtype: str, expected: str) -> None:
    assert sample_name(mtype, "page_views") == expected


def test_web_history_query_is_scoped_to_the_user() -> None:
    assert (
        user_query("counter", "page_views", 42) == 'sum(user_metric_page_views_total{user_id="42"})'
    )


@pytest.mark.parametrize("bad", ['x"} or {user_id=~".*', "a b", "1abc", ""])
def test_web_history_query_refuses_names_that_are_not_metric_names(bad: str) -> None:
    with pytest.raises(UsageError):
        user_query("counter", bad, 1)


def _source(seen: list[dict[str, Any]], result: list[dict[str, Any]]) -> HistorySource:
    def handler(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        seen.append({"path": request.url.path, **form})
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return httpx.Response(200, content=orjson.dumps(body))

    return HistorySource(Connection.from_url("http://vm:8428"), httpx.MockTransport(handler))


def test_web_history_fetch_asks_for_the_range_and_returns_points() -> None:
    seen: list[dict[str, Any]] = []
    values = [[1000.0, "1"], [1015.0, "3"], [1030.0, "NaN"], [1045.0, "bogus"]]
    source = _source(seen, [{"metric": {}, "values": values}])
    history = source.fetch("gauge", "temp", 7, "1h", now=4600.0)
    assert seen[0]["path"] == "/api/v1/query_range"
    assert seen[0]["query"] == 'sum(user_metric_temp{user_id="7"})'
    assert (float(seen[0]["start"]), float(seen[0]["end"]), float(seen[0]["step"])) == (
        1000.0,
        4600.0,
        15.0,
    )
    assert [(p.t, p.v) for p in history.points] == [(1000.0, 1.0), (1015.0, 3.0)]
    assert history.current == 3.0
    assert history.source == "tsdb" and history.range == "1h"


def test_web_history_fetch_without_data_has_no_current_value() -> None:
    history = _source([], []).fetch("counter", "x", 1, "7d", now=1e6)
    assert history.points == [] and history.current is None and history.step == 2520


def test_web_history_unknown_range_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="unknown range"):
        _source([], []).fetch("counter", "x", 1, "1y")


def test_web_grafana_export_uses_the_user_scoped_queries() -> None:
    model = dashboard(5, [("Views", "counter", "page_views"), ("Temp", "gauge", "temp")])
    exprs = [p["targets"][0]["expr"] for p in model["panels"]]
    assert exprs == [
        'sum(user_metric_page_views_total{user_id="5"})',
        'sum(user_metric_temp{user_id="5"})',
    ]
    assert model["uid"] == "promkit-user-5" and "dashboard" not in model
    assert datasource(None)["datasources"][0]["type"] == "prometheus"
