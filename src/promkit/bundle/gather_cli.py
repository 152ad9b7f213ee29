"""``promkit gather``: the support-bundle exporter's command line.

Secrets never come from argv (other users see it in ``ps``, shells keep it in history):
they come from an environment variable, a file, or an interactive prompt.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from promkit.bundle.config import (
    to_export_spec,
)
from promkit.bundle.discovery import ComponentInfo, JobInfo, discover_components, discover_jobs
from promkit.bundle.gather_export import export
from promkit.bundle.gather_options import (
    PANEL_CONNECTION,
    PANEL_SELECTION,
    TIMEOUT_HELP,
    URL_HELP,
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
    JsonOpt,
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
    build_auth,
    build_request,
    print_notes,
    setup_logging,
    tsdb_client,
)
from promkit.bundle.preview import MAX_PREVIEW, build_preview
from promkit.core.connection_options import AuthFlags, connection_config
from promkit.core.console import print_json, stderr
from promkit.core.errors import (
    DataError,
    PromkitError,
)

app = typer.Typer(
    name="gather",
    help="Export an obfuscated support bundle from VictoriaMetrics or Prometheus.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def validate(
    url: Annotated[str, typer.Option("--url", help=URL_HELP, rich_help_panel=PANEL_CONNECTION)],
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
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, help=TIMEOUT_HELP, rich_help_panel=PANEL_CONNECTION),
    ] = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Check a connection: which server answers (flavour) and its version.

    Examples:

        promkit gather validate --url http://localhost:8428

        VM_PASSWORD=... promkit gather validate --url https://vmauth.example.com/1011/rw/prometheus
        --username support --password-env VM_PASSWORD --json
    """
    from promkit.bundle.app import validate_with_tsdb
    from promkit.core.web import error_body

    try:
        config = connection_config(
            url,
            tenant=tenant,
            insecure=insecure,
            ca_file=ca_file,
            timeout=timeout,
            auth=AuthFlags.of(locals()),
        )
        result = validate_with_tsdb(config)
    except PromkitError as exc:
        if as_json:
            print_json(error_body(exc))
        raise
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    typer.echo(result.message)
    rows = [
        ("flavour", result.flavour.value),
        ("version", result.version or "unknown"),
        ("endpoint", result.endpoint),
        ("tenant", result.tenant_id or "-"),
    ]
    for name, value in rows:
        typer.echo(f"{name + ':':<10}{value}")


def _fmt(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


@app.command()
def discover(
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
    selector: SelectorOpt = None,
    targets: Annotated[
        bool,
        typer.Option(
            "--targets",
            help="List scrape jobs from `up` (Prometheus) instead of VictoriaMetrics components.",
            rich_help_panel=PANEL_SELECTION,
        ),
    ] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """List the components and jobs in the time range, with instances and series estimates.

    Without --selector/--targets it lists VictoriaMetrics components (vmstorage, vminsert,
    vmselect, vmagent, vmalert, vmauth, vmsingle) from vm_app_version; when there are none it
    falls back to the scrape jobs of `up`.

    Examples:

        promkit gather discover --url http://localhost:8428 --start now-6h

        promkit gather discover --url http://prometheus:9090 --selector 'up{env="prod"}' --json
    """
    setup_logging(verbose)
    conn = ConnFlags.of(locals())
    request, notes = build_request(conn, Selection.of(locals(), mode="cluster"))
    print_notes(notes)
    start_ms, end_ms = request.time_range.to_ms()
    sel = selector or (request.selector if request.mode == "selector" else None)
    with tsdb_client(request) as client:
        components: list[ComponentInfo] = []
        if not sel and not targets:
            components = discover_components(client, start_ms, end_ms)
        jobs: list[JobInfo] = []
        if sel or targets or not components:
            jobs = discover_jobs(client, start_ms, end_ms, sel)
    if not components and not jobs:
        raise DataError(
            "nothing found in the time range: no VictoriaMetrics components and no jobs",
            hint="widen --start/--end, or pass --selector for the series you need",
        )
    if as_json:
        print_json(
            {
                "time_range": {"start_ms": start_ms, "end_ms": end_ms},
                "components": [
                    {
                        "component": c.component,
                        "instances": c.instances,
                        "series_estimate": c.series_estimate,
                        "jobs": [j.model_dump(mode="json") for j in c.jobs],
                    }
                    for c in components
                ],
                "jobs": [j.model_dump(mode="json") for j in jobs],
            }
        )
        return
    if not components and not (sel or targets):
        stderr.print("[dim]no VictoriaMetrics components in the range; scrape jobs of `up`:[/]")
    table = Table(box=None, pad_edge=False)
    for col in ("component", "job", "instances", "series"):
        table.add_column(col, justify="right" if col in ("instances", "series") else "left")
    rows = [(c.component, j) for c in components for j in c.jobs] or [
        (j.component, j) for j in jobs
    ]
    for comp, job in rows:
        table.add_row(comp, escape(job.job), str(job.instances), _fmt(job.series_estimate))
    Console(highlight=False).print(table)


@app.command()
def sample(
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
    obfuscate: ObfuscateOpt = None,
    keep_instance: KeepInstanceOpt = False,
    keep_job: KeepJobOpt = False,
    obfuscate_label: LabelOpt = None,
    drop_label: DropOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_PREVIEW, help="How many series.")
    ] = 10,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Preview up to --limit series at the end of the range, obfuscated as the export will be.

    Examples:

        promkit gather sample --url http://localhost:8428 --job vmstorage --obfuscate

        promkit gather sample --config export.json --limit 20 --json
    """
    setup_logging(verbose)
    conn = ConnFlags.of(locals())
    sel = Selection.of(locals())
    request, notes = build_request(conn, sel)
    print_notes(notes)
    with tsdb_client(request) as client:
        result = build_preview(client, to_export_spec(request, client=client), limit=limit)
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("series", overflow="fold")
    table.add_column("value", justify="right")
    for s in result.samples:
        table.add_row(escape(s.name), "-" if s.value is None else f"{s.value:g}")
    Console(highlight=False).print(table)


app.command(name="export")(export)

__all__ = [
    "ConnFlags",
    "Selection",
    "app",
    "build_auth",
    "build_request",
    "discover",
    "export",
    "sample",
    "validate",
]
