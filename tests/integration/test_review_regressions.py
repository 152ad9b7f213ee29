"""One test per finding of the vmgather code review (seeds/001) that applies to promkit.

Each test would fail if promkit had the defect the review found in vmgather:
progress after resume, leaked response bodies, regex injection, canceled jobs never
cleaned, hard job/client timeouts cutting long exports, file-system endpoints, noisy logs,
a hard-coded version. Everything runs against real servers (VictoriaMetrics, a slow
HTTP server we start for the timeout cases) or the console app in-process.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from promkit.bundle.app import ConsoleSettings, create_app
from promkit.bundle.discovery import build_match, discover_jobs, fold_job_filter
from promkit.bundle.export import ExportSpec, export_runner, run_export, stream_export
from promkit.bundle.preview import build_preview
from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.errors import CanceledError, ConnectError, PromkitError
from promkit.core.jobs import JobContext, JobManager, JobState
from promkit.core.tsdb import TSDBClient
from promkit.core.web import TOKEN_HEADER, LocalUIPolicy
from support.servers import VMServer

pytestmark = pytest.mark.integration

MIN = 60_000
JOBS = ("job.1", "job11", "a|b", "a", "b", "x+y", "xxy", "p(q)", "pq")
PREFIX = f"rr{secrets.token_hex(3)}"
METRIC = f"{PREFIX}_m"
BASE = (int(time.time() * 1000) - 2 * 3600 * 1000) // MIN * MIN
END = BASE + 20 * MIN


def _job(name: str) -> str:
    return f"{PREFIX}-{name}"


@pytest.fixture(scope="module")
def seeded(vm: VMServer) -> VMServer:
    stamps = list(range(BASE, END + 1, 10_000))
    vm.import_lines(
        {
            "metric": {"__name__": METRIC, "job": _job(j), "instance": f"10.66.0.{i + 1}:9100"},
            "values": [float(i)] * len(stamps),
            "timestamps": stamps,
        }
        for i, j in enumerate(JOBS)
    )
    return vm


def _client(url: str, **kw: Any) -> TSDBClient:
    return TSDBClient(Connection.from_config(ConnectionConfig(url=url, **kw)))


def _spec(**kw: Any) -> ExportSpec:
    base: dict[str, Any] = {
        "mode": "selector",
        "selector": METRIC,
        "start_ms": BASE,
        "end_ms": END,
        "window_ms": 5 * MIN,
    }
    return ExportSpec(**(base | kw))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "promkit", *args],
        capture_output=True,
        cwd=cwd,
        timeout=180,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        check=False,
    )


# ---------------------------------------------------------------- P0 progress after resume


class _CancelOnce:
    """A ``JobContext`` that cancels itself after ``after`` windows on the first run only."""

    def __init__(self, ctx: JobContext, manager: JobManager, after: int, seen: list[Any]) -> None:
        self._ctx, self._manager, self._after, self._seen = ctx, manager, after, seen
        self.staging_dir = ctx.staging_dir
        self._done = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def check_canceled(self) -> None:
        if not self._ctx.resumed and self._done >= self._after:
            raise CanceledError("canceled by the test")
        self._ctx.check_canceled()

    def window_done(self, index: int, **kw: Any) -> None:
        self._ctx.window_done(index, **kw)
        self._done += 1
        self._seen.append(self._manager.get(self._ctx.job_id))


def test_review_progress_after_resume_counts_each_window_once(
    seeded: VMServer, tmp_path: Path
) -> None:
    manager = JobManager(tmp_path / "jobs", concurrency=1)
    seen: list[Any] = []
    spec = _spec()
    try:
        inner = export_runner(lambda: _client(seeded.url), spec, output_dir=tmp_path / "out")

        def runner(ctx: JobContext) -> Any:
            return inner(_CancelOnce(ctx, manager, 2, seen))

        job = manager.submit("export", runner)
        first = manager.wait(job.job_id, timeout=120)
        assert first.state is JobState.CANCELED
        assert first.completed_windows == 2
        manager.resume(job.job_id)
        final = manager.wait(job.job_id, timeout=120)
    finally:
        manager.shutdown()
    assert final.state is JobState.COMPLETED, final.error
    total = final.total_windows
    assert total == 4
    assert final.completed_windows == total and final.progress == 1.0
    done = [s.completed_windows for s in seen]
    assert done == [1, 2, 3, 4]  # vmgather reported 2 + 3 = 5 of 4 after the resume
    assert all(0 <= s.progress <= 1 for s in seen)
    assert final.samples == len(JOBS) * ((END - BASE) // 10_000 + 1)  # not double-counted


# ---------------------------------------------------------------- P1 leaked response bodies


def test_review_no_leaked_response_bodies(seeded: VMServer, tmp_path: Path) -> None:
    """With a pool of ONE connection, any response left open blocks the next request."""
    transport = httpx.HTTPTransport(limits=httpx.Limits(max_connections=1))
    conn = Connection.from_config(ConnectionConfig(url=seeded.url, timeout_seconds=2))
    with TSDBClient(conn, transport=transport) as client:
        for _ in range(3):  # each run probes the export API first (vmgather leaked that body)
            with open(os.devnull, "wb") as sink:
                stream_export(client, _spec(jobs=[_job("a")]), sink)
        build_preview(client, _spec(), limit=3)
        discover_jobs(client, BASE, END, METRIC)
        with pytest.raises(PromkitError):  # an error answer must be closed too
            client.export(["{"], BASE / 1000, END / 1000)
        run_export(
            client,
            _spec(jobs=[_job("b")]),
            _local(tmp_path / "st"),
            output_dir=tmp_path / "out",
        )
        assert client.query("1")  # still a free connection
        # the check itself works: a body left open does block the pool
        leaked = client.export([METRIC], BASE / 1000, END / 1000)
        with pytest.raises(ConnectError):
            client.query("1")
        leaked.close()


def _local(path: Path) -> Any:
    from promkit.bundle.export import LocalContext

    return LocalContext(path)


# ---------------------------------------------------------------- P1 regex injection


@pytest.mark.parametrize("name", ["job.1", "a|b", "x+y", "p(q)"])
def test_review_job_regex_metachars_match_literally(seeded: VMServer, name: str) -> None:
    with _client(seeded.url) as client:
        for match in (
            build_match("cluster", [_job(name)]),
            fold_job_filter(METRIC, [_job(name)]),
            build_match("selector", [_job(name), _job("pq")], METRIC),
        ):
            jobs = {s["job"] for s in client.series([match], BASE / 1000, END / 1000)}
            assert jobs <= {_job(name), _job("pq")} and _job(name) in jobs, match
        estimates = {j.job: j.series_estimate for j in discover_jobs(client, BASE, END, METRIC)}
    assert estimates[_job(name)] == 1


# ---------------------------------------------------------------- P1 canceled jobs cleaned


def test_review_canceled_jobs_are_cleaned_with_their_staging(tmp_path: Path) -> None:
    now = [1000.0]
    manager = JobManager(tmp_path / "jobs", retention_s=60, clock=lambda: now[0])
    release = threading.Event()

    def runner(ctx: JobContext) -> None:
        (ctx.staging_dir / "metrics.partial.jsonl").write_text("{}\n")
        while not release.wait(0.05):
            ctx.check_canceled()

    try:
        job = manager.submit("export", runner)
        while manager.get(job.job_id).state is not JobState.RUNNING:
            time.sleep(0.01)
        manager.cancel(job.job_id)
        snap = manager.wait(job.job_id, timeout=30)
        assert snap.state is JobState.CANCELED
        staging = Path(snap.staging_dir)
        assert staging.exists()
        now[0] += 61
        assert manager.cleanup() == [job.job_id]
        assert not staging.exists()
        assert manager.jobs() == []
    finally:
        release.set()
        manager.shutdown()


# ---------------------------------------------------------------- P0/P1 timeouts


class _SlowExport(BaseHTTPRequestHandler):
    """/api/v1/export that trickles one line every ``gap`` seconds (``lines`` in all)."""

    lines = 8
    gap = 0.4
    silent = 0.0  # seconds of silence before the first byte

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.endswith("/api/v1/export"):
            self.send_error(404, "unsupported path")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/stream+json")
        self.end_headers()
        try:
            time.sleep(self.silent)
            for i in range(self.lines):
                line = {"metric": {"__name__": "slow", "n": str(i)}, "values": [i]}
                line["timestamps"] = [BASE]
                self.wfile.write(orjson.dumps(line) + b"\n")
                self.wfile.flush()
                time.sleep(self.gap)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client closed the probe early

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[tuple[str, type[_SlowExport]]]:
    handler = type("Handler", (_SlowExport,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_review_client_timeout_never_cuts_a_long_stream(
    slow_server: tuple[str, type[_SlowExport]], tmp_path: Path
) -> None:
    """8 lines over ~3.2 s with a 1 s timeout: only inactivity counts, never the whole time."""
    url, _ = slow_server
    start, end = str(BASE // 1000), str(BASE // 1000 + 600)
    proc = _cli(
        "gather", "export", "--url", url, "--selector", "slow", "--start", start, "--end", end,
        "--no-batching", "--timeout", "1", "--stdout", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(proc.stdout.splitlines()) == _SlowExport.lines


def test_review_timeout_still_detects_a_silent_server(
    slow_server: tuple[str, type[_SlowExport]],
) -> None:
    """The control: silence longer than the timeout is an error (so the test above can fail)."""
    url, handler = slow_server
    handler.silent = 2.5
    with _client(url, timeout_seconds=1) as client, pytest.raises(ConnectError, match="no answer"):
        list(client.export(["slow"], BASE / 1000, BASE / 1000 + 60))


def test_review_no_hard_deadline_on_export_jobs(
    slow_server: tuple[str, type[_SlowExport]], tmp_path: Path
) -> None:
    """A job outlives its client timeout many times over and still completes."""
    url, handler = slow_server
    handler.lines, handler.gap = 10, 0.3
    manager = JobManager(tmp_path / "jobs")
    spec = ExportSpec(mode="selector", selector="slow", start_ms=BASE, end_ms=BASE + 3 * MIN)
    try:
        runner = export_runner(
            lambda: _client(url, timeout_seconds=1), spec, output_dir=tmp_path / "out"
        )
        job = manager.submit("export", runner)
        snap = manager.wait(job.job_id, timeout=120)
    finally:
        manager.shutdown()
    assert snap.state is JobState.COMPLETED, snap.error
    assert snap.lines == 10


# ---------------------------------------------------------------- P2 file-system endpoints


@pytest.fixture
def console(tmp_path: Path) -> Iterator[TestClient]:
    settings = ConsoleSettings(
        policy=LocalUIPolicy(port=18099, token=SecretStr("regression-token")),
        output_dir=tmp_path / "out",
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:18099") as client:
        yield client


def test_review_no_file_system_endpoints(console: TestClient) -> None:
    auth = {TOKEN_HEADER: "regression-token"}
    assert console.get("/api/fs/list", params={"path": "/"}, headers=auth).status_code == 404
    r = console.post("/api/fs/check", json={"path": "/tmp/x", "ensure": True}, headers=auth)
    assert r.status_code in (404, 405)
    assert not Path("/tmp/x").exists() or Path("/tmp/x").is_file()
    paths = set(console.get("/api/openapi.json", headers=auth).json()["paths"])
    assert not any(p.startswith("/api/fs") for p in paths)


# ---------------------------------------------------------------- P2 noisy logs


def test_review_cli_logs_quiet_by_default(seeded: VMServer, tmp_path: Path) -> None:
    base = ["gather", "export", "--url", seeded.url, "--selector", METRIC, "--json"]
    rng = ["--start", str(BASE // 1000), "--end", str(END // 1000), "--window", "1m"]
    quiet = _cli(*base, *rng, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr.decode()
    lines = quiet.stderr.decode().splitlines()
    assert len(lines) <= 11  # 20 windows → at most one line per tenth
    assert not any("/api/v1/" in ln for ln in lines)
    loud = _cli(*base, *rng, "--verbose", cwd=tmp_path)
    assert sum("/api/v1/export" in ln for ln in loud.stderr.decode().splitlines()) >= 20


def test_review_status_polls_log_nothing(
    console: TestClient, seeded: VMServer, caplog: pytest.LogCaptureFixture
) -> None:
    auth = {TOKEN_HEADER: "regression-token"}
    body = {
        "connection": {"url": seeded.url},
        "time_range": {"start": BASE / 1000, "end": END / 1000},
        "mode": "selector",
        "selector": METRIC,
        "jobs": [_job("a")],
    }
    r = console.post("/api/export/start", json=body, headers=auth)
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    with caplog.at_level(logging.INFO):
        states = []
        for _ in range(200):
            states.append(
                console.get("/api/export/status", params={"id": job_id}, headers=auth).json()
            )
            if states[-1]["state"] in ("completed", "failed", "canceled"):
                break
            time.sleep(0.05)
    assert states[-1]["state"] == "completed", states[-1]
    assert len(states) >= 1
    assert [r for r in caplog.records if r.name.startswith(("promkit", "uvicorn"))] == []


# ---------------------------------------------------------------- P0 version injection


def test_review_version_comes_from_package_metadata(seeded: VMServer, tmp_path: Path) -> None:
    expected = version("promkit")
    proc = _cli("--version", cwd=tmp_path)
    assert proc.stdout.decode().strip() == f"promkit {expected}"
    out = _cli(
        "gather", "export", "--url", seeded.url, "--selector", METRIC, "--job", _job("a"),
        "--start", str(BASE // 1000), "--end", str(END // 1000), "--json", cwd=tmp_path,
    )  # fmt: skip
    bundle = orjson.loads(out.stdout)["bundle_path"]
    with zipfile.ZipFile(bundle) as zf:
        meta = orjson.loads(zf.read("metadata.json"))
        readme = zf.read("README.txt").decode()
    assert meta["promkit_version"] == expected
    assert f"promkit {expected}" in readme and "vdev" not in readme
    settings = ConsoleSettings(policy=LocalUIPolicy(port=18098), output_dir=tmp_path / "o")
    with TestClient(create_app(settings), base_url="http://127.0.0.1:18098") as client:
        assert client.get("/api/health").json()["version"] == expected
