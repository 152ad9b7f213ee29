"""Options shared by the ``promkit gather`` commands, and flags → ``ExportRequest``.

Secrets never come from argv (other users see it in ``ps``, shells keep it in history):
they come from an environment variable, a file, or an interactive prompt.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.markup import escape

from promkit.bundle.config import ExportRequest, load_config, parse_request
from promkit.core.connection import Auth, AuthType, Connection
from promkit.core.console import read_secret, stderr
from promkit.core.errors import UsageError
from promkit.core.tsdb import TSDBClient

PANEL_AUTH = "Authentication (secrets: env var, file or prompt; never argv)"
PANEL_CONNECTION = "Connection"

URL_HELP = "Server URL, e.g. http://localhost:8428 or http://vmselect:8481/select/0/prometheus."
TIMEOUT_HELP = "Seconds of inactivity allowed per request step (never a cap on a whole stream)."

UsernameOpt = Annotated[
    str | None, typer.Option("--username", help="Basic-auth user.", rich_help_panel=PANEL_AUTH)
]
PasswordEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--password-env",
        metavar="VAR",
        help="Env var with the password.",
        rich_help_panel=PANEL_AUTH,
    ),
]
PasswordFileOpt = Annotated[
    str | None,
    typer.Option(
        "--password-file",
        metavar="FILE",
        help="File with the password.",
        rich_help_panel=PANEL_AUTH,
    ),
]
BearerEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--bearer-token-env",
        metavar="VAR",
        help="Env var with a bearer token.",
        rich_help_panel=PANEL_AUTH,
    ),
]
BearerFileOpt = Annotated[
    str | None,
    typer.Option(
        "--bearer-token-file",
        metavar="FILE",
        help="File with a bearer token.",
        rich_help_panel=PANEL_AUTH,
    ),
]
HeaderNameOpt = Annotated[
    str | None,
    typer.Option("--header-name", help="Custom auth header name.", rich_help_panel=PANEL_AUTH),
]
HeaderEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--header-value-env",
        metavar="VAR",
        help="Env var with the header value.",
        rich_help_panel=PANEL_AUTH,
    ),
]
HeaderFileOpt = Annotated[
    str | None,
    typer.Option(
        "--header-value-file",
        metavar="FILE",
        help="File with the header value.",
        rich_help_panel=PANEL_AUTH,
    ),
]
TenantOpt = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        help="Cluster tenant: ACCOUNT or ACCOUNT:PROJECT.",
        rich_help_panel=PANEL_CONNECTION,
    ),
]
InsecureOpt = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Skip TLS certificate checks (test servers only).",
        rich_help_panel=PANEL_CONNECTION,
    ),
]
CaFileOpt = Annotated[
    str | None,
    typer.Option(
        "--ca-file", help="PEM file with the CA to trust.", rich_help_panel=PANEL_CONNECTION
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _secret(
    what: str, *, env: str | None, file: str | None, flag_env: str, flag_file: str
) -> SecretStr:
    """Read a secret the user asked for; fail with a hint when it is not there."""
    if env and file:
        raise UsageError(
            f"{what}: give either {flag_env} or {flag_file}, not both",
            hint=f"keep one source for the {what}",
        )
    if env and not os.environ.get(env):
        raise UsageError(
            f"{what}: environment variable {env} is not set or empty",
            hint=f"export {env}=... first, or use {flag_file} FILE",
        )
    value = read_secret(env=env, file=file, prompt=what.capitalize())
    if value is None:
        raise UsageError(
            f"no {what} given",
            hint=f"pass {flag_env} VAR or {flag_file} FILE (or run in a terminal to be prompted)",
        )
    return value


def build_auth(
    *,
    username: str | None,
    password_env: str | None,
    password_file: str | None,
    bearer_token_env: str | None,
    bearer_token_file: str | None,
    header_name: str | None,
    header_value_env: str | None,
    header_value_file: str | None,
) -> Auth:
    """The ``Auth`` the flags describe (at most one kind)."""
    kinds = [
        name
        for name, used in (
            ("basic", bool(username or password_env or password_file)),
            ("bearer", bool(bearer_token_env or bearer_token_file)),
            ("header", bool(header_name or header_value_env or header_value_file)),
        )
        if used
    ]
    if len(kinds) > 1:
        raise UsageError(
            f"conflicting authentication flags: {' and '.join(kinds)}",
            hint="use one of --username (basic), --bearer-token-* or --header-name",
        )
    if not kinds:
        return Auth()
    if kinds == ["basic"]:
        if not username:
            raise UsageError("a password was given without --username", hint="add --username NAME")
        password = _secret(
            "password",
            env=password_env,
            file=password_file,
            flag_env="--password-env",
            flag_file="--password-file",
        )
        return Auth(type=AuthType.BASIC, username=username, password=password)
    if kinds == ["bearer"]:
        token = _secret(
            "bearer token",
            env=bearer_token_env,
            file=bearer_token_file,
            flag_env="--bearer-token-env",
            flag_file="--bearer-token-file",
        )
        return Auth(type=AuthType.BEARER, token=token)
    if not header_name:
        raise UsageError(
            "a header value was given without --header-name", hint="add --header-name NAME"
        )
    value = _secret(
        "header value",
        env=header_value_env,
        file=header_value_file,
        flag_env="--header-value-env",
        flag_file="--header-value-file",
    )
    return Auth(type=AuthType.HEADER, header_name=header_name, header_value=value)


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
class ConnFlags:
    url: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    header_name: str | None = None
    header_value_env: str | None = None
    header_value_file: str | None = None
    tenant: str | None = None
    insecure: bool = False
    ca_file: str | None = None
    timeout: float | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> ConnFlags:
        """Pick this class's fields from a command's ``locals()``."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def auth_given(self) -> bool:
        return any(
            (
                self.username,
                self.password_env,
                self.password_file,
                self.bearer_token_env,
                self.bearer_token_file,
                self.header_name,
                self.header_value_env,
                self.header_value_file,
            )
        )

    def apply(self, base: dict[str, Any] | None) -> dict[str, Any]:
        """The connection dict: ``base`` (config file or resume state) overridden by flags."""
        conn = dict(base or {})
        if self.url:
            conn["url"] = self.url
        if not conn.get("url"):
            raise UsageError("no server URL", hint="pass --url URL or --config export.json")
        if self.auth_given():
            auth = build_auth(
                username=self.username,
                password_env=self.password_env,
                password_file=self.password_file,
                bearer_token_env=self.bearer_token_env,
                bearer_token_file=self.bearer_token_file,
                header_name=self.header_name,
                header_value_env=self.header_value_env,
                header_value_file=self.header_value_file,
            )
            conn["auth"] = auth.model_dump()
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
