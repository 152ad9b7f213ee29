"""Exports: ``/api/export`` (synchronous, for scripts) and background export jobs.

The body of ``/api/export`` and ``/api/export/start`` is ``ExportRequest``, the same schema
as ``promkit gather export --config``, except that the console decides where files go: a
request may not name ``output_dir`` or ``staging_dir`` (the console writes bundles only to
its output directory and stages under its own staging root). The request is turned into an
``ExportSpec`` before the job starts, so an empty selection or a bad time range fails at
once with 400 instead of inside the job.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from promkit.bundle.config import ExportRequest, to_export_spec
from promkit.bundle.discovery import build_match
from promkit.bundle.export import ExportResult, ExportSpec, LocalContext, export_runner, run_export
from promkit.bundle.routes.deps import Console, ConsoleDep, error_responses
from promkit.core.errors import UsageError
from promkit.core.jobs import JobSnapshot
from promkit.core.tsdb import TSDBClient

__all__ = ["ExportStatus", "JobRef", "checked_spec", "router"]

router = APIRouter(tags=["export"])

ERRORS = error_responses(
    _400="bad request: settings, time range or an empty selection",
    _401="missing session token, or the server refused the credentials",
    _404="no such job (it may have expired)",
    _409="the job is in a state that does not allow this",
    _422="the selection matched no data, or the server rejected the query",
    _502="server unreachable or answered with an error",
)
JOB_ID = r"^[A-Za-z0-9_.-]{1,128}$"


class JobRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(pattern=JOB_ID)


class ExportStatus(JobSnapshot):
    """A job's status; ``result`` (when completed) is the bundle, ``archive_name`` its file."""

    result: ExportResult | None = None
    archive_name: str | None = None


def _status(snap: JobSnapshot) -> ExportStatus:
    data = snap.model_dump()
    raw = data.pop("result")
    result = ExportResult.model_validate(raw) if raw else None
    name = Path(result.bundle_path).name if result else None
    return ExportStatus(**data, result=result, archive_name=name)


def checked_spec(console: Console, request: ExportRequest, client: TSDBClient) -> ExportSpec:
    """``request`` as an ``ExportSpec``; refuses file locations the console does not own."""
    if request.output_dir is not None or request.staging_dir is not None:
        raise UsageError(
            "the console decides where bundles go: output_dir and staging_dir are not accepted",
            hint=f"bundles are written to {console.output_dir}; "
            "start `promkit ui --output DIR` for another place",
        )
    spec = to_export_spec(request, client=client)
    build_match(spec.mode, spec.jobs, spec.selector, spec.query)  # an empty selection fails now
    return spec


def _spec(console: Console, request: ExportRequest) -> ExportSpec:
    with console.client_factory(request.connection) as client:
        return checked_spec(console, request, client)


@router.post("/api/export", response_model=ExportResult, responses=ERRORS)
def export_now(body: ExportRequest, console: ConsoleDep) -> ExportResult:
    """Export synchronously and answer with the finished bundle (for scripts)."""
    spec = _spec(console, body)
    staging = console.settings.staging_root / f"sync-{secrets.token_hex(8)}"
    try:
        with console.client_factory(body.connection) as client:
            return run_export(client, spec, LocalContext(staging), output_dir=console.output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@router.post("/api/export/start", response_model=ExportStatus, responses=ERRORS)
def export_start(body: ExportRequest, console: ConsoleDep) -> ExportStatus:
    """Start an export job; poll ``/api/export/status?id=<job_id>``."""
    spec = _spec(console, body)
    connection = body.connection
    runner = export_runner(
        lambda: console.client_factory(connection), spec, output_dir=console.output_dir
    )
    return _status(console.jobs.submit("export", runner))


@router.get("/api/export/status", response_model=ExportStatus, responses=ERRORS)
def export_status(console: ConsoleDep, id: str = Query(pattern=JOB_ID)) -> ExportStatus:
    """Progress (windows and samples), ETA, and the bundle once completed."""
    return _status(console.jobs.get(id))


@router.post("/api/export/cancel", response_model=ExportStatus, responses=ERRORS)
def export_cancel(body: JobRef, console: ConsoleDep) -> ExportStatus:
    """Ask a pending or running job to stop after its current window."""
    return _status(console.jobs.cancel(body.job_id))


@router.post("/api/export/resume", response_model=ExportStatus, responses=ERRORS)
def export_resume(body: JobRef, console: ConsoleDep) -> ExportStatus:
    """Continue a canceled or failed job from its last complete window."""
    return _status(console.jobs.resume(body.job_id))
