"""``/api/sample``: a few series of the selection, through the export's own obfuscation.

The wizard's live preview table calls this whenever the obfuscation settings change; what
it shows is what the bundle will contain (same numbering of fake instances and jobs).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from promkit.bundle.config import ExportRequest
from promkit.bundle.preview import DEFAULT_PREVIEW, MAX_PREVIEW, Preview, build_preview
from promkit.bundle.routes.deps import ConsoleDep, error_responses
from promkit.bundle.routes.export import checked_spec

__all__ = ["SampleRequest", "router"]

router = APIRouter(tags=["discovery"])


class SampleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: ExportRequest
    limit: int = Field(default=DEFAULT_PREVIEW, ge=1, le=MAX_PREVIEW)


@router.post(
    "/api/sample",
    response_model=Preview,
    responses=error_responses(
        _400="bad request: settings, time range or an empty selection",
        _401="missing session token, or the server refused the credentials",
        _422="the selection matched no series, or the server rejected the query",
        _502="server unreachable or answered with an error",
    ),
)
def sample(body: SampleRequest, console: ConsoleDep) -> Preview:
    """Up to ``limit`` series at the end of the range, obfuscated as the export will be."""
    with console.client_factory(body.config.connection) as client:
        spec = checked_spec(console, body.config, client)
        return build_preview(client, spec, limit=body.limit)
