"""Remote-write forwarding to a real VictoriaMetrics: the flushed totals arrive under the
same names and labels /metrics exposes, so data outlives the service."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from support.servers import VMServer

from .test_tracker_ingestion import send, setup_user


def _wait(vm: VMServer, promql: str, want: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        vm.flush()
        result = vm.query(promql)
        if result and float(result[0]["value"][1]) == want:
            return result
        time.sleep(0.3)
    raise AssertionError(f"{promql}: wanted {want}, got {result}")


def test_remote_write_forwards_flushed_totals(
    make_client: Callable[..., TestClient], vm: VMServer
) -> None:
    client = make_client(remote_write_url=f"{vm.url}/api/v1/write")
    suffix = uuid.uuid4().hex[:8]
    counter, histogram = f"rw_views_{suffix}", f"rw_load_{suffix}"
    configs = [
        {"name": "c", "metric_name": counter, "metric_type": "counter",
         "labels": [{"name": "page"}]},
        {"name": "h", "metric_name": histogram, "metric_type": "histogram", "buckets": [10, 100]},
    ]  # fmt: skip
    _auth, key, uid = setup_user(client, configs=configs)
    send(client, key, {"name": counter, "value": 2, "labels": {"page": "/"}})
    send(client, key, {"name": histogram, "value": 50})
    client.get("/metrics")  # a scrape flushes (the periodic flush would too)
    _wait(vm, f'user_metric_{counter}_total{{user_id="{uid}",page="/"}}', 2)
    _wait(vm, f'user_hist_{histogram}_bucket{{user_id="{uid}",le="100.0"}}', 1)
    send(client, key, {"name": counter, "value": 3, "labels": {"page": "/"}})
    client.get("/metrics")
    _wait(vm, f'user_metric_{counter}_total{{user_id="{uid}",page="/"}}', 5)
