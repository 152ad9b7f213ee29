"""``promkit gather``: the support-bundle exporter's command line.

Secrets never come from argv (other users see it in ``ps``, shells keep it in history):
they come from an environment variable, a file, or an interactive prompt.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import SecretStr

from promkit.core.connection import Auth, AuthType, ConnectionConfig
from promkit.core.console import print_json, read_secret, stderr
from promkit.core.errors import PromkitError, UsageError

app = typer.Typer(
    name="gather",
    help="Export an obfuscated support bundle from VictoriaMetrics or Prometheus.",
    no_args_is_help=True,
    add_completion=False,
)

_AUTH = "Authentication (secrets: env var, file or prompt; never argv)"
_CONN = "Connection"


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


@app.command()
def validate(
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="Server URL, e.g. http://localhost:8428 or "
            "http://vmselect:8481/select/0/prometheus.",
            rich_help_panel=_CONN,
        ),
    ],
    username: Annotated[
        str | None, typer.Option("--username", help="Basic-auth user.", rich_help_panel=_AUTH)
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            metavar="VAR",
            help="Env var with the password.",
            rich_help_panel=_AUTH,
        ),
    ] = None,
    password_file: Annotated[
        str | None,
        typer.Option(
            "--password-file", metavar="FILE", help="File with the password.", rich_help_panel=_AUTH
        ),
    ] = None,
    bearer_token_env: Annotated[
        str | None,
        typer.Option(
            "--bearer-token-env",
            metavar="VAR",
            help="Env var with a bearer token.",
            rich_help_panel=_AUTH,
        ),
    ] = None,
    bearer_token_file: Annotated[
        str | None,
        typer.Option(
            "--bearer-token-file",
            metavar="FILE",
            help="File with a bearer token.",
            rich_help_panel=_AUTH,
        ),
    ] = None,
    header_name: Annotated[
        str | None,
        typer.Option("--header-name", help="Custom auth header name.", rich_help_panel=_AUTH),
    ] = None,
    header_value_env: Annotated[
        str | None,
        typer.Option(
            "--header-value-env",
            metavar="VAR",
            help="Env var with the header value.",
            rich_help_panel=_AUTH,
        ),
    ] = None,
    header_value_file: Annotated[
        str | None,
        typer.Option(
            "--header-value-file",
            metavar="FILE",
            help="File with the header value.",
            rich_help_panel=_AUTH,
        ),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant", help="Cluster tenant: ACCOUNT or ACCOUNT:PROJECT.", rich_help_panel=_CONN
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Skip TLS certificate checks (test servers only).",
            rich_help_panel=_CONN,
        ),
    ] = False,
    ca_file: Annotated[
        str | None,
        typer.Option("--ca-file", help="PEM file with the CA to trust.", rich_help_panel=_CONN),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.1, help="Seconds to wait for each step.", rich_help_panel=_CONN
        ),
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a connection: which server answers (flavour) and its version.

    Examples:

        promkit gather validate --url http://localhost:8428

        VM_PASSWORD=... promkit gather validate --url https://vmauth.example.com/1011/rw/prometheus
        --username support --password-env VM_PASSWORD --json
    """
    from promkit.bundle.app import validate_with_tsdb
    from promkit.core.web import error_body

    if insecure:
        stderr.print("[yellow]warning:[/] TLS certificate checks are off (--insecure)")
    try:
        auth = build_auth(
            username=username,
            password_env=password_env,
            password_file=password_file,
            bearer_token_env=bearer_token_env,
            bearer_token_file=bearer_token_file,
            header_name=header_name,
            header_value_env=header_value_env,
            header_value_file=header_value_file,
        )
        config = ConnectionConfig(
            url=url,
            tenant_id=tenant,
            auth=auth,
            skip_tls_verify=insecure,
            ca_file=ca_file,
            timeout_seconds=timeout,
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


__all__ = ["app", "build_auth", "validate"]
