"""--processes: child shards compose with --shard; reports merge without double counting."""

from __future__ import annotations

from typing import Any

from promkit.fire.parallel import child_shards, merge_reports
from promkit.fire.selection import Shard


def test_child_shards_compose_with_outer_shard() -> None:
    assert child_shards(2, None) == ["0/2", "1/2"]
    assert child_shards(3, Shard(1, 2)) == ["3/6", "4/6", "5/6"]


def report(
    selected: int, samples: int, failed: int, p50: float, p99: float, window: list[float]
) -> dict[str, Any]:
    return {
        "report_version": 1,
        "target": "t",
        "shard": "0/2",
        "mode": "shift",
        "interrupted": False,
        "selection": {
            "discovered_series": 12,
            "selected_series": selected,
            "selected_metrics": 1,
            "skipped": {"already_replica": 2, "other_shard": 10 - selected},
            "missing_series": 0,
        },
        "replicas_per_series": 2,
        "source": {
            "series_read": selected,
            "samples_read": selected * 3,
            "bad_lines": 0,
            "dropped_future_samples": 0,
        },
        "sent": {
            "series": selected * 2,
            "series_parts": selected * 2,
            "samples": samples,
            "samples_failed": failed,
            "requests": 3,
            "requests_ok": 2,
            "requests_failed": 1 if failed else 0,
            "retries": 1,
            "bytes": 100,
            "failures_by_status": {"400": 1} if failed else {},
            "failure_messages": {"400": "bad"} if failed else {},
            "failure_ratio": 0.0,
        },
        "achieved_samples_per_second": 1000.0,
        "overall_samples_per_second": 900.0,
        "rate_limit_samples_per_second": 500.0,
        "rate_limited_seconds": 1.0,
        "latency_ms": {"p50": p50, "p99": p99},
        "elapsed_seconds": 2.0,
        "send_seconds": 1.5,
        "send_window_unix": window,
        "source_error": None,
        "warnings": [],
    }


def test_merge_sums_work_and_takes_selection_once() -> None:
    merged = merge_reports(
        [report(4, 24, 0, 1.0, 5.0, [100.0, 101.0]), report(6, 30, 6, 3.0, 9.0, [100.5, 102.0])],
        shard=None,
    )
    sel = merged["selection"]
    assert sel["discovered_series"] == 12 and sel["selected_series"] == 10
    assert sel["skipped"] == {"already_replica": 2}  # the shards together cover everything
    assert merged["sent"]["samples"] == 54 and merged["sent"]["samples_failed"] == 6
    assert merged["sent"]["failure_ratio"] == 0.1
    assert merged["sent"]["failures_by_status"] == {"400": 1}
    assert merged["sent"]["series"] == 20
    assert merged["achieved_samples_per_second"] == 27.0  # 54 samples over 100.0..102.0
    assert merged["rate_limit_samples_per_second"] == 1000.0
    assert merged["latency_ms"] == {"p50": 2.0, "p99": 9.0}
    assert merged["processes"] == 2 and merged["shard"] is None
