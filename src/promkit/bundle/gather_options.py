"""Options shared by the ``promkit gather`` commands, and flags → ``ExportRequest``.

The connection/auth/TLS flags and ``build_auth`` are declared once in
``promkit.core.connection_options`` (shared with ``promkit import``) and re-exported here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Annotated, Any

import typer
from rich.markup import escape

from promkit.bundle.config import ExportRequest, load_config, parse_request
from promkit.core.connection import Connection
from promkit.core.connection_options import (
    PANEL_AUTH,
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
    build_auth,
)
from promkit.core.console import stderr
from promkit.core.errors import UsageError
from promkit.core.tsdb import TSDBClient

URL_HELP = "Server URL, e.g. http://localhost:8428 or http://vmselect:8481/select/0/prometheus."
TIMEOUT_HELP = "Seconds of inactivity allowed per request step (never a cap on a whole stream)."

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


PANEL_SELECTION = "Selection"
PANEL_OBFUSCATION = "Obfuscation"
PANEL_OUTPUT = "Output"

UrlOpt = Annotated[
    str | None, typer.Option("--url", help=URL_HELP, rich_help_panel=PANEL_CONNECTION)
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout", min=0.1, help=TIMEOUT_HELP + " [default: 30]", rich_help_panel=PANEL_CONNECTION
    ),
]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="export.json (the web API's schema, or vmgather's oneshot config); '-' = stdin. "
        "Flags override it.",
        rich_help_panel=PANEL_SELECTION,
    ),
]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start",
        help="RFC3339, unix seconds or now-1h [default: now-1h].",
        rich_help_panel=PANEL_SELECTION,
    ),
]
EndOpt = Annotated[
    str | None,
    typer.Option(
        "--end", help="Inclusive end, same forms [default: now].", rich_help_panel=PANEL_SELECTION
    ),
]
ModeOpt = Annotated[
    str | None,
    typer.Option(
        "--mode",
        help="cluster (jobs/components), selector or query [default: cluster].",
        rich_help_panel=PANEL_SELECTION,
    ),
]
JobOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--job",
        help="A job to export (repeat; matched literally).",
        rich_help_panel=PANEL_SELECTION,
    ),
]
ComponentOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--component",
        help="Every job of a component, e.g. vmstorage (repeat).",
        rich_help_panel=PANEL_SELECTION,
    ),
]
SelectorOpt = Annotated[
    str | None,
    typer.Option(
        "--selector", help='Series selector, e.g. up{env="prod"}.', rich_help_panel=PANEL_SELECTION
    ),
]
QueryOpt = Annotated[
    str | None,
    typer.Option(
        "--query", help="PromQL/MetricsQL for query mode.", rich_help_panel=PANEL_SELECTION
    ),
]
StepOpt = Annotated[
    str | None,
    typer.Option(
        "--step",
        help="query_range step, e.g. 30s (query mode, Prometheus).",
        rich_help_panel=PANEL_SELECTION,
    ),
]
ObfuscateOpt = Annotated[
    bool | None,
    typer.Option(
        "--obfuscate/--no-obfuscate",
        help="Obfuscate instances, jobs, IPs and tenants [default: off].",
        rich_help_panel=PANEL_OBFUSCATION,
    ),
]
KeepInstanceOpt = Annotated[
    bool,
    typer.Option(
        "--keep-instance",
        help="Leave instance labels as they are.",
        rich_help_panel=PANEL_OBFUSCATION,
    ),
]
KeepJobOpt = Annotated[
    bool,
    typer.Option(
        "--keep-job", help="Leave job labels as they are.", rich_help_panel=PANEL_OBFUSCATION
    ),
]
LabelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--obfuscate-label",
        help="Also obfuscate this label (repeat).",
        rich_help_panel=PANEL_OBFUSCATION,
    ),
]
DropOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--drop-label",
        help="Remove this label from every series (repeat).",
        rich_help_panel=PANEL_OBFUSCATION,
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log every request (to stderr; secrets redacted).")
]


@dataclass
class ConnFlags(AuthFlags):
    """The connection flags of a gather command: the shared auth flags plus these."""

    url: str | None = None
    tenant: str | None = None
    insecure: bool = False
    ca_file: str | None = None
    timeout: float | None = None

    def auth_given(self) -> bool:
        return self.given()

    def apply(self, base: dict[str, Any] | None) -> dict[str, Any]:
        """The connection dict: ``base`` (config file or resume state) overridden by flags."""
        conn = dict(base or {})
        if self.url:
            conn["url"] = self.url
        if not conn.get("url"):
            raise UsageError("no server URL", hint="pass --url URL or --config export.json")
        if self.given():
            conn["auth"] = self.build().model_dump()
        for key, value in (("tenant_id", self.tenant), ("ca_file", self.ca_file)):
            if value is not None:
                conn[key] = value
        if self.timeout is not None:
            conn["timeout_seconds"] = self.timeout
        if self.insecure:
            conn["skip_tls_verify"] = True
        if conn.get("skip_tls_verify"):
            stderr.print("[yellow]warning:[/] TLS certificate checks are off")
        return conn


@dataclass
class Selection:
    """The selection/obfuscation flags of a command (names as the command's parameters)."""

    config: str | None = None
    start: str | None = None
    end: str | None = None
    mode: str | None = None
    job: list[str] | None = None
    component: list[str] | None = None
    selector: str | None = None
    query: str | None = None
    step: str | None = None
    obfuscate: bool | None = None
    keep_instance: bool = False
    keep_job: bool = False
    obfuscate_label: list[str] | None = None
    drop_label: list[str] | None = None
    batching: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Mapping[str, Any], **override: Any) -> Selection:
        """Pick this class's fields from a command's ``locals()``."""
        names = {f.name for f in fields(cls)}
        return cls(**({k: v for k, v in values.items() if k in names} | override))


def build_request(conn: ConnFlags, sel: Selection) -> tuple[ExportRequest, list[str]]:
    """Flags (and ``--config``) → one validated ``ExportRequest`` plus conversion notes."""
    notes: list[str] = []
    data: dict[str, Any] = {}
    if sel.config:
        loaded, notes = load_config(sel.config)
        data = loaded.model_dump(exclude_unset=True)
        data["connection"] = loaded.connection.model_dump(exclude_unset=True)
        data["connection"]["auth"] = loaded.connection.auth.model_dump(exclude_unset=True)
    data["connection"] = conn.apply(data.get("connection"))
    time_range = dict(data.get("time_range") or {"start": "now-1h", "end": "now"})
    if sel.start is not None:
        time_range["start"] = sel.start
    if sel.end is not None:
        time_range["end"] = sel.end
    data["time_range"] = time_range
    for key, value in (
        ("mode", sel.mode),
        ("selector", sel.selector),
        ("query", sel.query),
        ("step", sel.step),
        ("jobs", sel.job or None),
        ("components", sel.component or None),
    ):
        if value is not None:
            data[key] = value
    if sel.mode is None and "mode" not in data:
        data["mode"] = "query" if sel.query else "selector" if sel.selector else "cluster"
    obf = dict(data.get("obfuscation") or {})
    if sel.obfuscate is not None:
        obf["enabled"] = sel.obfuscate
    if sel.keep_instance:
        obf["instance"] = False
    if sel.keep_job:
        obf["job"] = False
    if sel.obfuscate_label:
        obf["custom_labels"] = sel.obfuscate_label
    if sel.drop_label:
        obf["drop_labels"] = sel.drop_label
    data["obfuscation"] = obf
    if sel.batching:
        data["batching"] = dict(data.get("batching") or {}) | sel.batching
    return parse_request(data, source="options"), notes


def tsdb_client(request: ExportRequest) -> TSDBClient:
    return TSDBClient(Connection.from_config(request.connection))


def setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    root = logging.getLogger("promkit")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def print_notes(notes: list[str]) -> None:
    for note in notes:
        stderr.print(f"[dim]note:[/] {escape(note)}")


__all__ = [
    "PANEL_AUTH",
    "PANEL_CONNECTION",
    "PANEL_OBFUSCATION",
    "PANEL_OUTPUT",
    "PANEL_SELECTION",
    "TIMEOUT_HELP",
    "URL_HELP",
    "BearerEnvOpt",
    "BearerFileOpt",
    "CaFileOpt",
    "ComponentOpt",
    "ConfigOpt",
    "ConnFlags",
    "DropOpt",
    "EndOpt",
    "HeaderEnvOpt",
    "HeaderFileOpt",
    "HeaderNameOpt",
    "InsecureOpt",
    "JobOpt",
    "JsonOpt",
    "KeepInstanceOpt",
    "KeepJobOpt",
    "LabelOpt",
    "ModeOpt",
    "ObfuscateOpt",
    "PasswordEnvOpt",
    "PasswordFileOpt",
    "QueryOpt",
    "Selection",
    "SelectorOpt",
    "StartOpt",
    "StepOpt",
    "TenantOpt",
    "TimeoutOpt",
    "UrlOpt",
    "UsernameOpt",
    "VerboseOpt",
    "build_auth",
    "build_request",
    "print_notes",
    "setup_logging",
    "tsdb_client",
]
