"""``promkit import``: preflight and replay of support bundles into VictoriaMetrics.

Connection, auth and TLS flags are declared once in ``promkit.core.connection_options``
(shared with ``promkit gather``); secrets come from an environment variable, a file or a
prompt, never from argv.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from promkit.bundle.alignment import ShiftSpec, parse_label_edits
from promkit.bundle.preflight import (
    PreflightReport,
    TargetLimits,
    human_duration,
    run_preflight,
    target_limits,
)
from promkit.bundle.reader import open_bundle
from promkit.bundle.upload import (
    ImportContext,
    ImportPlan,
    ImportResult,
    import_fingerprint,
    import_runner,
)
from promkit.core.connection import Connection
from promkit.core.connection_options import (
    PANEL_CONNECTION,
    AuthFlags,
    BearerEnvOpt,
    BearerFileOpt,
    CaFileOpt,
    HeaderEnvOpt,
    HeaderFileOpt,
    HeaderNameOpt,
    InsecureOpt,
    PasswordEnvOpt,
    PasswordFileOpt,
    TenantOpt,
    UsernameOpt,
    connection_config,
)
from promkit.core.console import print_json, stderr
from promkit.core.errors import CanceledError, PromkitError, UpstreamError
from promkit.core.jobs import CHECKPOINT_NAME, JobManager, JobState
from promkit.core.tsdb import TSDBClient

app = typer.Typer(
    name="import",
    help="Check and replay support bundles (promkit, vmgather, .jsonl) into VictoriaMetrics.",
    no_args_is_help=True,
    add_completion=False,
)

_DATA = "Data"

Bundle = Annotated[Path, typer.Argument(help="Bundle .zip, .jsonl or .jsonl.gz file.")]
Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Target, e.g. http://localhost:8428, http://vminsert:8480/insert/0/prometheus or "
        "https://vmauth/1011/rw/prometheus.",
        rich_help_panel=PANEL_CONNECTION,
    ),
]
Timeout = Annotated[
    float,
    typer.Option("--timeout", min=0.1, help="Seconds per step.", rich_help_panel=PANEL_CONNECTION),
]
Shift = Annotated[
    str,
    typer.Option(
        "--shift",
        help="none, now (last sample at now), align=<time> (first sample at time), or a "
        "duration like 2h, -30m, +7d.",
        rich_help_panel=_DATA,
    ),
]
AddLabel = Annotated[
    list[str] | None,
    typer.Option(
        "--add-label", metavar="K=V", help="Add a label (repeatable).", rich_help_panel=_DATA
    ),
]
DropLabel = Annotated[
    list[str] | None,
    typer.Option(
        "--drop-label", metavar="K", help="Drop a label (repeatable).", rich_help_panel=_DATA
    ),
]
Retention = Annotated[
    str | None,
    typer.Option(
        "--retention",
        help="Target retention (VictoriaMetrics syntax: 1 = one month, 30d, 1y); default: the "
        "target's retentionPeriod flag.",
        rich_help_panel=_DATA,
    ),
]
MaxLabels = Annotated[
    int | None,
    typer.Option("--max-labels", help="Target label limit override.", rich_help_panel=_DATA),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _connection(
    url: str,
    tenant: str | None,
    insecure: bool,
    ca_file: str | None,
    timeout: float,
    auth: AuthFlags,
) -> Connection:
    return Connection.from_config(
        connection_config(
            url, tenant=tenant, insecure=insecure, ca_file=ca_file, timeout=timeout, auth=auth
        )
    )


def _limits(conn: Connection | None, retention: str | None, max_labels: int | None) -> TargetLimits:
    flags: dict[str, str] = {}
    if conn is not None:
        with TSDBClient(conn) as client:
            flags = client.flags()
    return target_limits(flags, retention=retention, max_labels=max_labels)


def _print_report(r: PreflightReport) -> None:
    rows = [
        ("bundle", f"{r.bundle['path']} ({r.bundle['kind']})"),
        ("checksum", "verified" if r.bundle.get("checksum_verified") else "none in bundle"),
        ("lines", f"{r.lines} ({r.bad_lines} not series)"),
        ("series", f"{r.series}{'' if r.series_exact else '+'}"),
        ("samples", f"{r.samples} ({r.skipped_points} points unusable, {r.nan_points} NaN)"),
        ("range", f"{r.first or '-'} .. {r.last or '-'}"),
        ("labels", f"{r.label_names} names, at most {r.max_labels_seen} per series"),
        ("label limit", f"{r.target.max_labels or 'unknown'} ({r.target.max_labels_source})"),
        (
            "retention",
            f"{human_duration(r.target.retention_ms)} ({r.target.retention_source})"
            if r.target.retention_ms is not None
            else "unknown",
        ),
        ("shift", f"{r.shift_mode} ({human_duration(r.shift_ms)})"),
        ("outside", f"{r.samples_outside_retention} samples would be dropped"),
    ]
    if r.suggested_shift_ms is not None:
        rows.append(("suggested", f"--shift now ({human_duration(r.suggested_shift_ms)})"))
    for name, value in rows:
        typer.echo(f"{name + ':':<13}{value}")
    top = ", ".join(f"{s.name}={s.series}" for s in r.label_stats[:10])
    typer.echo(f"{'top labels:':<13}{top}")
    for warning in r.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}")


@app.command()
def preflight(
    bundle: Bundle,
    url: Url = None,
    shift: Shift = "none",
    add_label: AddLabel = None,
    drop_label: DropLabel = None,
    retention: Retention = None,
    max_labels: MaxLabels = None,
    tenant: TenantOpt = None,
    insecure: InsecureOpt = False,
    ca_file: CaFileOpt = None,
    timeout: Timeout = 30.0,
    username: UsernameOpt = None,
    password_env: PasswordEnvOpt = None,
    password_file: PasswordFileOpt = None,
    bearer_token_env: BearerEnvOpt = None,
    bearer_token_file: BearerFileOpt = None,
    header_name: HeaderNameOpt = None,
    header_value_env: HeaderEnvOpt = None,
    header_value_file: HeaderFileOpt = None,
    as_json: AsJson = False,
) -> None:
    """Scan a bundle and tell what an import into the target would do (nothing is sent).

    Examples:

        promkit import preflight bundle.zip --url http://localhost:8428

        promkit import preflight old.jsonl.gz --url http://localhost:8428 --shift now --json
    """
    reader = open_bundle(bundle)
    added, dropped = parse_label_edits(add_label or [], drop_label or [])
    now = int(time.time() * 1000)
    spec = ShiftSpec.parse(shift, now_ms=now)
    conn = None
    if url:
        conn = _connection(url, tenant, insecure, ca_file, timeout, AuthFlags.of(locals()))
    limits = _limits(conn, retention, max_labels)
    report = run_preflight(
        reader, limits=limits, shift=spec, add_labels=added, drop_labels=dropped, now_ms=now
    )
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        _print_report(report)


def _state_dir(value: Path | None) -> Path:
    if value is not None:
        return value
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "promkit" / "import"


def _progress(manager: JobManager, job_id: str) -> None:
    """Follow the job on stderr: a bar on a terminal, a line every 10 s otherwise."""
    last_line = 0.0
    while True:
        snap = manager.wait(job_id, timeout=0.5)
        if snap.state not in (JobState.PENDING, JobState.RUNNING):
            return
        now = time.monotonic()
        if sys.stderr.isatty() or now - last_line >= 10:
            eta = f", ETA {snap.eta_seconds:.0f}s" if snap.eta_seconds is not None else ""
            line = (
                f"import: chunk {snap.completed_windows}/{snap.total_windows} "
                f"({snap.progress:.0%}), {snap.samples} samples{eta}"
            )
            if sys.stderr.isatty():
                stderr.print(line, end="\r")
            else:
                stderr.print(line)
            last_line = now


def _print_result(r: ImportResult) -> None:
    rows = [
        ("target", r.import_url + (f" (tenant {r.tenant_id})" if r.tenant_id else "")),
        ("chunks", f"{r.chunks} ({r.bytes_sent} bytes gzip, {r.retries} retries)"),
        ("samples", f"{r.samples_sent} sent, {r.dropped_retention} outside retention dropped"),
        ("skipped", f"{r.skipped_values} unusable points, {r.bad_lines} bad lines"),
        ("shift", human_duration(r.shift_ms)),
    ]
    if r.resumed_from_chunk:
        rows.append(("resumed", f"from chunk {r.resumed_from_chunk}"))
    if r.verification is not None:
        rows.append(("verified", r.verification.message))
    for name, value in rows:
        typer.echo(f"{name + ':':<10}{value}")


@app.command()
def run(
    bundle: Bundle,
    url: Annotated[
        str, typer.Option("--url", help="Target URL.", rich_help_panel=PANEL_CONNECTION)
    ],
    shift: Shift = "none",
    add_label: AddLabel = None,
    drop_label: DropLabel = None,
    retention: Retention = None,
    tenant: TenantOpt = None,
    insecure: InsecureOpt = False,
    ca_file: CaFileOpt = None,
    timeout: Timeout = 30.0,
    username: UsernameOpt = None,
    password_env: PasswordEnvOpt = None,
    password_file: PasswordFileOpt = None,
    bearer_token_env: BearerEnvOpt = None,
    bearer_token_file: BearerFileOpt = None,
    header_name: HeaderNameOpt = None,
    header_value_env: HeaderEnvOpt = None,
    header_value_file: HeaderFileOpt = None,
    chunk_mib: Annotated[
        float, typer.Option("--chunk-mib", min=0.001, help="Uncompressed MiB per POST.")
    ] = 4.0,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check the target afterwards.")
    ] = True,
    verify_url: Annotated[
        str | None,
        typer.Option("--verify-url", help="Query URL for the check (vmselect of a cluster)."),
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Where resume checkpoints live.")
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Ignore a checkpoint and start over.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Import a bundle: rewrite, shift, trim, upload in gzip chunks, verify.

    A failed or interrupted import resumes from the last acknowledged chunk when the same
    command runs again.

    Examples:

        promkit import run bundle.zip --url http://localhost:8428 --shift now

        VM_TOKEN=... promkit import run vmexport.zip --url https://vmauth/1011/rw/prometheus
        --bearer-token-env VM_TOKEN --add-label source=support --json
    """
    reader = open_bundle(bundle)
    added, dropped = parse_label_edits(add_label or [], drop_label or [])
    spec = ShiftSpec.parse(shift, now_ms=int(time.time() * 1000))
    auth = AuthFlags.of(locals())
    conn = _connection(url, tenant, insecure, ca_file, timeout, auth)
    vconn = _connection(verify_url, None, insecure, ca_file, timeout, auth) if verify_url else None
    limits = _limits(conn, retention, None)
    if limits.retention_ms is None:
        stderr.print(
            "[yellow]warning:[/] the target's retention is unknown; samples older than it are "
            "dropped by the server without being counted (pass --retention)"
        )
    plan = ImportPlan(
        shift=spec,
        retention_ms=limits.retention_ms,
        add_labels=added,
        drop_labels=dropped,
        chunk_bytes=max(1024, int(chunk_mib * (1 << 20))),
        verify=verify,
    )
    job_id = "import-" + import_fingerprint(reader, conn, plan.key(), str(plan.chunk_bytes))[:16]
    root = _state_dir(state_dir)
    if fresh:
        (root / job_id / CHECKPOINT_NAME).unlink(missing_ok=True)
    elif (root / job_id / CHECKPOINT_NAME).exists():
        stderr.print(f"resuming the earlier import of {bundle.name} (use --fresh to start over)")
    inner = import_runner(reader, conn, plan, verify_conn=vconn)
    failure: list[PromkitError] = []

    def runner(ctx: ImportContext) -> ImportResult:
        try:
            return inner(ctx)
        except PromkitError as exc:
            failure.append(exc)
            raise

    manager = JobManager(root, concurrency=1, retention_s=float("inf"))
    try:
        manager.submit("import", runner, job_id=job_id)
        try:
            _progress(manager, job_id)
        except KeyboardInterrupt:
            manager.cancel(job_id)
            manager.wait(job_id, timeout=30)
            raise CanceledError(
                "import interrupted", hint="run the same command again to resume"
            ) from None
        snap = manager.get(job_id)
    finally:
        manager.shutdown(cancel=True)
    if snap.state is not JobState.COMPLETED:
        if failure:
            raise failure[0]
        raise PromkitError(snap.error or "import failed", hint=snap.hint)
    result = ImportResult.model_validate(snap.result)
    shutil.rmtree(root / job_id, ignore_errors=True)  # done: nothing left to resume
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        _print_result(result)
    if result.verification is not None and not result.verification.verified:
        raise UpstreamError(
            f"the import finished but the target does not show it yet: "
            f"{result.verification.message}",
            hint="check again later or query the target; run with --no-verify to skip the check",
        )


__all__ = ["app", "preflight", "run"]
