"""Snippet and tracker.js rendering, exposition names, remote-write conversion."""

from __future__ import annotations

import pytest

from promkit.tracker.catalog import Definition
from promkit.tracker.exposition import family_name
from promkit.tracker.forwarding import Snapshot, to_series
from promkit.tracker.snippet import render_tracker, snippet, wrappers

KEY = "mk_" + "ab" * 32


def test_snippet_is_under_300_bytes_and_escapes_the_url() -> None:
    code = snippet("https://metrics.example.com", KEY, True, False)
    assert len(code.encode()) < 300
    assert len(wrappers(code).html.encode()) < 300
    assert "&a=1&c=0" in code
    hostile = snippet("https://x.example/</script><img>", KEY, True, True)
    assert "</script>" not in hostile


def test_tracker_js_etag_follows_body() -> None:
    d1 = Definition("page_views", "counter", "active", (("page", None),), None, None)
    d2 = Definition("signups", "counter", "active", (), None, None)
    paused = Definition("paused_zz", "gauge", "paused", (), None, None)
    one = render_tracker(KEY, "https://e/api/v1/metrics", [d1, paused], True, True)
    assert b"paused_zz" not in one.body
    assert one == render_tracker(KEY, "https://e/api/v1/metrics", [paused, d1], True, True)
    two = render_tracker(KEY, "https://e/api/v1/metrics", [d1, d2], True, True)
    assert two.etag != one.etag
    assert render_tracker(KEY, "https://e/api/v1/metrics", [d1], False, True).etag != one.etag


@pytest.mark.parametrize(
    ("mtype", "name"),
    [("counter", "user_metric_x"), ("gauge", "user_metric_x"), ("histogram", "user_hist_x"),
     ("summary", "user_summ_x")],
)  # fmt: skip
def test_exposition_family_names(mtype: str, name: str) -> None:
    assert family_name(mtype, "x") == name


def test_forwarding_series_match_the_exposition() -> None:
    snaps = [
        Snapshot(3, "v", "counter", (("page", "/"),), 4.0, 0.0, None, None),
        Snapshot(3, "h", "histogram", (), 60.0, 2.0, (1.0, 1.0, 0.0), (10.0, 100.0)),
    ]
    series = {(s.labels.name, s.labels.get("le")): s.values[0] for s in to_series(snaps, 1000)}
    assert series[("user_metric_v_total", None)] == 4
    assert series[("user_hist_h_bucket", "10.0")] == 1
    assert series[("user_hist_h_bucket", "100.0")] == 2
    assert series[("user_hist_h_bucket", "+Inf")] == 2
    assert series[("user_hist_h_count", None)] == 2
