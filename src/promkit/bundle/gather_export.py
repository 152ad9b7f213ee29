"""``promkit gather export``: a bundle (or ``--stdout`` lines), progress, ``--resume``.

The command is registered on the ``gather`` app by ``promkit.bundle.gather_cli``. A stopped
export keeps its staging directory (the engine's staging file and checkpoint, plus
``export.json`` with the spec and the connection WITHOUT secrets); ``--resume`` reads it
back and asks for the secrets through the usual env/file/prompt flags.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from promkit.bundle.archive import new_export_id
from promkit.bundle.config import RequestConnection, to_export_spec
from promkit.bundle.export import ExportSpec, LocalContext, run_export, stream_export
from promkit.bundle.gather_options import (
    PANEL_OUTPUT,
    PANEL_SELECTION,
    BearerEnvOpt,
    BearerFileOpt,
    CaFileOpt,
    ComponentOpt,
    ConfigOpt,
    ConnFlags,
    DropOpt,
    EndOpt,
    HeaderEnvOpt,
    HeaderFileOpt,
    HeaderNameOpt,
    InsecureOpt,
    JobOpt,
    KeepInstanceOpt,
    KeepJobOpt,
    LabelOpt,
    ModeOpt,
    ObfuscateOpt,
    PasswordEnvOpt,
    PasswordFileOpt,
    QueryOpt,
    Selection,
    SelectorOpt,
    StartOpt,
    StepOpt,
    TenantOpt,
    TimeoutOpt,
    UrlOpt,
    UsernameOpt,
    VerboseOpt,
    build_request,
    print_notes,
    setup_logging,
    tsdb_client,
)
from promkit.core.connection import Connection
from promkit.core.console import print_json, stderr
from promkit.core.errors import (
    CanceledError,
    DataError,
    NotFoundError,
    PromkitError,
    UsageError,
)
from promkit.core.tsdb import TSDBClient

__all__ = ["STATE_NAME", "export"]

STATE_NAME = "export.json"  # beside the engine's checkpoint: what --resume needs (no secrets)
_SECRET_FIELDS = {"auth": {"password", "token", "header_value"}}


class _Progress:
    """A rich bar on a terminal; otherwise at most one plain line per tenth of the windows."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.last_tenth = -1
        if stderr.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("windows · {task.fields[samples]} samples"),
                TimeRemainingColumn(),
                console=stderr,
            )

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=None, samples="0")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, done: int, total: int, samples: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done, total=total, samples=f"{samples:,}")
            return
        tenth = done * 10 // total if total else 10
        if tenth > self.last_tenth:
            self.last_tenth = tenth
            stderr.print(f"{self.label}: window {done}/{total}, {samples:,} samples", markup=False)


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (another export staged there) or gone
        directory.rmdir()


def _find_staging(resume: str, base: Path) -> Path:
    for candidate in (Path(resume), base / resume):
        if (candidate / STATE_NAME).is_file():
            return candidate
    raise NotFoundError(
        f"no resumable export at {resume!r} (looked for {STATE_NAME} in it and under {base})",
        hint="pass the staging directory or export id printed when the export stopped",
    )


def _resume_state(
    resume: str, base: Path, conn: ConnFlags
) -> tuple[Path, dict[str, Any], ExportSpec]:
    staging = _find_staging(resume, base)
    try:
        state: dict[str, Any] = json.loads((staging / STATE_NAME).read_text(encoding="utf-8"))
        spec = ExportSpec.model_validate(state["spec"])
        saved_conn: dict[str, Any] = dict(state["connection"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"cannot read {staging / STATE_NAME}: {exc}",
            hint="the staging directory is damaged; start the export again",
        ) from None
    saved_auth = dict(saved_conn.get("auth") or {})
    if saved_auth.get("type", "none") != "none" and not conn.auth_given():
        raise UsageError(
            f"the export used {saved_auth['type']} authentication; its secret is not stored",
            hint="pass the same --password-env/--password-file (or token/header flags) again",
        )
    if conn.username is None and saved_auth.get("username"):
        conn.username = str(saved_auth["username"])
    state["connection"] = conn.apply(saved_conn)
    return staging, state, spec


def export(
    url: UrlOpt = None,
    username: UsernameOpt = None,
    password_env: PasswordEnvOpt = None,
    password_file: PasswordFileOpt = None,
    bearer_token_env: BearerEnvOpt = None,
    bearer_token_file: BearerFileOpt = None,
    header_name: HeaderNameOpt = None,
    header_value_env: HeaderEnvOpt = None,
    header_value_file: HeaderFileOpt = None,
    tenant: TenantOpt = None,
    insecure: InsecureOpt = False,
    ca_file: CaFileOpt = None,
    timeout: TimeoutOpt = None,
    config: ConfigOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    mode: ModeOpt = None,
    job: JobOpt = None,
    component: ComponentOpt = None,
    selector: SelectorOpt = None,
    query: QueryOpt = None,
    step: StepOpt = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="Time window per request, 30s..24h [default: auto].",
            rich_help_panel=PANEL_SELECTION,
        ),
    ] = None,
    no_batching: Annotated[
        bool,
        typer.Option(
            "--no-batching",
            help="As few windows as possible (max 24h each).",
            rich_help_panel=PANEL_SELECTION,
        ),
    ] = False,
    obfuscate: ObfuscateOpt = None,
    keep_instance: KeepInstanceOpt = False,
    keep_job: KeepJobOpt = False,
    obfuscate_label: LabelOpt = None,
    drop_label: DropOpt = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Bundle directory [default: ./exports].",
            rich_help_panel=PANEL_OUTPUT,
        ),
    ] = None,
    staging_dir: Annotated[
        str | None,
        typer.Option(
            "--staging-dir",
            metavar="DIR",
            help="Where fetched windows wait [default: <output>/.staging].",
            rich_help_panel=PANEL_OUTPUT,
        ),
    ] = None,
    to_stdout: Annotated[
        bool,
        typer.Option(
            "--stdout",
            help="Stream JSON lines to stdout (no bundle); all diagnostics go to stderr.",
            rich_help_panel=PANEL_OUTPUT,
        ),
    ] = False,
    save_mapping: Annotated[
        str | None,
        typer.Option(
            "--save-mapping",
            metavar="FILE",
            help="Write original→obfuscated names here (never into the bundle).",
            rich_help_panel=PANEL_OUTPUT,
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="DIR|ID",
            help="Continue a stopped export from its "
            "staging directory (or export id); pass the auth flags again.",
            rich_help_panel=PANEL_OUTPUT,
        ),
    ] = None,
    cancel_after_windows: Annotated[int | None, typer.Option(hidden=True)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Export the selection into an obfuscated, verified bundle (ZIP + .sha256), or to stdout.

    Examples:

        promkit gather export --url http://localhost:8428 --component vmstorage --obfuscate

        promkit gather export --url http://localhost:8428 --selector 'up{job="node"}' --stdout

        promkit gather export --config export.json --output /tmp/bundles --json

        promkit gather export --resume exports/.staging/export-20260101T000000Z-ab12
    """
    setup_logging(verbose)
    conn = ConnFlags.of(locals())
    mapping_path = Path(save_mapping) if save_mapping else None
    if to_stdout and (resume or mapping_path):
        raise UsageError(
            "--stdout cannot be combined with --resume or --save-mapping",
            hint="write a bundle (drop --stdout) to resume or keep the mapping",
        )
    if resume:
        base = Path(staging_dir or Path(output or "exports") / ".staging")
        staging, state, spec = _resume_state(resume, base, conn)
        connection = RequestConnection.model_validate(state["connection"])
        output_dir = Path(output or state.get("output_dir") or "exports").resolve()
        if mapping_path is None and state.get("save_mapping"):
            mapping_path = Path(state["save_mapping"])
        stderr.print(f"resuming export {spec.export_id} from {staging}", markup=False)
    else:
        batching: dict[str, Any] = {}
        if window is not None:
            batching["window"] = window
        if no_batching:
            batching["enabled"] = False
        sel = Selection.of(locals(), batching=batching)
        request, notes = build_request(conn, sel)
        print_notes(notes)
        connection = request.connection
        output_dir = Path(output or request.output_dir or "exports").resolve()
        with tsdb_client(request) as client:
            spec = to_export_spec(request, client=client, export_id=new_export_id())
            if to_stdout:
                try:
                    counts = stream_export(client, spec, sys.stdout.buffer)
                except BrokenPipeError:  # `| head`: the reader has enough; stop like `cat`
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    raise typer.Exit(141) from None
                summary = {
                    "series": counts.series,
                    "samples": counts.samples,
                    "lines": counts.lines,
                }
                if counts.lines == 0:
                    raise DataError(
                        "the selection matched no samples in the chosen time range",
                        hint="check the time range, jobs or selector",
                    )
                stderr.print(
                    f"exported {counts.series:,} series, {counts.samples:,} samples to stdout",
                    markup=False,
                )
                if as_json:
                    stderr.print_json(data=summary)
                return
        base = Path(staging_dir or request.staging_dir or output_dir / ".staging")
        staging = base / str(spec.export_id)
        staging.mkdir(parents=True, exist_ok=True)
        state = {
            "spec": spec.model_dump(mode="json"),
            "connection": connection.model_dump(mode="json", exclude=_SECRET_FIELDS),
            "output_dir": str(output_dir.resolve()),
            "save_mapping": str(mapping_path.resolve()) if mapping_path else None,
        }
        (staging / STATE_NAME).write_text(json.dumps(state, indent=2), encoding="utf-8")
    resume_cmd = f"promkit gather export --resume {staging}"
    try:
        with TSDBClient(Connection.from_config(connection)) as client, _Progress("export") as bar:
            ctx = LocalContext(staging, on_window=bar, cancel_after_windows=cancel_after_windows)
            result = run_export(client, spec, ctx, output_dir=output_dir, save_mapping=mapping_path)
    except (UsageError, DataError):
        shutil.rmtree(staging, ignore_errors=True)  # nothing worth resuming
        _remove_if_empty(staging.parent)
        raise
    except (PromkitError, KeyboardInterrupt) as exc:
        # one unwrapped line, so the command can be copied from the terminal or a log
        stderr.print(
            f"the fetched windows are kept; continue with: {resume_cmd}",
            markup=False,
            soft_wrap=True,
        )
        if isinstance(exc, KeyboardInterrupt | CanceledError):
            raise CanceledError(
                "the export was interrupted",
                hint="resume it with --resume (pass the auth flags again)",
            ) from None
        raise
    _remove_if_empty(staging.parent)
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    rows = [
        ("bundle", result.bundle_path),
        ("sha256", f"{result.sha256}  ({result.sha256_path})"),
        ("size", f"{result.size_bytes:,} bytes"),
        ("series", f"{result.counts.series:,}"),
        ("samples", f"{result.counts.samples:,}"),
        ("windows", f"{result.windows} via {result.source_api}"),
    ]
    if result.mapping_path:
        rows.append(("mapping", f"{result.mapping_path} (keep it; do not send it)"))
    for name, value in rows:
        typer.echo(f"{name + ':':<9}{value}")
