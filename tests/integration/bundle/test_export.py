"""The export pipeline against a real VictoriaMetrics (and Prometheus for the fallback)."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from promkit.bundle.archive import METADATA_NAME, METRICS_NAME, README_NAME
from promkit.bundle.export import ExportSpec, LocalContext, export_runner, run_export
from promkit.bundle.obfuscation import ObfuscationSettings
from promkit.core.connection import Connection
from promkit.core.errors import CanceledError, DataError, UsageError
from promkit.core.jobs import JobManager, JobState
from promkit.core.tsdb import TSDBClient
from support.servers import PrometheusServer, VMServer

pytestmark = pytest.mark.integration

MIN = 60_000
# a fixed, minute-aligned base two hours back: export's default end is "now"
BASE = (int(time.time() * 1000) - 2 * 3600 * 1000) // MIN * MIN


@pytest.fixture
def client(vm: VMServer) -> Iterator[TSDBClient]:
    with TSDBClient(Connection.from_url(vm.url)) as c:
        yield c


def _rows(bundle: str | Path) -> list[dict[str, Any]]:
    with zipfile.ZipFile(bundle) as zf:
        return [orjson.loads(x) for x in zf.read(METRICS_NAME).splitlines()]


def _points(rows: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], list[int]]:
    out: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for row in rows:
        out.setdefault(tuple(sorted(row["metric"].items())), []).extend(row["timestamps"])
    return out


def _seed_every_second(vm: VMServer, metric: str, jobs: list[str], minutes: int = 5) -> None:
    stamps = list(range(BASE, BASE + minutes * MIN + 1, 1000))  # includes every boundary
    vm.import_lines(
        {
            "metric": {"__name__": metric, "job": job, "instance": f"10.0.0.{i + 1}:9100"},
            "values": [float(t % 1000003) for t in stamps],
            "timestamps": stamps,
        }
        for i, job in enumerate(jobs)
    )


def _spec(**kw: Any) -> ExportSpec:
    base: dict[str, Any] = {"start_ms": BASE, "end_ms": BASE + 5 * MIN, "window_ms": 30_000}
    return ExportSpec(**(base | kw))


def test_cluster_mode_regex_metachar_jobs_export_exactly_their_series(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    jobs = ["job.1", "jobX1", "a|b", "a", "b", "x+y", "xxy", "p(q)"]
    _seed_every_second(vm, "h7_meta", jobs, minutes=1)
    wanted = ["job.1", "a|b", "x+y", "p(q)"]
    spec = _spec(mode="cluster", jobs=wanted, end_ms=BASE + MIN)
    res = run_export(client, spec, LocalContext(tmp_path / "st"), output_dir=tmp_path / "out")
    rows = [r for r in _rows(res.bundle_path) if r["metric"]["__name__"] == "h7_meta"]
    assert sorted({r["metric"]["job"] for r in rows}) == sorted(wanted)
    assert res.counts.series == 4
    assert res.counts.samples == 4 * 61


def test_windows_export_every_sample_exactly_once(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    _seed_every_second(vm, "h7_bound", ["bound"], minutes=5)
    spec = _spec(mode="selector", selector='h7_bound{job="bound"}')
    res = run_export(client, spec, LocalContext(tmp_path / "st"), output_dir=tmp_path / "out")
    assert res.windows == 10
    rows = _rows(res.bundle_path)
    assert len(rows) == 10  # one line per series per window
    (stamps,) = _points(rows).values()
    assert len(stamps) == len(set(stamps)) == 5 * 60 + 1
    assert stamps == sorted(stamps)
    assert res.counts.samples == 301 and res.counts.series == 1


def test_selector_mode_folds_the_job_filter(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    _seed_every_second(vm, "h7_sel", ["s.1", "sX1", "s2"], minutes=1)
    spec = _spec(mode="selector", selector="h7_sel", jobs=["s.1", "s2"], end_ms=BASE + MIN)
    res = run_export(client, spec, LocalContext(tmp_path / "st"), output_dir=tmp_path / "out")
    assert sorted({r["metric"]["job"] for r in _rows(res.bundle_path)}) == ["s.1", "s2"]
    meta = orjson.loads(zipfile.ZipFile(res.bundle_path).read(METADATA_NAME))
    assert meta["source_api"] == "export"
    assert meta["query"] == 'h7_sel{job=~"s\\\\.1|s2"}'


def test_query_mode_uses_query_range_without_duplicates(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    _seed_every_second(vm, "h7_q", ["q"], minutes=5)
    spec = _spec(mode="query", query='h7_q{job="q"} * 2', step_ms=10_000)
    res = run_export(client, spec, LocalContext(tmp_path / "st"), output_dir=tmp_path / "out")
    assert res.source_api == "query_range"
    (stamps,) = _points(_rows(res.bundle_path)).values()
    assert stamps == list(range(BASE, BASE + 5 * MIN + 1, 10_000))


def test_empty_selection_is_an_error_never_everything(client: TSDBClient, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        run_export(client, _spec(mode="cluster"), LocalContext(tmp_path), output_dir=tmp_path)
    nothing = _spec(mode="selector", selector='{__name__="h7_nothing_here"}')
    with pytest.raises(DataError):
        run_export(client, nothing, LocalContext(tmp_path / "st"), output_dir=tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())  # no bundle, no partial file


def test_obfuscated_bundle_leaks_no_original_ip_or_job(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    stamps = [BASE + i * 15_000 for i in range(20)]
    originals = {
        "job": "vmstorage-prod-eu",
        "instance": "10.20.30.40:8482",
        "peer": "192.168.77.5:8400",
        "value": "[fd00::77]:8428",
    }
    vm.import_lines(
        [
            {
                "metric": {"__name__": "h7_leak", **originals},
                "values": [1] * 20,
                "timestamps": stamps,
            },
            {
                "metric": {"__name__": "h7_leak", "job": "vmselect-prod-eu", "instance": "self"},
                "values": [2] * 20,
                "timestamps": stamps,
            },
        ]
    )
    settings = ObfuscationSettings(enabled=True, custom_labels=("peer",))
    spec = _spec(
        mode="cluster",
        jobs=["vmstorage-prod-eu", "vmselect-prod-eu"],
        components=["vmstorage", "vmselect"],
        obfuscation=settings,
    )
    mapping = tmp_path / "mapping.json"
    res = run_export(
        client,
        spec,
        LocalContext(tmp_path / "st"),
        output_dir=tmp_path / "out",
        save_mapping=mapping,
    )
    blobs = [Path(res.sha256_path).read_bytes(), Path(res.bundle_path).name.encode()]
    with zipfile.ZipFile(res.bundle_path) as zf:
        blobs += [zf.read(n) for n in (METRICS_NAME, METADATA_NAME, README_NAME)]
    everything = b"\n".join(blobs)
    for secret in [
        "vmstorage-prod-eu",
        "vmselect-prod-eu",
        "10.20.30.40",
        "192.168.77.5",
        "fd00::77",
        "prod",
        '"self"',
    ]:
        assert secret.encode() not in everything, secret
    rows = _rows(res.bundle_path)
    jobs = {r["metric"]["job"] for r in rows}
    assert jobs == {"vmstorage-job-1", "vmselect-job-1"}
    meta = orjson.loads(zipfile.ZipFile(res.bundle_path).read(METADATA_NAME))
    assert sorted(meta["jobs"]) == ["vmselect-job-1", "vmstorage-job-1"]
    assert meta["obfuscation"]["enabled"] is True
    # the mapping is only in the local file
    saved = orjson.loads(mapping.read_bytes())
    assert saved["jobs"]["vmstorage-prod-eu"] == "vmstorage-job-1"
    assert "10.20.30.40" in saved["hosts"]
    assert not (tmp_path / "st").exists()  # staging removed after success


def test_cancel_then_resume_equals_uninterrupted(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    _seed_every_second(vm, "h7_resume", ["vmagent-a", "vmagent-b", "other"], minutes=5)
    spec = _spec(
        mode="cluster",
        jobs=["vmagent-a", "vmagent-b", "other"],
        obfuscation=ObfuscationSettings(enabled=True),
        export_id="exp-resume-test",
    )
    whole = run_export(client, spec, LocalContext(tmp_path / "a"), output_dir=tmp_path / "oa")

    staging = tmp_path / "b"
    with pytest.raises(CanceledError):
        run_export(
            client, spec, LocalContext(staging, cancel_after_windows=4), output_dir=tmp_path / "ob"
        )
    # a crash mid-window leaves garbage after the checkpointed offset: it must be dropped
    with (staging / "metrics.partial.jsonl").open("ab") as fh:
        fh.write(b'{"metric":{"__name__":"h7_resume","job":"vmagent-job-1"},"values":[1')
    ctx = LocalContext(staging)
    resumed = run_export(client, spec, ctx, output_dir=tmp_path / "ob")
    assert ctx.done == ctx.total == 10
    assert resumed.export_id == whole.export_id == "exp-resume-test"
    assert resumed.counts == whole.counts
    # VictoriaMetrics may stream the series of a window in another order on each request;
    # the obfuscation numbering does not depend on it, so the lines are the same.
    with zipfile.ZipFile(whole.bundle_path) as za, zipfile.ZipFile(resumed.bundle_path) as zb:
        a, b = za.read(METRICS_NAME).splitlines(), zb.read(METRICS_NAME).splitlines()
    assert sorted(a) == sorted(b)
    assert len(a) == 30
    jobs = {orjson.loads(x)["metric"]["job"] for x in a}
    assert jobs == {"vmagent-job-1", "vmagent-job-2", "service-job-1"}


def test_job_manager_cancel_resume_through_export_runner(vm: VMServer, tmp_path: Path) -> None:
    _seed_every_second(vm, "h7_jobs", ["vminsert-x"], minutes=5)
    spec = _spec(mode="cluster", jobs=["vminsert-x"], obfuscation=ObfuscationSettings(enabled=True))
    manager = JobManager(tmp_path / "jobs", concurrency=1)
    runner = export_runner(
        lambda: TSDBClient(Connection.from_url(vm.url)), spec, output_dir=tmp_path / "out"
    )
    try:
        jid = manager.submit("export", runner).job_id
        manager.cancel(jid)
        first = manager.wait(jid, 60)
        if first.state is JobState.CANCELED:
            manager.resume(jid)
        done = manager.wait(jid, 60)
        assert done.state is JobState.COMPLETED, done.error
        assert (done.completed_windows, done.total_windows, done.progress) == (10, 10, 1.0)
        assert done.samples == 301
        assert done.result["counts"] == {"series": 1, "samples": 301, "lines": 10}
    finally:
        manager.shutdown()


def test_prometheus_without_export_api_falls_back_to_query_range(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    prometheus.wait_for("prometheus_build_info")
    time.sleep(3)  # a few scrapes (every 1 s) inside the range
    end = int(time.time() * 1000) // 1000 * 1000
    spec = ExportSpec(
        mode="selector",
        selector="prometheus_build_info",
        start_ms=end - 90_000,
        end_ms=end,
        step_ms=1000,
        window_ms=30_000,
    )
    with TSDBClient(Connection.from_url(prometheus.url)) as c:
        res = run_export(c, spec, LocalContext(tmp_path / "st"), output_dir=tmp_path / "out")
    assert res.source_api == "query_range"
    assert res.windows == 3  # 91 s inclusive in 30 s step-aligned windows
    for stamps in _points(_rows(res.bundle_path)).values():
        assert len(stamps) == len(set(stamps))
        assert all((t - spec.start_ms) % 1000 == 0 for t in stamps)
    assert res.counts.samples >= 2


def test_stream_export_writes_the_same_lines_as_the_bundle(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    import io

    from promkit.bundle.export import stream_export

    _seed_every_second(vm, "h7_stdout", ["vmauth-1", "vmauth-2"], minutes=2)
    spec = _spec(
        mode="cluster",
        jobs=["vmauth-1", "vmauth-2"],
        end_ms=BASE + 2 * MIN,
        obfuscation=ObfuscationSettings(enabled=True),
    )
    buf = io.BytesIO()
    counts = stream_export(client, spec, buf)
    res = run_export(client, spec, LocalContext(tmp_path / "st"), output_dir=tmp_path / "out")
    with zipfile.ZipFile(res.bundle_path) as zf:
        assert sorted(buf.getvalue().splitlines()) == sorted(zf.read(METRICS_NAME).splitlines())
    assert counts == res.counts
    assert b"vmauth-1" not in buf.getvalue() and b"10.0.0." not in buf.getvalue()


def test_tenant_labels_and_portless_instances_are_obfuscated(
    vm: VMServer, client: TSDBClient, tmp_path: Path
) -> None:
    stamps = [BASE + i * 15_000 for i in range(4)]
    vm.import_lines(
        [
            {
                "metric": {
                    "__name__": "h7_tenant",
                    "job": "vmselect-t",
                    "instance": "db-host-7",
                    "vm_account_id": "1011",
                    "vm_project_id": "42",
                },
                "values": [1, 2, 3, 4],
                "timestamps": stamps,
            }
        ]
    )
    spec = _spec(mode="cluster", jobs=["vmselect-t"], obfuscation=ObfuscationSettings(enabled=True))
    res = run_export(client, spec, LocalContext(tmp_path / "st"), output_dir=tmp_path / "out")
    metrics = [row["metric"] for row in _rows(res.bundle_path)]
    assert len(metrics) == 2  # two 30 s windows
    assert (
        metrics[0]
        == metrics[1]
        == {
            "__name__": "h7_tenant",
            "job": "vmselect-job-1",
            "instance": "777.777.1.1",
            "vm_account_id": "1",
            "vm_project_id": "1",
        }
    )
