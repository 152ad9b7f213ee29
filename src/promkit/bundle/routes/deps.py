"""What every console route shares: settings, the job manager and the TSDB client factory.

``Console`` is built once by ``create_app`` and kept on ``app.state``; routes receive it
through the ``ConsoleDep`` dependency, so tests can build an app with fake clients without
touching any global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator

from promkit import __version__
from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.errors import UsageError
from promkit.core.jobs import JobManager
from promkit.core.tsdb import TSDBClient, ValidationResult
from promkit.core.web import LocalUIPolicy

__all__ = [
    "ClientFactory",
    "Console",
    "ConsoleDep",
    "ConsoleSettings",
    "ErrorBody",
    "TimeRangeBody",
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


# The widest range the console accepts in one request (discovery and export alike).
MAX_RANGE_DAYS = 400


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

    @property
    def staging_root(self) -> Path:
        return self.staging_dir if self.staging_dir is not None else self.output_dir / ".staging"


@dataclass
class Console:
    """The console's runtime: one per app."""

    settings: ConsoleSettings
    jobs: JobManager
    client_factory: ClientFactory = connect_with_tsdb
    validator: Validator = validate_with_tsdb
    job_requests: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        return self.settings.output_dir


def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


class TimeRangeBody(BaseModel):
    """A time range as the page sends it: RFC 3339 with an offset (``...Z``)."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeBody:
        try:
            start, end = self.start.timestamp(), self.end.timestamp()
        except (OverflowError, OSError, ValueError):
            raise ValueError("the time range is out of bounds (1970 to 9999)") from None
        if start < 0:
            raise ValueError("the time range starts before 1970")
        if end <= start:
            raise ValueError("end must be after start")
        if end - start > MAX_RANGE_DAYS * 86400:
            raise ValueError(f"the range is longer than {MAX_RANGE_DAYS} days")
        return self

    @property
    def start_ms(self) -> int:
        return _ms(self.start)

    @property
    def end_ms(self) -> int:
        """The end, clamped to now (a range ending in the future is read up to now)."""
        return min(_ms(self.end), _ms(datetime.now(tz=UTC)))

    def check_not_future(self) -> None:
        if self.start_ms >= self.end_ms:
            raise UsageError(
                "the time range lies in the future",
                hint="choose a range that ends now or earlier",
            )


def _ms(value: datetime) -> int:
    try:
        return int(value.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise UsageError(
            "the time range is out of bounds", hint="use dates between 1970 and 9999"
        ) from None
