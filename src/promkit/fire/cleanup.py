"""``fire cleanup``: delete the replicas a config wrote, and nothing else.

The selector names only the replication labels with exactly the configured values
(``{fire_region=~"eu|us",fire_copy=~"1|2|3"}``), so originals (which never carry those
labels: see selection) are untouched. Any other series that happens to carry all of these
labels with these values would be deleted too; ``--dry-run`` shows how many match first.

- VictoriaMetrics single-node: ``POST /api/v1/admin/tsdb/delete_series``; cluster:
  ``/delete/<tenant>/prometheus/api/v1/admin/tsdb/delete_series`` on vmselect (derived from
  an ``/insert/<tenant>/prometheus`` write URL).
- Prometheus: the same path, only when started with ``--web.enable-admin-api``; it marks
  the series deleted (tombstones) and frees the space at the next compaction or after
  ``POST /api/v1/admin/tsdb/clean_tombstones``, which cleanup calls. Its series API keeps
  listing deleted series until the next head compaction, so counts there are index counts.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import httpx

from promkit.core.connection import Connection, PathKind
from promkit.core.errors import PromkitError, UnsupportedError, UpstreamError
from promkit.core.tsdb import TSDBClient
from promkit.fire.config import FireConfig
from promkit.fire.replication import replicas_selector
from promkit.fire.source import connection_for

ADMIN = "/api/v1/admin/tsdb"


@dataclass(frozen=True)
class CleanupResult:
    selector: str
    matched_series: int
    deleted: bool
    remaining_series: int | None = None


def _admin_base(conn: Connection) -> str:
    if conn.kind in (PathKind.SELECT, PathKind.INSERT) and conn.tenant_id:
        return f"{conn.origin}/delete/{conn.tenant_id}/prometheus"
    return conn.query_base_url


def _count(client: TSDBClient, selector: str) -> int:
    return len(client.series([selector], start=1.0, end=time.time()))


def _post(http: httpx.Client, client: TSDBClient, url: str, selector: str | None) -> None:
    try:
        response = http.post(url, data={"match[]": selector} if selector else None)
    except httpx.HTTPError as exc:
        raise UpstreamError(f"cleanup request to {url} failed: {type(exc).__name__}") from None
    if response.status_code < 300:
        return
    text = client.scrub(response.text.strip())[:300]
    if "admin apis disabled" in text.lower() or response.status_code in (404, 405):
        raise UnsupportedError(
            f"{url} refused deletion (HTTP {response.status_code}): {text}",
            hint="Prometheus needs --web.enable-admin-api; VictoriaMetrics cluster deletes "
            "through vmselect (/delete/<tenant>/prometheus); behind vmauth allow the path",
        )
    raise UpstreamError(f"delete_series failed: HTTP {response.status_code}: {text}")


def cleanup(config: FireConfig, *, dry_run: bool = False) -> CleanupResult:
    selector = replicas_selector(config.replication)
    conn = connection_for(config.target)
    with TSDBClient(conn) as client:
        matched = _count(client, selector)
        if dry_run or matched == 0:
            return CleanupResult(selector, matched, deleted=False, remaining_series=matched)
        base = _admin_base(conn)
        tombstones = False
        with conn.client() as http:
            _post(http, client, f"{base}{ADMIN}/delete_series", selector)
            # Prometheus frees the space now; VictoriaMetrics has no such endpoint.
            with contextlib.suppress(PromkitError):
                _post(http, client, f"{base}{ADMIN}/clean_tombstones", None)
                tombstones = True
        # Prometheus keeps deleted series in its head index (and /api/v1/series) until the
        # next head compaction, so only a VictoriaMetrics recount is meaningful.
        remaining = None if tombstones else _count(client, selector)
        return CleanupResult(selector, matched, deleted=True, remaining_series=remaining)


__all__ = ["CleanupResult", "cleanup"]
