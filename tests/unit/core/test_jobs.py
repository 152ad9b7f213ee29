"""Job manager: states, progress across resume, cancel, retention, concurrency, checkpoints."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promkit.core.errors import ConflictError, DataError, NotFoundError
from promkit.core.jobs import JobContext, JobManager, JobState, read_checkpoint


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def manager(tmp_path: Path, clock: Clock) -> Iterator[JobManager]:
    m = JobManager(tmp_path / "jobs", concurrency=2, retention_s=60, clock=clock)
    yield m
    m.shutdown()


def windowed_runner(total: int, gate: dict[int, threading.Event] | None = None) -> Any:
    """Stage windows 0..total-1, resuming after the checkpoint; blocks on gate[i] if given."""

    def run(ctx: JobContext) -> dict[str, int]:
        ctx.set_total(total)
        cp = ctx.load_checkpoint() or {"done": 0, "samples": 0}
        ctx.restore(completed_windows=cp["done"], samples=cp["samples"], lines=cp["done"])
        staged = ctx.staging_dir / "staged.txt"
        for i in range(cp["done"], total):
            if gate and i in gate:
                gate[i].wait(10)
            ctx.check_canceled()
            with staged.open("a") as fh:
                fh.write(f"{i}\n")
            cp = {"done": i + 1, "samples": cp["samples"] + 10}
            ctx.save_checkpoint(cp)
            ctx.window_done(i, samples=10, lines=1, time_range=(i, i + 1))
        return {"windows": total}

    return run


def test_job_completes_with_progress_and_result(manager: JobManager) -> None:
    snap = manager.submit("export", windowed_runner(4))
    assert snap.state in {JobState.PENDING, JobState.RUNNING}
    done = manager.wait(snap.job_id, 10)
    assert done.state is JobState.COMPLETED
    assert (done.completed_windows, done.total_windows, done.progress) == (4, 4, 1.0)
    assert done.samples == 40
    assert done.result == {"windows": 4}
    assert done.current_range == (3, 4)


def test_cancel_then_resume_counts_every_window_once(manager: JobManager) -> None:
    gate = {2: threading.Event()}
    snap = manager.submit("export", windowed_runner(5, gate))
    # wait until windows 0 and 1 are staged, then cancel while window 2 waits
    for _ in range(200):
        if manager.get(snap.job_id).completed_windows == 2:
            break
        threading.Event().wait(0.01)
    manager.cancel(snap.job_id)
    gate[2].set()
    canceled = manager.wait(snap.job_id, 10)
    assert canceled.state is JobState.CANCELED
    assert canceled.completed_windows == 2
    assert canceled.error == "the job was canceled"

    resumed = manager.resume(snap.job_id)
    assert resumed.resumes == 1
    done = manager.wait(snap.job_id, 10)
    assert done.state is JobState.COMPLETED
    # regression (vmgather review): resumed progress must not double-count windows
    assert (done.completed_windows, done.progress) == (5, 1.0)
    assert done.samples == 50
    staged = (Path(done.staging_dir) / "staged.txt").read_text().split()
    assert staged == ["0", "1", "2", "3", "4"]


def test_failed_job_reports_error_and_hint_and_is_resumable(manager: JobManager) -> None:
    attempts: list[int] = []

    def flaky(ctx: JobContext) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise DataError("bad line", hint="fix it")
        return "ok"

    snap = manager.submit("export", flaky)
    failed = manager.wait(snap.job_id, 10)
    assert (failed.state, failed.error, failed.hint) == (JobState.FAILED, "bad line", "fix it")
    manager.resume(snap.job_id)
    assert manager.wait(snap.job_id, 10).result == "ok"


def test_unexpected_exception_fails_the_job_not_the_worker(manager: JobManager) -> None:
    def boom(ctx: JobContext) -> None:
        raise ZeroDivisionError("x")

    failed = manager.wait(manager.submit("export", boom).job_id, 10)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and "ZeroDivisionError" in failed.error
    again = manager.submit("export", windowed_runner(1)).job_id
    assert manager.wait(again, 10).state is JobState.COMPLETED


def test_completed_job_cannot_be_resumed_or_canceled(manager: JobManager) -> None:
    jid = manager.submit("export", windowed_runner(1)).job_id
    manager.wait(jid, 10)
    with pytest.raises(ConflictError):
        manager.resume(jid)
    with pytest.raises(ConflictError):
        manager.cancel(jid)
    with pytest.raises(NotFoundError):
        manager.get("nope")


def test_cleanup_removes_finished_jobs_including_canceled_and_their_staging(
    manager: JobManager, clock: Clock
) -> None:
    gate = {0: threading.Event()}
    done_id = manager.submit("export", windowed_runner(1)).job_id
    canceled_id = manager.submit("export", windowed_runner(2, gate)).job_id
    manager.wait(done_id, 10)
    manager.cancel(canceled_id)
    gate[0].set()
    manager.wait(canceled_id, 10)
    dirs = [Path(manager.get(j).staging_dir) for j in (done_id, canceled_id)]
    assert all(d.exists() for d in dirs)
    clock.now += 59
    assert manager.cleanup() == []
    clock.now += 2
    assert sorted(manager.cleanup()) == sorted([done_id, canceled_id])
    assert not any(d.exists() for d in dirs)
    assert manager.jobs() == []


def test_concurrency_limit_keeps_extra_jobs_pending(tmp_path: Path) -> None:
    m = JobManager(tmp_path, concurrency=1)
    gate = {0: threading.Event()}
    first = m.submit("export", windowed_runner(1, gate)).job_id
    second = m.submit("export", windowed_runner(1)).job_id
    try:
        for _ in range(200):
            if m.get(first).state is JobState.RUNNING:
                break
            threading.Event().wait(0.01)
        assert m.get(second).state is JobState.PENDING
        # a pending job can be canceled before it ever runs
        assert m.cancel(second).state is JobState.CANCELED
        gate[0].set()
        assert m.wait(first, 10).state is JobState.COMPLETED
        assert m.get(second).state is JobState.CANCELED
    finally:
        m.shutdown()


def test_long_job_has_no_global_deadline(manager: JobManager, clock: Clock) -> None:
    gate = {1: threading.Event()}
    jid = manager.submit("export", windowed_runner(3, gate)).job_id
    for _ in range(200):
        if manager.get(jid).completed_windows == 1:
            break
        threading.Event().wait(0.01)
    clock.now += 24 * 3600  # a day passes on the manager's clock: nothing times out
    assert manager.get(jid).state is JobState.RUNNING
    assert manager.cleanup() == []
    gate[1].set()
    assert manager.wait(jid, 10).state is JobState.COMPLETED


def test_eta_is_reported_while_running(manager: JobManager) -> None:
    gate = {2: threading.Event()}
    jid = manager.submit("export", windowed_runner(4, gate)).job_id
    for _ in range(200):
        if manager.get(jid).completed_windows == 2:
            break
        threading.Event().wait(0.01)
    snap = manager.get(jid)
    assert snap.eta_seconds is not None and snap.eta_seconds >= 0
    assert snap.progress == 0.5
    gate[2].set()
    manager.wait(jid, 10)


def test_checkpoint_round_trip_and_corruption(tmp_path: Path) -> None:
    from promkit.core.errors import PromkitError
    from promkit.core.jobs import write_checkpoint

    assert read_checkpoint(tmp_path) is None
    write_checkpoint(tmp_path, {"a": 1})
    assert read_checkpoint(tmp_path) == {"a": 1}
    (tmp_path / "checkpoint.json").write_text("{")
    with pytest.raises(PromkitError):
        read_checkpoint(tmp_path)
