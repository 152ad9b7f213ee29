"""``GET /api/v1/web/grafana``: a Grafana datasource and a dashboard for the user's metrics.

The dashboard's panels use the same server-built, user-scoped queries as the web app's
charts. The datasource points at the configured query URL (without credentials).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from promkit.tracker.deps import CurrentUser, SessionDep
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.models import MetricDefinition
from promkit.tracker.web.context import WebDep
from promkit.tracker.web.history import user_query

router = APIRouter(prefix="/api/v1/web", tags=["web"])
DATASOURCE_UID = "promkit-tracker"
PLACEHOLDER_URL = "http://victoriametrics:8428"
PANEL_WIDTH, PANEL_HEIGHT = 12, 8


class GrafanaExport(BaseModel):
    datasource: dict[str, Any]
    dashboard: dict[str, Any]
    note: str


def datasource(url: str | None) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "promkit tracker",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": url or PLACEHOLDER_URL,
                "isDefault": False,
                "jsonData": {"httpMethod": "POST"},
            }
        ],
    }


def dashboard(user_id: int, metrics: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A dashboard model (importable as is) with one time-series panel per metric."""
    panels: list[dict[str, Any]] = []
    for index, (title, mtype, mname) in enumerate(metrics):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": title,
                "description": f"{mtype} {mname}",
                "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                "gridPos": {
                    "x": (index % 2) * PANEL_WIDTH,
                    "y": (index // 2) * PANEL_HEIGHT,
                    "w": PANEL_WIDTH,
                    "h": PANEL_HEIGHT,
                },
                "targets": [
                    {
                        "refId": "A",
                        "expr": user_query(mtype, mname, user_id),
                        "legendFormat": mname,
                        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                    }
                ],
            }
        )
    return {
        "uid": f"promkit-user-{user_id}",
        "title": "promkit tracker: my metrics",
        "tags": ["promkit", "tracker"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "panels": panels,
    }


@router.get("/grafana", response_model=Envelope[GrafanaExport])
def grafana_export(user: CurrentUser, session: SessionDep, web: WebDep) -> Envelope[GrafanaExport]:
    rows = session.scalars(
        select(MetricDefinition)
        .where(MetricDefinition.user_id == user.id)
        .order_by(MetricDefinition.created_at, MetricDefinition.id)
    ).all()
    conn = web.source.connection
    return ok(
        GrafanaExport(
            datasource=datasource(conn.display_url if conn else None),
            dashboard=dashboard(user.id, [(r.name, r.metric_type, r.metric_name) for r in rows]),
            note="Provision the datasource (YAML or JSON) and import the dashboard. Its queries"
            " filter on your user_id; a Grafana shared with other users needs a per-tenant"
            " proxy in front of the datasource to keep their data apart.",
        )
    )


__all__ = ["dashboard", "datasource", "router"]
