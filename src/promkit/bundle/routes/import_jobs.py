"""Import jobs: ``/api/import/start``, ``status``, ``cancel`` and ``resume``.

The job runs the engine's ``import_runner`` (upload in gzip chunks, checkpoint after each
acknowledged chunk, verification at the end) on the console's ``JobManager``; a resumed
job continues from the last acknowledged chunk with the shift it resolved the first time.
Everything that can be checked before a byte moves (bundle id, shift, label edits, the
target's retention) is checked in the request, so mistakes answer 400/404/422 at once.
The connection's TLS settings are used exactly as sent: nothing here ever turns
certificate checks off by itself.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from promkit.bundle.alignment import ShiftSpec, parse_label_edits
from promkit.bundle.routes.deps import Console, ConsoleDep, error_responses
from promkit.bundle.routes.import_bundles import ImportOptionsIn, limits_for, open_by_id
from promkit.bundle.upload import ImportPlan, ImportResult, import_runner
from promkit.core.connection import Connection
from promkit.core.errors import NotFoundError
from promkit.core.jobs import JobSnapshot, JobState

__all__ = ["ImportJobRef", "ImportStartRequest", "ImportStatus", "router"]

router = APIRouter(tags=["import"])

ERRORS = error_responses(
    _400="bad shift, retention or label edit",
    _401="missing session token, or the server refused the credentials",
    _404="no such bundle or job (jobs expire after a while)",
    _409="the job is in a state that does not allow this",
    _422="the bundle is damaged or not a bundle",
    _502="server unreachable or answered with an error",
)
JOB_ID = r"^[A-Za-z0-9_.-]{1,128}$"
KIND = "import"
RESUME_HINT = (
    "fix the cause (target, credentials, network), then resume: the import continues after "
    "the last chunk the target acknowledged"
)


class ImportStartRequest(ImportOptionsIn):
    verify: bool = True
    verify_timeout_s: float = Field(default=60.0, gt=0, le=600)
    chunk_kib: int = Field(default=4096, ge=16, le=65536, description="uncompressed KiB per POST")


class ImportJobRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(pattern=JOB_ID)


class ImportStatus(JobSnapshot):
    """A job's status; ``result`` (once completed) holds the counts and the verification."""

    result: ImportResult | None = None
    bundle_name: str | None = None


def _status(snap: JobSnapshot, bundle_name: str | None = None) -> ImportStatus:
    if snap.kind != KIND:
        raise NotFoundError(f"job {snap.job_id} is not an import", hint="start an import first")
    data = snap.model_dump()
    raw = data.pop("result")
    result = ImportResult.model_validate(raw) if raw else None
    name = bundle_name or (result.bundle.rsplit("/", 1)[-1] if result else None)
    if snap.state is JobState.FAILED and not data.get("hint"):
        data["hint"] = RESUME_HINT
    return ImportStatus(**data, result=result, bundle_name=name)


def build_plan(console: Console, body: ImportStartRequest) -> ImportPlan:
    """The engine's plan for a request: shift, the target's retention, label edits.

    Validates the target (``limits_for``): wrong credentials or URL fail here, not in the job.
    """
    spec = ShiftSpec.parse(body.shift, now_ms=int(time.time() * 1000))
    added, dropped = parse_label_edits(body.add_labels, body.drop_labels)
    limits = limits_for(console, body)
    return ImportPlan(
        shift=spec,
        retention_ms=limits.retention_ms,
        add_labels=added,
        drop_labels=dropped,
        chunk_bytes=body.chunk_kib << 10,
        verify=body.verify,
        verify_timeout_s=body.verify_timeout_s,
    )


@router.post("/api/import/start", response_model=ImportStatus, responses=ERRORS)
def import_start(body: ImportStartRequest, console: ConsoleDep) -> ImportStatus:
    """Check the target answers, then start importing; poll ``/api/import/status?id=<id>``."""
    reader = open_by_id(console, body.bundle_id)
    plan = build_plan(console, body)
    conn = Connection.from_config(body.connection)
    snap = console.jobs.submit(KIND, import_runner(reader, conn, plan))
    return _status(snap, reader.info.path.name)


@router.get("/api/import/status", response_model=ImportStatus, responses=ERRORS)
def import_status(console: ConsoleDep, id: str = Query(pattern=JOB_ID)) -> ImportStatus:
    """Progress (chunks and samples), ETA, and the result with its verification once done."""
    return _status(console.jobs.get(id))


@router.post("/api/import/cancel", response_model=ImportStatus, responses=ERRORS)
def import_cancel(body: ImportJobRef, console: ConsoleDep) -> ImportStatus:
    """Ask the job to stop after the chunk in flight (what was acknowledged stays)."""
    _status(console.jobs.get(body.job_id))
    return _status(console.jobs.cancel(body.job_id))


@router.post("/api/import/resume", response_model=ImportStatus, responses=ERRORS)
def import_resume(body: ImportJobRef, console: ConsoleDep) -> ImportStatus:
    """Continue a canceled or failed import from its last acknowledged chunk."""
    _status(console.jobs.get(body.job_id))
    return _status(console.jobs.resume(body.job_id))
