"""Discovery and selections against a real VictoriaMetrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promkit.bundle.discovery import (
    build_match,
    discover_components,
    discover_jobs,
    fold_job_filter,
)
from promkit.bundle.export import ExportSpec, LocalContext, run_export
from promkit.core.connection import Connection
from promkit.core.errors import UsageError
from promkit.core.tsdb import TSDBClient
from support.servers import PrometheusServer, VMServer

pytestmark = pytest.mark.integration

MIN = 60_000
END = (int(time.time() * 1000) - 3600_000) // MIN * MIN
START = END - 30 * MIN


@pytest.fixture
def client(vm: VMServer) -> Iterator[TSDBClient]:
    with TSDBClient(Connection.from_url(vm.url)) as c:
        yield c


def _line(name: str, labels: dict[str, str], n: int = 5) -> dict[str, object]:
    stamps = [END - i * MIN for i in range(n)]
    return {"metric": {"__name__": name, **labels}, "values": [1] * n, "timestamps": stamps}


def test_components_from_version_name_and_flags(vm: VMServer, client: TSDBClient) -> None:
    lines: list[dict[str, object]] = []
    # job -> (instances, flags, version) ; VictoriaMetrics 1.79 stores no empty version label
    layout: dict[str, tuple[list[str], list[str], str]] = {
        "h7d-store": (["10.0.0.1:8482", "10.0.0.2:8482"], ["vmselectAddr", "storageDataPath"], ""),
        "h7d-sel": (["10.0.1.1:8481"], ["storageNode", "search.maxQueryDuration"], ""),
        "h7d-ins": (["10.0.2.1:8480"], ["storageNode"], ""),
        "h7d-vmagent.x": (["10.0.3.1:8429"], [], ""),
        "h7d-thing": (["10.0.4.1:8880"], [], "vmalert-20231212-v1.93.0"),
        "h7d-single": (["self"], ["storageDataPath"], ""),
        "h7d-odd|job": (["10.0.5.1:1"], [], ""),
    }
    for job, (instances, flags, version) in layout.items():
        for inst in instances:
            labels = {"job": job, "instance": inst}
            lines.append(
                _line("vm_app_version", labels | ({"version": version} if version else {}))
            )
            lines += [_line("flag", labels | {"name": f, "value": "x"}) for f in flags]
            lines.append(_line("h7d_series", labels | {"k": "1"}))
            lines.append(_line("h7d_series", labels | {"k": "2"}))
    vm.import_lines(lines)
    found = {
        j.job: (c.component, j.instances, j.series_estimate)
        for c in discover_components(client, START, END)
        for j in c.jobs
        if j.job.startswith("h7d-")
    }
    assert found == {
        "h7d-store": ("vmstorage", 2, 2 * (1 + 2 + 2)),
        "h7d-sel": ("vmselect", 1, 1 + 2 + 2),
        "h7d-ins": ("vminsert", 1, 1 + 1 + 2),
        "h7d-vmagent.x": ("vmagent", 1, 1 + 2),
        "h7d-thing": ("vmalert", 1, 1 + 2),
        "h7d-single": ("vmsingle", 1, 1 + 1 + 2),
        "h7d-odd|job": ("service", 1, 1 + 2),
    }


def test_discovery_outside_the_range_finds_nothing(client: TSDBClient) -> None:
    assert discover_components(client, END - 400 * 86_400_000, END - 399 * 86_400_000) == []


def test_single_node_self_scrape_is_vmsingle_despite_empty_version(
    vm_factory: Callable[..., VMServer],
) -> None:
    server = vm_factory("-selfScrapeInterval=1s")
    with TSDBClient(Connection.from_url(server.url)) as c:
        deadline = time.monotonic() + 30
        comps = []
        while time.monotonic() < deadline and not comps:
            time.sleep(1)
            server.flush()
            now = int(time.time() * 1000)
            comps = discover_components(c, now - 5 * MIN, now)
    assert [(x.component, [j.job for j in x.jobs]) for x in comps] == [
        ("vmsingle", ["victoria-metrics"])
    ]
    assert comps[0].jobs[0].instances == 1
    assert (comps[0].jobs[0].series_estimate or 0) > 100


def test_discover_jobs_of_a_selector(vm: VMServer, client: TSDBClient) -> None:
    vm.import_lines(
        [
            _line("h7d_sel_metric", {"job": "a.b", "instance": "i1:1"}),
            _line("h7d_sel_metric", {"job": "a.b", "instance": "i2:1"}),
            _line("h7d_sel_metric", {"job": "x+y", "instance": "i3:1"}),
        ]
    )
    jobs = discover_jobs(client, START, END, "h7d_sel_metric")
    assert [(j.job, j.instances, j.series_estimate) for j in jobs] == [
        ("a.b", 2, 2),
        ("x+y", 1, 1),
    ]


@pytest.mark.parametrize(
    ("sel", "expected"),
    [
        ("up", 'up{job=~"a\\\\.b|c"}'),
        ('up{x="1"}', 'up{x="1",job=~"a\\\\.b|c"}'),
        ('{__name__="up", x="}{"}', '{__name__="up", x="}{",job=~"a\\\\.b|c"}'),
        ("{ }", '{job=~"a\\\\.b|c"}'),
    ],
)
def test_fold_job_filter_text(sel: str, expected: str) -> None:
    assert fold_job_filter(sel, ["a.b", "c"]) == expected


@pytest.mark.parametrize("sel", ["rate(up[5m])", 'up{a="1" or b="2"}', "up{a='1'} + 1", ""])
def test_fold_job_filter_refuses_non_selectors(sel: str) -> None:
    with pytest.raises(UsageError):
        fold_job_filter(sel, ["a"])


def test_build_match_refuses_empty_selections() -> None:
    with pytest.raises(UsageError):
        build_match("cluster", [])
    with pytest.raises(UsageError):
        build_match("selector", [], "  ")
    with pytest.raises(UsageError):
        build_match("query", ["a"], None, "up")
    with pytest.raises(UsageError):
        build_match("everything", [])


def test_folded_selector_with_tricky_values_is_accepted_by_vm(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    vm.import_lines(
        [
            _line("h7d_fold", {"job": "j.1", "tag": 'a}b"c'}),
            _line("h7d_fold", {"job": "jX1", "tag": 'a}b"c'}),
            _line("h7d_fold", {"job": "j(2)", "tag": "other"}),
        ]
    )
    spec = ExportSpec(
        mode="selector",
        selector='{__name__="h7d_fold", tag=~"a}b\\"c|other"}',
        jobs=["j.1", "j(2)"],
        start_ms=START,
        end_ms=END,
    )
    res = run_export(client, spec, LocalContext(tmp_path / "st"), output_dir=tmp_path / "o")
    assert res.counts.series == 2


def test_discover_jobs_on_prometheus_uses_up_and_a_plain_range(
    prometheus: PrometheusServer,
) -> None:
    prometheus.wait_for("up")
    time.sleep(2)  # subquery points are whole steps: let one pass after the first scrape
    now = int(time.time() * 1000)
    with TSDBClient(Connection.from_url(prometheus.url)) as c:
        jobs = discover_jobs(c, now - 5 * MIN, now)
        assert [(j.job, j.instances) for j in jobs] == [("prometheus", 1)]
        # an expression (not a selector) goes through a subquery
        expr = discover_jobs(c, now - 5 * MIN, now, "up == 1")
        assert [j.job for j in expr] == ["prometheus"]
