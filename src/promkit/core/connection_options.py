"""Connection, authentication and TLS flags shared by every command that talks to a TSDB.

One declaration of ``--username``, ``--password-env/-file``, ``--bearer-token-env/-file``,
``--header-name``, ``--header-value-env/-file``, ``--tenant``, ``--insecure`` and
``--ca-file`` (typer ``Annotated`` aliases), and the one way they become an ``Auth`` or a
``ConnectionConfig``. ``--url`` and ``--timeout`` stay with each tool: their help (source or
target) and defaults differ.

Secrets never come from argv (other users see it in ``ps``, shells keep it in history):
they come from an environment variable, a file, or an interactive prompt.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any, Self

import typer
from pydantic import SecretStr

from promkit.core.connection import Auth, AuthType, ConnectionConfig
from promkit.core.console import read_secret, stderr
from promkit.core.errors import UsageError

PANEL_AUTH = "Authentication (secrets: env var, file or prompt; never argv)"
PANEL_CONNECTION = "Connection"

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


@dataclass
class AuthFlags:
    """The authentication flags of a command (names as the command's parameters).

    Tools extend it with their own flags (``promkit.bundle.gather_options.ConnFlags``).
    """

    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    header_name: str | None = None
    header_value_env: str | None = None
    header_value_file: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Self:
        """Pick this class's fields from a command's ``locals()`` (or any mapping)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def _auth_values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(AuthFlags)}

    def given(self) -> bool:
        return any(self._auth_values().values())

    def build(self) -> Auth:
        """Read the secrets the flags point at; see ``build_auth``."""
        return build_auth(**self._auth_values())


def connection_config(
    url: str,
    *,
    tenant: str | None,
    insecure: bool,
    ca_file: str | None,
    timeout: float,
    auth: AuthFlags,
) -> ConnectionConfig:
    """The ``ConnectionConfig`` the flags describe; warns on stderr when TLS checks are off."""
    if insecure:
        stderr.print("[yellow]warning:[/] TLS certificate checks are off (--insecure)")
    return ConnectionConfig(
        url=url,
        tenant_id=tenant,
        auth=auth.build(),
        skip_tls_verify=insecure,
        ca_file=ca_file,
        timeout_seconds=timeout,
    )


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


__all__ = [
    "PANEL_AUTH",
    "PANEL_CONNECTION",
    "AuthFlags",
    "BearerEnvOpt",
    "BearerFileOpt",
    "CaFileOpt",
    "HeaderEnvOpt",
    "HeaderFileOpt",
    "HeaderNameOpt",
    "InsecureOpt",
    "PasswordEnvOpt",
    "PasswordFileOpt",
    "TenantOpt",
    "UsernameOpt",
    "build_auth",
    "connection_config",
]
