"""What every console route shares: settings, the job manager and the TSDB client factory.

``Console`` is built once by ``create_app`` and kept on ``app.state``; routes receive it
through the ``ConsoleDep`` dependency, so tests can build an app with fake clients without
touching any global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel

from promkit import __version__
from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.jobs import JobManager
from promkit.core.tsdb import TSDBClient, ValidationResult
from promkit.core.web import LocalUIPolicy

__all__ = [
    "ClientFactory",
    "Console",
    "ConsoleDep",
    "ConsoleSettings",
    "ErrorBody",
    "Validator",
    "connect_with_tsdb",
    "error_responses",
    "get_console",
    "validate_with_tsdb",
]

Validator = Callable[[ConnectionConfig], ValidationResult]
ClientFactory = Callable[[ConnectionConfig], TSDBClient]


class ErrorBody(BaseModel):
    """Every error answer: what went wrong and what to do next."""

    error: str
    hint: str | None = None
    kind: str | None = None


def error_responses(**described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: ``{"400": "why"}`` → documented ``ErrorBody``."""
    return {
        int(code.lstrip("_")): {"model": ErrorBody, "description": text}
        for code, text in described.items()
    }


def validate_with_tsdb(config: ConnectionConfig) -> ValidationResult:
    """The production validator: ``TSDBClient(Connection.from_config(config)).validate()``."""
    with TSDBClient(Connection.from_config(config)) as client:
        return client.validate()


def connect_with_tsdb(config: ConnectionConfig) -> TSDBClient:
    """The production client factory (the caller closes the client)."""
    return TSDBClient(Connection.from_config(config))


@dataclass(frozen=True)
class ConsoleSettings:
    """Everything the console needs, resolved once by the CLI."""

    policy: LocalUIPolicy
    output_dir: Path
    version: str = __version__
    staging_dir: Path | None = None  # default: <output_dir>/.staging
    job_concurrency: int = 2
    job_retention_s: float = 1800.0
    max_upload_bytes: int = 8 << 30  # bundles uploaded to the import wizard

    @property
    def staging_root(self) -> Path:
        return self.staging_dir if self.staging_dir is not None else self.output_dir / ".staging"

    @property
    def upload_root(self) -> Path:
        """Where the import wizard keeps uploaded bundles (one folder per upload)."""
        return self.staging_root / "uploads"


@dataclass
class Console:
    """The console's runtime: one per app."""

    settings: ConsoleSettings
    jobs: JobManager
    client_factory: ClientFactory = connect_with_tsdb
    validator: Validator = validate_with_tsdb

    @property
    def output_dir(self) -> Path:
        return self.settings.output_dir


def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]
