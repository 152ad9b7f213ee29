"""Background jobs with progress, ETA, cancel, resume and retention (export and import).

A job runs a *runner* ``(JobContext) -> result`` on a worker thread; at most ``concurrency``
run at once, the others stay ``pending``. The runner reports finished units of work
("windows": export windows, import chunks) with their absolute index, so progress after a
resume never counts a window twice, and checks ``ctx.check_canceled()`` between steps.
There is no global deadline: a job runs until it finishes, fails or is canceled; the
runner's own I/O has per-request inactivity timeouts.

Each job owns a staging directory (``<root>/<job id>``) where the runner keeps its staging
file and ``checkpoint.json`` (``ctx.save_checkpoint``), so a crash loses nothing already
fetched and ``resume`` continues after the last complete window. Finished jobs (completed,
failed, canceled) are removed together with their staging directory ``retention_s``
after they finished; cleanup runs on every submit/jobs() and from ``cleanup()``.

States::

    pending → running → completed
                      → failed    → (resume) pending → running ...
                      → canceled  → (resume) pending → running ...
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import orjson
from pydantic import BaseModel

from promkit.core.errors import CanceledError, ConflictError, NotFoundError, PromkitError

__all__ = [
    "JobContext",
    "JobHooks",
    "JobManager",
    "JobSnapshot",
    "JobState",
    "Runner",
    "read_checkpoint",
    "write_checkpoint",
]

CHECKPOINT_NAME = "checkpoint.json"


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


FINISHED = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELED})
RESUMABLE = frozenset({JobState.FAILED, JobState.CANCELED})


class JobSnapshot(BaseModel):
    """A consistent copy of a job's status (what the API and CLI show)."""

    job_id: str
    kind: str
    state: JobState
    total_windows: int
    completed_windows: int
    progress: float
    samples: int
    lines: int
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    eta_seconds: float | None = None
    average_window_seconds: float | None = None
    current_range: tuple[int, int] | None = None
    staging_dir: str
    resumes: int = 0
    error: str | None = None
    hint: str | None = None
    result: Any = None


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_checkpoint(directory: Path, data: dict[str, Any]) -> None:
    """Atomically replace ``checkpoint.json`` in ``directory`` (temp, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / CHECKPOINT_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(directory: Path) -> dict[str, Any] | None:
    """The last checkpoint in ``directory``, or None when there is none yet."""
    path = directory / CHECKPOINT_NAME
    try:
        data: dict[str, Any] = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise PromkitError(
            f"cannot read checkpoint {path}: {exc}",
            hint="the staging directory is damaged; start the job again",
        ) from exc
    return data


@dataclass
class _Job:
    job_id: str
    kind: str
    runner: Runner
    staging_dir: Path
    total_windows: int
    created_at: float = field(default_factory=time.time)
    state: JobState = JobState.PENDING
    completed_windows: int = 0
    samples: int = 0
    lines: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    run_started: float | None = None  # monotonic start of the current (re)run
    windows_this_run: int = 0
    last_window_seconds: float | None = None
    current_range: tuple[int, int] | None = None
    resumes: int = 0
    error: PromkitError | None = None
    result: Any = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    done_event: threading.Event = field(default_factory=threading.Event)


class JobHooks(Protocol):
    """What a job's work function may call: progress, cancel and checkpoint hooks.

    ``JobContext`` provides them inside a ``JobManager``; the export and import engines also
    accept lighter implementations for direct (non-job) runs such as the CLI and benchmarks.
    """

    staging_dir: Path

    def check_canceled(self) -> None: ...
    def set_total(self, total_windows: int) -> None: ...
    def restore(self, *, completed_windows: int, samples: int, lines: int) -> None: ...
    def window_done(
        self,
        index: int,
        *,
        samples: int = 0,
        lines: int = 0,
        time_range: tuple[int, int] | None = None,
    ) -> None: ...
    def save_checkpoint(self, data: dict[str, Any]) -> None: ...
    def load_checkpoint(self) -> dict[str, Any] | None: ...


class JobContext:
    """What a runner sees: cancellation, progress reporting, its staging directory."""

    def __init__(self, manager: JobManager, job: _Job) -> None:
        self._manager = manager
        self._job = job
        self.job_id = job.job_id
        self.staging_dir = job.staging_dir
        self.resumed = job.resumes > 0

    @property
    def canceled(self) -> bool:
        return self._job.cancel_event.is_set()

    def check_canceled(self) -> None:
        """Raise ``CanceledError`` if the job was asked to stop."""
        if self._job.cancel_event.is_set():
            raise CanceledError("the job was canceled", hint="resume it to continue")

    def set_total(self, total_windows: int) -> None:
        with self._manager._lock:
            self._job.total_windows = total_windows

    def restore(self, *, completed_windows: int, samples: int, lines: int) -> None:
        """After a resume: the counts already in the staging file (absolute, not added)."""
        with self._manager._lock:
            job = self._job
            job.completed_windows = completed_windows
            job.samples = samples
            job.lines = lines

    def window_done(
        self,
        index: int,
        *,
        samples: int = 0,
        lines: int = 0,
        time_range: tuple[int, int] | None = None,
    ) -> None:
        """Window ``index`` (0-based, absolute over the whole job) is safely staged."""
        now = time.monotonic()
        with self._manager._lock:
            job = self._job
            job.completed_windows = max(job.completed_windows, index + 1)
            job.samples += samples
            job.lines += lines
            job.windows_this_run += 1
            if job.run_started is not None:
                elapsed = now - job.run_started
                job.last_window_seconds = elapsed / job.windows_this_run
            if time_range is not None:
                job.current_range = time_range

    def save_checkpoint(self, data: dict[str, Any]) -> None:
        write_checkpoint(self.staging_dir, data)

    def load_checkpoint(self) -> dict[str, Any] | None:
        return read_checkpoint(self.staging_dir)


Runner = Callable[[JobContext], Any]


class JobManager:
    """Runs jobs on a bounded thread pool and keeps their status until retention expires."""

    def __init__(
        self,
        root: Path,
        *,
        concurrency: int = 2,
        retention_s: float = 1800.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.root = root
        self.retention_s = retention_s
        self._clock = clock
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="promkit-job")

    # ------------------------------------------------------------------ lifecycle
    def submit(
        self,
        kind: str,
        runner: Runner,
        *,
        total_windows: int = 0,
        job_id: str | None = None,
    ) -> JobSnapshot:
        """Start a job (pending until a worker is free)."""
        self.cleanup()
        jid = job_id or f"{kind}-{int(time.time())}-{secrets.token_hex(4)}"
        staging = self.root / jid
        with self._lock:
            if jid in self._jobs:
                raise ConflictError(f"job {jid} already exists")
            staging.mkdir(parents=True, exist_ok=True)
            job = _Job(jid, kind, runner, staging, total_windows, created_at=self._clock())
            self._jobs[jid] = job
            snap = self._snapshot(job)
        self._pool.submit(self._run, job)
        return snap

    def resume(self, job_id: str) -> JobSnapshot:
        """Run a failed or canceled job again from its last checkpoint."""
        with self._lock:
            job = self._get(job_id)
            if job.state not in RESUMABLE:
                raise ConflictError(
                    f"job {job_id} is {job.state.value}, not resumable",
                    hint="only failed or canceled jobs can be resumed",
                )
            job.state = JobState.PENDING
            job.resumes += 1
            job.error = None
            job.finished_at = None
            job.cancel_event = threading.Event()
            job.done_event = threading.Event()
            snap = self._snapshot(job)
        self._pool.submit(self._run, job)
        return snap

    def cancel(self, job_id: str) -> JobSnapshot:
        with self._lock:
            job = self._get(job_id)
            if job.state in FINISHED:
                raise ConflictError(f"job {job_id} already finished ({job.state.value})")
            job.cancel_event.set()
            if job.state is JobState.PENDING:
                self._finish(job, JobState.CANCELED, CanceledError("the job was canceled"))
            return self._snapshot(job)

    def get(self, job_id: str) -> JobSnapshot:
        with self._lock:
            return self._snapshot(self._get(job_id))

    def jobs(self) -> list[JobSnapshot]:
        self.cleanup()
        with self._lock:
            return [self._snapshot(j) for j in self._jobs.values()]

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot:
        """Block until the job finishes (or ``timeout`` passes); return its snapshot."""
        with self._lock:
            done = self._get(job_id).done_event
        done.wait(timeout)
        return self.get(job_id)

    def cleanup(self, now: float | None = None) -> list[str]:
        """Forget finished jobs older than the retention and delete their staging dirs."""
        at = self._clock() if now is None else now
        removed: list[str] = []
        with self._lock:
            for jid, job in list(self._jobs.items()):
                finished = job.finished_at
                if job.state in FINISHED and finished is not None:
                    if at - finished < self.retention_s:
                        continue
                    del self._jobs[jid]
                    removed.append(jid)
                    shutil.rmtree(job.staging_dir, ignore_errors=True)
        return removed

    def shutdown(self, *, cancel: bool = True) -> None:
        if cancel:
            with self._lock:
                for job in self._jobs.values():
                    job.cancel_event.set()
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------ internals
    def _get(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found", hint="it may have expired")
        return job

    def _run(self, job: _Job) -> None:
        with self._lock:
            if job.state is not JobState.PENDING:  # canceled while queued
                return
            job.state = JobState.RUNNING
            now = self._clock()
            job.started_at = job.started_at or now
            job.run_started = time.monotonic()
            job.windows_this_run = 0
            ctx = JobContext(self, job)
        try:
            ctx.check_canceled()
            result = job.runner(ctx)
        except CanceledError as exc:
            with self._lock:
                self._finish(job, JobState.CANCELED, exc)
        except PromkitError as exc:
            with self._lock:
                self._finish(job, JobState.FAILED, exc)
        except Exception as exc:  # a bug in a runner must not kill the worker silently
            with self._lock:
                err = PromkitError(f"internal error: {type(exc).__name__}: {exc}")
                self._finish(job, JobState.FAILED, err)
        else:
            with self._lock:
                job.result = result
                self._finish(job, JobState.COMPLETED, None)

    def _finish(self, job: _Job, state: JobState, error: PromkitError | None) -> None:
        job.state = state
        job.error = error
        job.finished_at = self._clock()
        job.done_event.set()

    def _snapshot(self, job: _Job) -> JobSnapshot:
        total = job.total_windows
        done = min(job.completed_windows, total) if total else job.completed_windows
        eta: float | None = None
        if job.state is JobState.RUNNING and job.last_window_seconds is not None and total:
            eta = round(job.last_window_seconds * max(total - done, 0), 3)
        result = job.result
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return JobSnapshot(
            job_id=job.job_id,
            kind=job.kind,
            state=job.state,
            total_windows=total,
            completed_windows=done,
            progress=(done / total) if total else (1.0 if job.state is JobState.COMPLETED else 0),
            samples=job.samples,
            lines=job.lines,
            created_at=_iso(job.created_at) or "",
            started_at=_iso(job.started_at),
            finished_at=_iso(job.finished_at),
            eta_seconds=eta,
            average_window_seconds=job.last_window_seconds,
            current_range=job.current_range,
            staging_dir=str(job.staging_dir),
            resumes=job.resumes,
            error=job.error.message if job.error else None,
            hint=job.error.hint if job.error else None,
            result=result,
        )
