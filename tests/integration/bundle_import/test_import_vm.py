"""``promkit import`` engine against real VictoriaMetrics (and vmauth): round trips, shifts,
retention, bad values, tenants/auth, injected 503s, resume, verification."""

from __future__ import annotations

import re
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from promkit.bundle.alignment import MONTH_MS, ShiftSpec
from promkit.bundle.export import ExportSpec, LocalContext, run_export
from promkit.bundle.preflight import run_preflight, target_limits
from promkit.bundle.reader import BundleReader, open_bundle
from promkit.bundle.upload import ImportPlan, ImportResult, RetryPolicy, import_runner
from promkit.core.connection import Auth, AuthType, Connection, ConnectionConfig
from promkit.core.jobs import JobManager, JobState
from promkit.core.tsdb import TSDBClient
from support.servers import VMAuthServer, VMServer

pytestmark = pytest.mark.integration

MIN = 60_000
BASE = (int(time.time() * 1000) - 2 * 3600 * 1000) // MIN * MIN

Points = dict[tuple[tuple[str, str], ...], list[tuple[int, Any]]]


@pytest.fixture
def tag() -> str:
    return "imp_" + uuid.uuid4().hex[:8]


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[JobManager]:
    manager = JobManager(tmp_path / "jobs", concurrency=1)
    yield manager
    manager.shutdown()


def _seed(vm: VMServer, tag: str, series: int = 6, minutes: int = 20) -> None:
    stamps = list(range(BASE, BASE + minutes * MIN, 15_000))
    rows = []
    for i in range(series):
        values: list[Any] = [float(i * 1000 + k) for k in range(len(stamps))]
        if i == 0:
            values[3] = "+Inf"  # VM 1.79 stores it and exports a bare +Inf
        rows.append(
            orjson.dumps(
                {
                    "metric": {
                        "__name__": f"{tag}_{'a' if i % 2 else 'b'}",
                        "job": "job.1|x",
                        "instance": f"10.0.0.{i}:9100",
                        "quote": 'say "hi" \\ bye',
                    },
                    "values": values,
                    "timestamps": stamps,
                }
            ).replace(b'"+Inf"', b"+Inf")
        )
    vm.import_lines(rows)


def _gather(vm: VMServer, tag: str, out: Path) -> Path:
    spec = ExportSpec(
        mode="selector",
        selector=f'{{__name__=~"{tag}_.*"}}',
        start_ms=BASE - MIN,
        end_ms=BASE + 30 * MIN,
        window_ms=5 * MIN,
    )
    with TSDBClient(Connection.from_url(vm.url)) as client:
        result = run_export(client, spec, LocalContext(out / "staging"), output_dir=out)
    return Path(result.bundle_path)


def _import(
    jobs: JobManager,
    reader: BundleReader,
    url: str,
    plan: ImportPlan | None = None,
    **conn: Any,
) -> ImportResult:
    connection = Connection.from_config(ConnectionConfig(url=url, **conn))
    runner = import_runner(reader, connection, plan or ImportPlan())
    snap = jobs.submit("import", runner)
    done = jobs.wait(snap.job_id, timeout=240)
    assert done.state is JobState.COMPLETED, (done.error, done.hint)
    assert done.progress == 1.0
    return ImportResult.model_validate(done.result)


def _shifted(points: Points, shift: int) -> Points:
    return {k: [(t + shift, v) for t, v in pts] for k, pts in points.items()}


def test_import_round_trip_between_two_vms(
    vm: VMServer,
    vm_factory: Callable[..., VMServer],
    jobs: JobManager,
    tmp_path: Path,
    tag: str,
    export_points: Callable[..., Points],
) -> None:
    _seed(vm, tag)
    bundle = _gather(vm, tag, tmp_path)
    target = vm_factory()
    result = _import(jobs, open_bundle(bundle), target.url)
    assert result.checksum_verified
    assert result.samples_sent == 6 * 80 and result.dropped_retention == 0
    assert result.verification is not None and result.verification.verified, result.verification
    match = f'{{__name__=~"{tag}_.*"}}'
    source = export_points(vm.url, match)
    assert len(source) == 6
    assert export_points(target.url, match) == source


def test_import_shift_is_exact(
    vm: VMServer,
    vm_factory: Callable[..., VMServer],
    jobs: JobManager,
    tmp_path: Path,
    tag: str,
    export_points: Callable[..., Points],
) -> None:
    _seed(vm, tag, series=2)
    bundle = _gather(vm, tag, tmp_path)
    target = vm_factory()
    plan = ImportPlan(shift=ShiftSpec.parse("-1d", now_ms=0), add_labels={"env": 'l"a\\b'})
    result = _import(jobs, open_bundle(bundle), target.url, plan)
    assert result.shift_ms == -86_400_000
    assert result.verification is not None and result.verification.verified
    match = f'{{__name__=~"{tag}_.*"}}'
    expected = {
        tuple(sorted((*k, ("env", 'l"a\\b')))): pts
        for k, pts in _shifted(export_points(vm.url, match), -86_400_000).items()
    }
    assert export_points(target.url, match) == expected


def _old_bundle(tmp_path: Path, tag: str, first: int, n_series: int = 3) -> Path:
    path = tmp_path / "old.jsonl"
    stamps = [first + k * MIN for k in range(10)]
    path.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "metric": {"__name__": f"{tag}_old", "i": str(i)},
                    "values": list(range(10)),
                    "timestamps": stamps,
                }
            )
            + b"\n"
            for i in range(n_series)
        )
    )
    return path


def test_import_retention_trims_after_shift(
    vm_factory: Callable[..., VMServer],
    jobs: JobManager,
    tmp_path: Path,
    tag: str,
    export_points: Callable[..., Points],
) -> None:
    target = vm_factory("-retentionPeriod=1")  # bare number: one month
    now = int(time.time() * 1000)
    first = now - 2 * MONTH_MS
    path = _old_bundle(tmp_path, tag, first)
    with TSDBClient(Connection.from_url(target.url)) as client:
        limits = target_limits(client.flags())
    assert (limits.retention_ms, limits.retention_source) == (MONTH_MS, "flag")
    report = run_preflight(open_bundle(path), limits=limits, now_ms=now)
    assert report.samples_outside_retention == 30
    assert report.suggested_shift == "now"
    assert report.suggested_shift_ms == now - (first + 9 * MIN)

    plan = ImportPlan(retention_ms=limits.retention_ms)
    dropped = _import(jobs, open_bundle(path), target.url, plan)
    assert (dropped.dropped_retention, dropped.samples_sent, dropped.chunks) == (30, 0, 0)

    plan = ImportPlan(shift=ShiftSpec.parse("now", now_ms=now), retention_ms=limits.retention_ms)
    moved = _import(jobs, open_bundle(path), target.url, plan)
    assert moved.dropped_retention == 0 and moved.samples_sent == 30
    assert moved.verification is not None and moved.verification.verified
    got = export_points(target.url, f"{tag}_old")
    shift = moved.shift_ms
    assert abs(shift - (now - (first + 9 * MIN))) < 120_000  # resolved when the job ran
    assert all(pts == [(first + k * MIN + shift, k) for k in range(10)] for pts in got.values())
    assert len(got) == 3


def test_import_bad_values_skip_points_not_series(
    vm_factory: Callable[..., VMServer],
    jobs: JobManager,
    tmp_path: Path,
    tag: str,
    export_points: Callable[..., Points],
) -> None:
    path = tmp_path / "bad.jsonl"
    stamps = [BASE + k * 1000 for k in range(7)]
    path.write_bytes(
        orjson.dumps(
            {
                "metric": {"__name__": f"{tag}_bad"},
                "values": [None, "12.5", True, "abc", "Infinity", 3, False],
                "timestamps": stamps,
            }
        )
        + b"\n"
        + b"garbage line\n"
        + orjson.dumps({"metric": {"__name__": f"{tag}_ok"}, "values": [1], "timestamps": [BASE]})
        + b"\n"
    )
    target = vm_factory()
    result = _import(jobs, open_bundle(path), target.url)
    assert (result.skipped_values, result.bad_lines, result.samples_sent) == (2, 1, 6)
    got = export_points(target.url, f'{{__name__=~"{tag}_.*"}}')
    assert got[(("__name__", f"{tag}_bad"),)] == [
        (stamps[1], 12.5),
        (stamps[2], 1),
        (stamps[4], "+Inf"),
        (stamps[5], 3),
        (stamps[6], 0),
    ]
    assert got[(("__name__", f"{tag}_ok"),)] == [(BASE, 1)]


def _vmgather_zip(tmp_path: Path, tag: str) -> Path:
    path = tmp_path / "vmexport_export-1795456626_20261123_175706.zip"
    lines = b"".join(
        orjson.dumps(
            {
                "metric": {
                    "__name__": f"{tag}_vmg",
                    "instance": "777.777.1.1:9100",
                    "job": "vm_component_vmstorage_1",
                },
                "values": [1, 2, 3],
                "timestamps": [BASE + k * 1000 for k in range(3)],
            }
        )
        + b"\n"
        for _ in range(1)
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metrics.jsonl", lines)
        zf.writestr(
            "metadata.json",
            orjson.dumps(
                {"export_id": "export-1795456626", "metrics_count": 1, "vmgather_version": "v1.9.1"}
            ),
        )
        zf.writestr("README.txt", "x")
    return path


@pytest.mark.parametrize("auth_kind", ["basic", "bearer", "header"])
def test_import_vmgather_bundle_through_vmauth_tenant(
    vmauth: VMAuthServer,
    jobs: JobManager,
    tmp_path: Path,
    tag: str,
    auth_kind: str,
    export_points: Callable[..., Points],
) -> None:
    path = _vmgather_zip(tmp_path, tag)
    if auth_kind == "basic":
        auth = Auth(type=AuthType.BASIC, username=vmauth.username, password=vmauth.password)  # type: ignore[arg-type]
    elif auth_kind == "bearer":
        auth = Auth(type=AuthType.BEARER, token=vmauth.bearer_token)  # type: ignore[arg-type]
    else:  # vmauth 1.79 reads only Authorization, so the custom header is that one
        auth = Auth(
            type=AuthType.HEADER,
            header_name="Authorization",
            header_value=f"Bearer {vmauth.bearer_token}",  # type: ignore[arg-type]
        )
    reader = open_bundle(path)
    assert reader.info.kind.value == "vmgather"
    result = _import(jobs, reader, vmauth.tenant_base(1011), auth=auth)
    assert result.import_url.endswith("/1011/rw/prometheus/api/v1/import")
    assert result.tenant_id == "1011"
    assert result.verification is not None and result.verification.verified, result.verification
    got = export_points(vmauth.vm.url, f"{tag}_vmg")
    assert list(got.values()) == [[(BASE + k * 1000, k + 1) for k in range(3)]]


def test_import_retries_an_injected_503(
    vm_factory: Callable[..., VMServer],
    jobs: JobManager,
    tmp_path: Path,
    tag: str,
    fault_proxy: Callable[..., Any],
    export_points: Callable[..., Points],
) -> None:
    target = vm_factory()
    proxy = fault_proxy(target.url, lambda n: 503 if n in (0, 2) else None)
    path = _old_bundle(tmp_path, tag, BASE, n_series=50)
    plan = ImportPlan(chunk_bytes=2048, retry=RetryPolicy(attempts=4, initial_s=0.05))
    result = _import(jobs, open_bundle(path), proxy.url, plan)
    assert result.retries == 2
    assert proxy.imports.count(503) == 2
    got = export_points(target.url, f"{tag}_old")
    assert len(got) == 50 and all(len(p) == 10 for p in got.values())


def test_import_resumes_after_failure_without_duplicates(
    vm_factory: Callable[..., VMServer],
    jobs: JobManager,
    tmp_path: Path,
    tag: str,
    fault_proxy: Callable[..., Any],
    export_points: Callable[..., Points],
) -> None:
    target = vm_factory()
    proxy = fault_proxy(target.url, lambda n: 503 if n == 3 else None)
    path = _old_bundle(tmp_path, tag, BASE, n_series=60)
    plan = ImportPlan(chunk_bytes=2048, retry=RetryPolicy(attempts=1))
    runner = import_runner(open_bundle(path), Connection.from_url(proxy.url), plan)
    snap = jobs.submit("import", runner)
    failed = jobs.wait(snap.job_id, timeout=120)
    assert failed.state is JobState.FAILED
    assert failed.completed_windows == 3
    jobs.resume(snap.job_id)
    done = jobs.wait(snap.job_id, timeout=120)
    assert done.state is JobState.COMPLETED, done.error
    result = ImportResult.model_validate(done.result)
    assert result.resumed_from_chunk == 3
    assert result.samples_sent == 600
    assert result.verification is not None and result.verification.verified
    target.flush()
    got = export_points(target.url, f"{tag}_old")
    assert len(got) == 60
    assert all(pts == [(BASE + k * MIN, k) for k in range(10)] for pts in got.values())


def test_import_preflight_reads_label_limit_from_target(
    vm_factory: Callable[..., VMServer], tmp_path: Path, tag: str
) -> None:
    target = vm_factory("-maxLabelsPerTimeseries=10")
    path = tmp_path / "wide.jsonl"
    wide = {"__name__": f"{tag}_wide", **{f"l{i}": "v" for i in range(12)}}
    path.write_bytes(orjson.dumps({"metric": wide, "values": [1], "timestamps": [BASE]}) + b"\n")
    with TSDBClient(Connection.from_url(target.url)) as client:
        limits = target_limits(client.flags())
    assert (limits.max_labels, limits.max_labels_source) == (10, "flag")
    report = run_preflight(open_bundle(path), limits=limits)
    assert report.series_over_label_limit == 1
    assert any("more than 10 labels" in w for w in report.warnings)


def test_import_wrong_target_fails_fast(
    jobs: JobManager, tmp_path: Path, tag: str, vmauth: VMAuthServer
) -> None:
    path = _old_bundle(tmp_path, tag, BASE)
    bearer = Auth(type=AuthType.BEARER, token=vmauth.bearer_token)  # type: ignore[arg-type]
    cases = [
        (Connection.from_url(vmauth.tenant_base(1011)), "requires credentials|credentials"),
        # the export-only route has no import: vmauth answers "missing route"
        (
            Connection.from_config(ConnectionConfig(url=vmauth.export_base(1011), auth=bearer)),
            "no import API",
        ),
    ]
    for conn, message in cases:
        runner = import_runner(open_bundle(path), conn, ImportPlan())
        snap = jobs.submit("import", runner)
        done = jobs.wait(snap.job_id, timeout=60)
        assert done.state is JobState.FAILED
        assert done.error is not None and re.search(message, done.error), done.error
        assert vmauth.bearer_token not in done.error
