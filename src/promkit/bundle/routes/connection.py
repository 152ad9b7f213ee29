"""``/api/validate`` and ``/api/validate-query``: is the server there, does the query work.

Credentials are never echoed: answers hold the resolved endpoint only, and errors come from
the TSDB client already scrubbed of every secret of the connection.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from promkit.bundle.config import TimeRangeConfig
from promkit.bundle.routes.deps import ConsoleDep, error_responses
from promkit.core.connection import ConnectionConfig
from promkit.core.errors import UsageError
from promkit.core.promql import is_selector
from promkit.core.tsdb import ValidationResult

__all__ = ["QueryCheck", "ValidateQueryRequest", "ValidateRequest", "router"]

router = APIRouter(tags=["connection"])

ERRORS = error_responses(
    _400="bad connection settings or query",
    _401="missing session token, or the server refused the credentials",
    _422="the server rejected the query",
    _502="server unreachable or answered with an error",
)


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: ConnectionConfig


class ValidateQueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: ConnectionConfig
    query: str = Field(max_length=64_000)
    time_range: TimeRangeConfig | None = None


class QueryCheck(BaseModel):
    """What a query or selector matches at the end of the range."""

    query_type: Literal["selector", "query"]
    series_count: int
    sample_labels: list[str]


@router.post("/api/validate", response_model=ValidationResult, responses=ERRORS)
def validate_connection(body: ValidateRequest, console: ConsoleDep) -> ValidationResult:
    """Tell which server answers at the connection (flavour) and its version."""
    return console.validator(body.connection)


@router.post("/api/validate-query", response_model=QueryCheck, responses=ERRORS)
def validate_query(body: ValidateQueryRequest, console: ConsoleDep) -> QueryCheck:
    """Run the query once (instant, at the end of the range) and count what it returns."""
    query = body.query.strip()
    if not query:
        raise UsageError("the query is empty", hint='enter a selector like up{job="node"}')
    at = body.time_range.to_ms()[1] / 1000 if body.time_range else None
    with console.client_factory(body.connection) as client:
        rows = client.query(f"count(({query}))", time=at)
        count = _scalar(rows)
        labels: set[str] = set()
        if count:
            for row in client.query(f"topk(1, ({query}))", time=at):
                labels.update((row.get("metric") or {}).keys())
    return QueryCheck(
        query_type="selector" if is_selector(query) else "query",
        series_count=count,
        sample_labels=sorted(labels - {"__name__"}),
    )


def _scalar(rows: list[dict[str, object]]) -> int:
    """The value of a one-row instant vector (``count(...)``), 0 when empty or odd."""
    try:
        value = rows[0]["value"]
        return int(float(value[1]))  # type: ignore[index]
    except (IndexError, KeyError, TypeError, ValueError, OverflowError):
        return 0
