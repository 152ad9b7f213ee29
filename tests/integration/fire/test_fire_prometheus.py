"""promkit fire with Prometheus 2.42: as the remote-write target (shift, burst; exact
replicas, cleanup through the admin API) and as the source (raw samples by query)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.servers import PrometheusServer, VMServer

pytestmark = pytest.mark.integration

POINTS = 12


def raw_samples(prom: PrometheusServer, selector: str, at: float) -> list[dict[str, Any]]:
    r = httpx.get(f"{prom.url}/api/v1/query", params={"query": f"{selector}[1h]", "time": at})
    r.raise_for_status()
    return sorted(r.json()["data"]["result"], key=lambda row: sorted(row["metric"].items()))


@pytest.mark.parametrize(
    ("mode", "spacing"), [("shift", 10_000), ("burst", 1), ("original", 10_000)]
)
def test_fire_into_prometheus_and_cleanup(
    mode: str,
    spacing: int,
    vm: VMServer,
    prometheus: PrometheusServer,
    metric: str,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
) -> None:
    site = f"fire_site_{metric[-6:]}"  # Prometheus lists deleted series until compaction
    end = int(time.time() * 1000) - 60_000
    stamps = [end - (POINTS - 1 - i) * 10_000 for i in range(POINTS)]
    vm.seed(metric, {"instance": "a"}, [float(i) * 1.5 for i in range(POINTS)], stamps)
    cfg = {
        "source": {"url": vm.url},
        "target": {"url": prometheus.remote_write_url},
        "selection": {"match": [f'{{__name__="{metric}"}}'], "window": "10m"},
        "replication": {"labels": [{"name": site, "values": ["x", "y", "z"]}]},
        "send": {"batch_samples": 5, "concurrency": 3},
        "timestamps": {"mode": mode},
    }
    path = write_config(cfg)
    before = time.time()
    result = fire_cli("run", "-c", str(path), "-q", "--json")
    after = time.time()
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["sent"]["samples"] == 3 * POINTS and report["sent"]["failures_by_status"] == {}

    rows = raw_samples(prometheus, f'{{__name__="{metric}"}}', after)
    assert [r["metric"][site] for r in rows] == ["x", "y", "z"]
    for row in rows:
        assert row["metric"] == {
            "__name__": metric,
            "instance": "a",
            site: row["metric"][site],
        }
        ts = [round(float(t) * 1000) for t, _ in row["values"]]
        assert len(ts) == POINTS
        assert max(ts) <= after * 1000
        if mode == "original":
            assert ts == stamps
        else:
            assert before * 1000 <= max(ts)
        assert [b - a for a, b in itertools.pairwise(ts)] == [spacing] * (POINTS - 1)
        assert [float(v) for _, v in row["values"]] == [float(i) * 1.5 for i in range(POINTS)]

    done = fire_cli("cleanup", "-c", str(path), "--yes")
    assert done.exit_code == 0, done.stderr
    assert "deleted 3 series" in done.stdout
    assert raw_samples(prometheus, f'{{__name__="{metric}"}}', time.time()) == []


def test_fire_reads_prometheus_raw_samples(
    vm: VMServer,
    prometheus: PrometheusServer,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
) -> None:
    prometheus.wait_for('prometheus_build_info{job="prometheus"}')
    time.sleep(5)  # a few self-scrapes
    end = time.time() - 3  # scrapes stamped before end have been appended by now
    start = end - 4
    rep = f"fire_src_prom_{int(end)}"
    cfg = {
        "source": {"url": prometheus.url},
        "target": {"url": f"{vm.url}/api/v1/write"},
        "selection": {"match": ['{__name__="prometheus_build_info"}'], "start": start, "end": end},
        "replication": {"labels": [{"name": "fire_from_prom", "values": [rep]}]},
        "timestamps": {"mode": "original"},
    }
    path = write_config(cfg)
    plan = fire_cli("plan", "-c", str(path), "--json")
    assert plan.exit_code == 0, plan.stderr
    result = fire_cli("run", "-c", str(path), "-q", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    expected = raw_samples(prometheus, '{__name__="prometheus_build_info"}', end)
    want_ts = [round(float(t) * 1000) for t, _ in expected[0]["values"] if float(t) > start]
    assert want_ts  # the query window holds some scrapes
    assert json.loads(plan.stdout)["source_samples"] == len(want_ts)
    assert json.loads(result.stdout)["sent"]["samples"] == len(want_ts)
    vm.flush()
    rows = vm.export(f'{{fire_from_prom="{rep}"}}', start="0", end=str(int(time.time()) + 60))
    assert len(rows) == 1
    assert rows[0]["metric"]["__name__"] == "prometheus_build_info"
    assert rows[0]["timestamps"] == want_ts
    assert rows[0]["values"] == [1] * len(want_ts)


def test_fire_realtime_into_prometheus(
    vm: VMServer,
    prometheus: PrometheusServer,
    metric: str,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
) -> None:
    end = int(time.time() * 1000) - 60_000
    vm.seed(metric, {"instance": "a"}, [7.0, 8.0, 9.0], [end - 2000, end - 1000, end])
    cfg = {
        "source": {"url": vm.url},
        "target": {"url": prometheus.remote_write_url},
        "selection": {"match": [f'{{__name__="{metric}"}}'], "window": "10m"},
        "replication": {"labels": [{"name": f"fire_rt_{metric[-6:]}", "values": ["1", "2"]}]},
        "timestamps": {"mode": "realtime", "duration": "3s"},
    }
    before = time.time()
    result = fire_cli("run", "-c", str(write_config(cfg)), "-q", "--json")
    after = time.time()
    assert result.exit_code == 0, result.stdout + result.stderr
    rows = raw_samples(prometheus, f'{{__name__="{metric}"}}', after)
    assert len(rows) == 2
    for row in rows:
        ts = [round(float(t) * 1000) for t, _ in row["values"]]
        assert len(ts) == 3 and all(before * 1000 <= t <= after * 1000 for t in ts)
        assert [b - a for a, b in itertools.pairwise(ts)] == [1000, 1000]
        assert [float(v) for _, v in row["values"]] == [7.0, 8.0, 9.0]
