"""promkit fire against a real VictoriaMetrics: exact replicas, timestamp modes, re-runs,
plan, cleanup, retries through a fault proxy, no retry on 400, the rate limit."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.servers import VMServer

pytestmark = pytest.mark.integration

STEP_MS = 15_000
POINTS = 20
LABELS = [
    {"name": "fire_region", "values": ["eu", "us"]},
    {"name": "fire_copy", "values": ["1", "2", "3"]},
]


def seed(vm: VMServer, metric: str, *, end_ms: int | None = None) -> tuple[list[int], int]:
    """Two series of ``metric`` with POINTS samples STEP_MS apart, ending a minute ago."""
    end = end_ms or int(time.time() * 1000) - 60_000
    stamps = [end - (POINTS - 1 - i) * STEP_MS for i in range(POINTS)]
    for inst in ("a", "b"):
        vm.seed(metric, {"instance": inst}, [float(i) for i in range(POINTS)], stamps)
    return stamps, end


def config(vm_url: str, metric: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "source": {"url": vm_url},
        "target": {"url": f"{vm_url}/api/v1/write"},
        "selection": {"match": [f'{{__name__="{metric}"}}'], "window": "30m"},
        "replication": {"labels": LABELS},
        "send": {
            "batch_samples": 50,
            "concurrency": 2,
            "backoff_min": "10ms",
            "backoff_max": "50ms",
        },
    }
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return cfg


def replicas(vm: VMServer, metric: str) -> list[dict[str, Any]]:
    vm.flush()
    rows = vm.export(
        f'{{__name__="{metric}",fire_region!=""}}', start="0", end=str(int(time.time()) + 60)
    )
    return sorted(rows, key=lambda r: sorted(r["metric"].items()))


@pytest.mark.parametrize("mode", ["shift", "original", "burst"])
def test_fire_run_writes_exact_replicas(
    vm: VMServer,
    metric: str,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
    mode: str,
    tmp_path: Path,
) -> None:
    stamps, _ = seed(vm, metric)
    path = write_config(config(vm.url, metric, timestamps={"mode": mode}))
    report_path = tmp_path / "report.json"
    before = int(time.time() * 1000)
    result = fire_cli("run", "-c", str(path), "-q", "--report", str(report_path))
    after = int(time.time() * 1000)
    assert result.exit_code == 0, result.stdout + result.stderr

    rows = replicas(vm, metric)
    assert len(rows) == 2 * 6
    combos = {(r["metric"]["fire_region"], r["metric"]["fire_copy"]) for r in rows}
    assert combos == {(a, b) for a in ("eu", "us") for b in ("1", "2", "3")}
    for row in rows:
        assert set(row["metric"]) == {"__name__", "instance", "fire_region", "fire_copy"}
        assert row["values"] == [float(i) for i in range(POINTS)]
        ts = row["timestamps"]
        assert len(ts) == POINTS
        assert max(ts) <= after
        if mode == "original":
            assert ts == stamps
        elif mode == "shift":
            assert [b - a for a, b in itertools.pairwise(ts)] == [STEP_MS] * (POINTS - 1)
            assert before <= ts[-1] <= after
        else:
            assert [b - a for a, b in itertools.pairwise(ts)] == [1] * (POINTS - 1)
            assert before <= ts[-1] <= after

    report = json.loads(report_path.read_text())
    assert report["sent"]["samples"] == 2 * 6 * POINTS
    assert report["sent"]["series"] == 12
    assert report["selection"]["selected_series"] == 2
    assert report["sent"]["failures_by_status"] == {}
    assert report["latency_ms"]["p50"] is not None
    assert "12 series sent" in result.stdout


def test_fire_rerun_creates_no_extra_series(
    vm: VMServer, metric: str, write_config: Callable[..., Path], fire_cli: Callable[..., Any]
) -> None:
    seed(vm, metric)
    path = write_config(config(vm.url, metric, timestamps={"mode": "original"}))
    assert fire_cli("run", "-c", str(path), "-q").exit_code == 0
    vm.flush()
    second = fire_cli("run", "-c", str(path), "-q", "--json")
    assert second.exit_code == 0
    report = json.loads(second.stdout)
    assert report["selection"]["skipped"] == {"already_replica": 12}
    assert report["selection"]["selected_series"] == 2
    vm.flush()
    all_series = vm.export(f'{{__name__="{metric}"}}', start="0", end=str(int(time.time()) + 60))
    assert len(all_series) == 2 + 12


def test_fire_plan_matches_run(
    vm: VMServer, metric: str, write_config: Callable[..., Path], fire_cli: Callable[..., Any]
) -> None:
    seed(vm, metric)
    path = write_config(
        config(vm.url, metric, replication={"factor": 4}, rate={"samples_per_second": 1000})
    )
    result = fire_cli("plan", "-c", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["selected_series"] == 2
    assert plan["replicas_per_series"] == 4
    assert plan["source_samples"] == 2 * POINTS
    assert plan["samples_out"] == 2 * 4 * POINTS
    assert plan["series_out"] == 8
    assert plan["duration_seconds"] == pytest.approx(0.16)
    dry = fire_cli("run", "-c", str(path), "--dry-run", "--json")  # PromFire's -dry-run
    assert dry.exit_code == 0 and json.loads(dry.stdout) == plan
    assert replicas(vm, metric) == []  # neither writes anything


def test_fire_cleanup_deletes_only_replicas(
    vm: VMServer, metric: str, write_config: Callable[..., Path], fire_cli: Callable[..., Any]
) -> None:
    seed(vm, metric)
    cfg = config(vm.url, metric, timestamps={"mode": "original"})
    cfg["replication"] = {"labels": [{"name": f"fire_c_{metric[-6:]}", "values": ["x", "y"]}]}
    path = write_config(cfg)
    assert fire_cli("run", "-c", str(path), "-q").exit_code == 0
    vm.flush()
    dry = fire_cli("cleanup", "-c", str(path), "--dry-run")
    assert dry.exit_code == 0 and dry.stdout.startswith("4 series match")
    refused = fire_cli("cleanup", "-c", str(path))  # not a TTY and no --yes
    assert refused.exit_code == 2
    done = fire_cli("cleanup", "-c", str(path), "--yes")
    assert done.exit_code == 0, done.stderr
    assert "deleted 4 series" in done.stdout and "0 remain" in done.stdout
    left = vm.export(f'{{__name__="{metric}"}}', start="0", end=str(int(time.time()) + 60))
    assert sorted(r["metric"]["instance"] for r in left) == ["a", "b"]
    assert all(set(r["metric"]) == {"__name__", "instance"} for r in left)


@pytest.mark.parametrize("status", [503, 429])
def test_fire_retries_transient_failures(
    vm: VMServer,
    metric: str,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
    fault_proxy: Callable[..., Any],
    status: int,
) -> None:
    seed(vm, metric)
    proxy = fault_proxy(f"{vm.url}/api/v1/write", [status, status, status])
    cfg = config(vm.url, metric, timestamps={"mode": "original"})
    cfg["target"] = {"url": proxy.url}
    path = write_config(cfg)
    result = fire_cli("run", "-c", str(path), "-q", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["sent"]["retries"] == 3
    assert report["sent"]["samples"] == 2 * 6 * POINTS
    assert report["sent"]["samples_failed"] == 0
    assert proxy.seen.count(status) == 3
    assert len(replicas(vm, metric)) == 12


def test_fire_does_not_retry_400_and_exits_nonzero(
    vm: VMServer,
    metric: str,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
    fault_proxy: Callable[..., Any],
) -> None:
    seed(vm, metric)
    proxy = fault_proxy(f"{vm.url}/api/v1/write", always=400, body=b"out of order sample")
    cfg = config(vm.url, metric, timestamps={"mode": "original"})
    cfg["target"] = {"url": proxy.url}
    path = write_config(cfg)
    result = fire_cli("run", "-c", str(path), "-q")
    assert result.exit_code == 6
    assert "every one of 240 samples failed" in result.stderr
    assert "out of order sample" in result.stdout  # the server's reason, in the summary
    requests = len(proxy.seen)
    assert requests == proxy.seen.count(400)
    assert "0 retries" in result.stdout


def test_fire_failure_ratio_threshold(
    vm: VMServer,
    metric: str,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
    fault_proxy: Callable[..., Any],
) -> None:
    seed(vm, metric)
    proxy = fault_proxy(f"{vm.url}/api/v1/write", [400])  # first request only
    cfg = config(vm.url, metric, timestamps={"mode": "original"}, send={"concurrency": 1})
    cfg["target"] = {"url": proxy.url}
    strict = fire_cli("run", "-c", str(write_config(cfg)), "-q")
    assert strict.exit_code == 6 and "above report.max_failure_ratio" in strict.stderr
    proxy.script.append(400)
    cfg["report"] = {"max_failure_ratio": 0.5}
    tolerant = fire_cli("run", "-c", str(write_config(cfg)), "-q")
    assert tolerant.exit_code == 0, tolerant.stderr


def test_fire_realtime_replays_at_cadence(
    vm: VMServer, metric: str, write_config: Callable[..., Path], fire_cli: Callable[..., Any]
) -> None:
    end = int(time.time() * 1000) - 60_000
    stamps = [end - (9 - i) * 1000 for i in range(10)]  # 1 s cadence
    vm.seed(metric, {"instance": "a"}, [float(i) for i in range(10)], stamps)
    cfg = config(vm.url, metric, timestamps={"mode": "realtime", "duration": "3s"})
    cfg["replication"] = {"factor": 2}
    before = int(time.time() * 1000)
    result = fire_cli("run", "-c", str(write_config(cfg)), "-q", "--json")
    after = int(time.time() * 1000)
    assert result.exit_code == 0, result.stderr
    vm.flush()
    rows = vm.export(
        f'{{__name__="{metric}",benchmark_replica!=""}}', start="0", end=str(int(time.time()) + 60)
    )
    assert sorted(r["metric"]["benchmark_replica"] for r in rows) == ["replica-0", "replica-1"]
    for row in rows:
        ts = row["timestamps"]
        assert len(ts) == 3
        assert all(before <= t <= after for t in ts)
        assert [b - a for a, b in itertools.pairwise(ts)] == [1000, 1000]
        assert row["values"] == [0.0, 1.0, 2.0]


def test_fire_rate_limit_is_never_exceeded(
    vm: VMServer, metric: str, write_config: Callable[..., Path], fire_cli: Callable[..., Any]
) -> None:
    seed(vm, metric)
    cfg = config(vm.url, metric, timestamps={"mode": "original"}, rate={"samples_per_second": 400})
    result = fire_cli("run", "-c", str(write_config(cfg)), "-q", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sent"]["samples"] == 240
    assert report["achieved_samples_per_second"] <= 400 * 1.02
    assert report["rate_limited_seconds"] > 0


def test_fire_shards_split_the_load(
    vm: VMServer, metric: str, write_config: Callable[..., Path], fire_cli: Callable[..., Any]
) -> None:
    end = int(time.time() * 1000) - 60_000
    for i in range(20):
        vm.seed(metric, {"instance": f"i{i}"}, [1.0], [end])
    cfg = config(vm.url, metric, timestamps={"mode": "original"})
    cfg["replication"] = {"factor": 1}
    path = write_config(cfg)
    selected = []
    for shard in ("0/2", "1/2"):
        out = fire_cli("run", "-c", str(path), "-q", "--json", "--shard", shard)
        assert out.exit_code == 0, out.stderr
        selected.append(json.loads(out.stdout)["selection"]["selected_series"])
    assert sum(selected) == 20 and all(n > 0 for n in selected)
    vm.flush()
    rows = vm.export(
        f'{{__name__="{metric}",benchmark_replica="replica-0"}}',
        start="0",
        end=str(int(time.time()) + 60),
    )
    assert len(rows) == 20


def test_fire_no_series_is_a_clear_error(
    vm: VMServer, write_config: Callable[..., Path], fire_cli: Callable[..., Any]
) -> None:
    path = write_config(config(vm.url, "fire_nothing_here_at_all"))
    result = fire_cli("run", "-c", str(path), "-q")
    assert result.exit_code == 5
    assert "no series to replicate" in result.stderr


def test_fire_runs_a_promfire_config(
    vm_factory: Callable[..., VMServer],
    metric: str,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
) -> None:
    vm = vm_factory()  # PromFire has no selectors: it replicates everything, so a private VM
    seed(vm, metric)
    vm.seed(f"{metric}_up_excluded", {"instance": "a"}, [1.0], [int(time.time() * 1000) - 60_000])
    path = write_config(
        {
            "prometheus": {"query_url": vm.url, "remote_write_url": f"{vm.url}/api/v1/write"},
            "benchmark": {"replication_factor": 2, "query_range_hours": 0.5, "batch_size": 100},
            "exclude_metrics": ["_up_"],  # unanchored, as in PromFire
            "log_level": "WARN",
        }
    )
    result = fire_cli("run", "-c", str(path), "-q", "--json", "--mode", "original")
    assert result.exit_code == 0, result.stderr
    vm.flush()
    rows = vm.export(
        f'{{__name__=~"{metric}.*",benchmark_replica!=""}}',
        start="0",
        end=str(int(time.time()) + 60),
    )
    assert sorted((r["metric"]["instance"], r["metric"]["benchmark_replica"]) for r in rows) == [
        ("a", "replica-0"), ("a", "replica-1"), ("b", "replica-0"), ("b", "replica-1"),
    ]  # fmt: skip
    assert all(r["metric"]["__name__"] == metric for r in rows)
