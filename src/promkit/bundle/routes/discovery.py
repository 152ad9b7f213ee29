"""``/api/discover``: components/jobs with instance counts and series estimates.

Cluster mode lists the VictoriaMetrics components (from ``vm_app_version``) and their jobs;
selector mode lists the jobs a selector matches (default ``up``: Prometheus targets). Both
count over the chosen range, not only "now".
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from promkit.bundle.config import RequestConnection, TimeRangeConfig
from promkit.bundle.discovery import ComponentInfo, JobInfo, discover_components, discover_jobs
from promkit.bundle.routes.deps import ConsoleDep, error_responses
from promkit.core.errors import UsageError
from promkit.core.promql import is_selector

__all__ = ["ComponentOut", "DiscoverRequest", "DiscoverResponse", "router"]

router = APIRouter(tags=["discovery"])

ERRORS = error_responses(
    _400="bad connection, time range or selector",
    _401="missing session token, or the server refused the credentials",
    _422="the server rejected the selector",
    _502="server unreachable or answered with an error",
)


class DiscoverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: RequestConnection
    time_range: TimeRangeConfig = TimeRangeConfig(start="now-1h", end="now")
    mode: Literal["cluster", "selector"] = "cluster"
    selector: str | None = Field(default=None, max_length=64_000)


class ComponentOut(BaseModel):
    component: str
    instances: int
    series_estimate: int | None
    jobs: list[JobInfo]

    @classmethod
    def of(cls, info: ComponentInfo) -> ComponentOut:
        return cls(
            component=info.component,
            instances=info.instances,
            series_estimate=info.series_estimate,
            jobs=info.jobs,
        )


class DiscoverResponse(BaseModel):
    mode: Literal["cluster", "selector"]
    components: list[ComponentOut]
    jobs: list[JobInfo]
    hint: str | None = None


@router.post("/api/discover", response_model=DiscoverResponse, responses=ERRORS)
def discover(body: DiscoverRequest, console: ConsoleDep) -> DiscoverResponse:
    """What can be exported in the range: components and jobs, with counts."""
    start_ms, end_ms = body.time_range.to_ms()
    with console.client_factory(body.connection) as client:
        if body.mode == "cluster":
            comps = discover_components(client, start_ms, end_ms)
            jobs = [job for comp in comps for job in comp.jobs]
            hint = None
            if not comps:
                hint = (
                    "no VictoriaMetrics components (vm_app_version) in this range: widen the "
                    "range, or use selector mode to pick jobs by a selector such as up"
                )
            return DiscoverResponse(
                mode="cluster", components=[ComponentOut.of(c) for c in comps], jobs=jobs, hint=hint
            )
        selector = (body.selector or "").strip() or None
        if selector is not None and not is_selector(selector):
            raise UsageError(
                f"{selector!r} is not a series selector",
                hint='use a selector like up{env="prod"}, or query mode for expressions',
            )
        found = discover_jobs(client, start_ms, end_ms, selector)
    hint = None if found else "the selector matched no series with a job label in this range"
    return DiscoverResponse(mode="selector", components=[], jobs=found, hint=hint)
