"""``GET /health``: the service and its database."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response

from promkit.tracker.deps import ContextDep
from promkit.tracker.envelope import json_response

router = APIRouter(tags=["health"])
_STARTED = time.monotonic()


@router.get("/health")
def health(ctx: ContextDep) -> Response:
    healthy = ctx.db.ping()
    body = {
        "success": healthy,
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": datetime.now(UTC).isoformat(),
        "uptime": round(time.monotonic() - _STARTED, 3),
        "database": "ok" if healthy else "unreachable",
    }
    return json_response(body, 200 if healthy else 503)
