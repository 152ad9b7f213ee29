"""Remote write and the JSON-lines codec against real VictoriaMetrics 1.79 and Prometheus 2.42."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from promkit.core.remote_write import STALE_NAN, RemoteWriteSender, RetryPolicy
from promkit.core.series import (
    DecodeStats,
    Series,
    encode_series,
    iter_lines,
    iter_series,
    rewrite_metric,
)
from support.servers import PrometheusServer, VMServer

pytestmark = pytest.mark.integration

STEP_MS = 1_000


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def recent_timestamps(n: int, end_ms: int | None = None) -> list[int]:
    """n timestamps one second apart, ending a minute ago (never in the future)."""
    end = end_ms if end_ms is not None else int(time.time() * 1000) - 60_000
    return [end - (n - 1 - i) * STEP_MS for i in range(n)]


def make_series(name: str, count: int, points: int) -> list[Series]:
    ts = recent_timestamps(points)
    return [
        Series.of(
            {"__name__": name, "instance": f"host-{i}:9100", "job": "rw", "le": "+Inf"},
            [i * 1000 + k * 0.25 for k in range(points)],
            ts,
        )
        for i in range(count)
    ]


def export_series(vm: VMServer, match: str, stats: DecodeStats) -> list[Series]:
    """Stream /api/v1/export in small chunks (lines cross chunk boundaries) and decode."""
    with (
        httpx.Client(timeout=60.0) as client,
        client.stream(
            "POST",
            f"{vm.url}/api/v1/export",
            data={"match[]": match},
            headers={"Accept-Encoding": "identity"},
        ) as response,
    ):
        response.raise_for_status()
        return list(iter_series(iter_lines(response.iter_bytes(777)), stats=stats))


def by_instance(series: list[Series]) -> dict[str, Series]:
    return {s.labels["instance"]: s for s in series}


# ------------------------------------------------------------------ VictoriaMetrics


def test_remote_write_to_victoria_metrics_reads_back_exactly(vm: VMServer) -> None:
    name = unique("rw_vm")
    sent = make_series(name, count=40, points=120)
    with RemoteWriteSender(
        f"{vm.url}/api/v1/write", concurrency=3, batch_samples=500, retry=RetryPolicy()
    ) as sender:
        sender.add_many(sent)
    stats = sender.stats()
    assert (stats.samples_sent, stats.samples_failed, stats.series) == (4800, 0, 40)
    # full batches of 500 per worker, plus at most one partial batch per worker
    assert stats.requests_ok == stats.requests
    assert 10 <= stats.requests <= 9 + 3
    vm.flush()

    decode_stats = DecodeStats()
    got = by_instance(export_series(vm, f'{{__name__="{name}"}}', decode_stats))
    assert decode_stats.bad_lines == 0 and decode_stats.skipped_points == 0
    assert set(got) == {s.labels["instance"] for s in sent}
    for s in sent:
        g = got[s.labels["instance"]]
        assert g.labels == s.labels
        assert g.values == s.values
        assert g.timestamps == s.timestamps
    [row] = vm.query(f'count(count_over_time({{__name__="{name}"}}[1h]))')
    assert row["value"][1] == "40"


def test_victoria_metrics_export_with_inf_nan_and_stale_markers_decodes(vm: VMServer) -> None:
    name = unique("rw_special")
    ts = recent_timestamps(7)
    values = [1.5, math.inf, -math.inf, math.nan, STALE_NAN, -0.0, 7.0]
    with RemoteWriteSender(f"{vm.url}/api/v1/write", concurrency=1) as sender:
        sender.add(Series.of({"__name__": name, "le": "+Inf", "note": "NaN"}, values, ts))
    assert sender.stats().samples_sent == 7
    vm.flush()

    raw = httpx.post(
        f"{vm.url}/api/v1/export",
        data={"match[]": f'{{__name__="{name}"}}'},
        headers={"Accept-Encoding": "identity"},
        timeout=30.0,
    ).content
    # VM 1.79 writes +-Inf as bare tokens (not valid JSON) and the stale marker as null
    assert b"+Inf" in raw and b"-Inf" in raw and b"null" in raw
    stats = DecodeStats()
    [series] = list(iter_series(iter_lines([raw]), stats=stats))
    assert stats.bad_lines == 0
    assert series.labels == {"__name__": name, "le": "+Inf", "note": "NaN"}
    # every exported point is read, except the null (stale) ones, which are counted
    assert stats.skipped_points == raw.count(b"null") == 1
    assert ts[4] not in series.timestamps  # the stale marker was the 5th point
    finite = [v for v in series.values if not math.isnan(v)]
    assert finite == [1.5, math.inf, -math.inf, 0.0, 7.0]
    assert set(series.timestamps) <= set(ts)

    # re-encoding gives a line VM's import accepts, and it comes back unchanged
    copy_name = unique("rw_special_copy")
    line = rewrite_metric(raw.strip(), lambda m: {**m, "__name__": copy_name})
    vm.import_lines([line])
    [copy] = export_series(vm, f'{{__name__="{copy_name}"}}', DecodeStats())
    same = [
        (a == b) or (math.isnan(a) and math.isnan(b))
        for a, b in zip(copy.values, series.values, strict=True)
    ]
    assert all(same) and copy.timestamps == series.timestamps


def test_encoded_lines_import_into_victoria_metrics(vm: VMServer) -> None:
    name = unique("codec_import")
    ts = recent_timestamps(4)
    series = Series.of(
        {"__name__": name, "a": 'quote " and \\ back'}, [1, math.inf, -math.inf, 2.5], ts
    )
    vm.import_lines([encode_series(series)])
    [got] = export_series(vm, f'{{__name__="{name}"}}', DecodeStats())
    assert (got.labels, got.values, got.timestamps) == (series.labels, series.values, ts)


# ------------------------------------------------------------------ Prometheus


def prom_samples(prom: PrometheusServer, name: str) -> dict[str, list[tuple[int, float]]]:
    """Raw samples per instance via a range-vector selector."""
    result = prom.wait_for(f'{{__name__="{name}"}}[10m]')
    return {
        r["metric"]["instance"]: [(round(float(t) * 1000), float(v)) for t, v in r["values"]]
        for r in result
    }


def test_remote_write_to_prometheus_reads_back_exactly(prometheus: PrometheusServer) -> None:
    name = unique("rw_prom")
    sent = make_series(name, count=12, points=50)
    with RemoteWriteSender(prometheus.remote_write_url, concurrency=4, batch_samples=64) as sender:
        sender.add_many(sent)
    stats = sender.stats()
    assert (stats.samples_sent, stats.samples_failed, dict(stats.failures)) == (600, 0, {})
    got = prom_samples(prometheus, name)
    for _ in range(50):  # Prometheus makes appends visible per request; wait for all
        if sum(len(v) for v in got.values()) == 600:
            break
        time.sleep(0.1)
        got = prom_samples(prometheus, name)
    assert got == {
        s.labels["instance"]: list(zip(s.timestamps, s.values, strict=True)) for s in sent
    }


def test_prometheus_rejects_out_of_order_without_retry_and_reports_message(
    prometheus: PrometheusServer,
) -> None:
    name = unique("rw_ooo")
    ts = recent_timestamps(5)
    labels = {"__name__": name, "instance": "x", "job": "rw"}
    with RemoteWriteSender(prometheus.remote_write_url, concurrency=1) as first:
        first.add(Series.of(labels, [1, 2, 3, 4, 5], ts))
    assert first.stats().samples_sent == 5

    with RemoteWriteSender(prometheus.remote_write_url, concurrency=1) as second:
        second.add(Series.of(labels, [9], [ts[0] - 10_000]))  # older than what is stored
    stats = second.stats()
    assert stats.requests == 1 and stats.retries == 0
    assert stats.samples_failed == 1 and stats.failure_ratio == 1.0
    assert stats.failures == {"400": 1}
    assert "out of order" in stats.messages["400"]


def test_prometheus_rejects_too_old_samples_without_retry(prometheus: PrometheusServer) -> None:
    name = unique("rw_old")
    three_hours_ago = int(time.time() * 1000) - 3 * 3600 * 1000  # before the head block
    with RemoteWriteSender(prometheus.remote_write_url, concurrency=2, batch_samples=1) as sender:
        sender.add(Series.of({"__name__": name, "instance": "old"}, [1.0], [three_hours_ago]))
        sender.add(Series.of({"__name__": name, "instance": "new"}, [2.0], recent_timestamps(1)))
    stats = sender.stats()
    assert (stats.requests, stats.retries, stats.requests_ok) == (2, 0, 1)
    assert stats.failures == {"400": 1}
    assert "out of bounds" in stats.messages["400"]
    assert stats.samples_sent == 1 and stats.samples_failed == 1
    assert list(prom_samples(prometheus, name)) == ["new"]


@pytest.fixture
def refusing_url() -> Iterator[str]:
    """A loopback port nobody listens on."""
    from support.servers import free_port

    yield f"http://127.0.0.1:{free_port()}/api/v1/write"


def test_network_errors_are_retried_then_reported(refusing_url: str) -> None:
    retry = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    with RemoteWriteSender(refusing_url, concurrency=1, retry=retry, timeout=2.0) as sender:
        sender.add(Series.of({"__name__": "x"}, [1.0], [1]))
    stats = sender.stats()
    assert (stats.requests, stats.retries, stats.failures) == (3, 2, {"network": 1})
    assert "ConnectError" in stats.messages["network"]


class FlakyProxy:
    """A loopback HTTP proxy that answers the first ``failures`` POSTs with an injected
    status and forwards the rest to a real receiver."""

    def __init__(self, target: str, failures: list[int]) -> None:
        self.target = target
        self.failures = list(failures)
        self.seen: list[int] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if proxy.failures:
                    status = proxy.failures.pop(0)
                    proxy.seen.append(status)
                    self.send_response(status)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(b"injected")
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                r = httpx.post(proxy.target, content=body, headers=headers, timeout=30.0)
                proxy.seen.append(r.status_code)
                self.send_response(r.status_code)
                self.end_headers()
                self.wfile.write(r.content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/write"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_injected_503_and_429_are_retried_until_vm_accepts(vm: VMServer) -> None:
    name = unique("rw_flaky")
    proxy = FlakyProxy(f"{vm.url}/api/v1/write", [503, 429, 502])
    try:
        retry = RetryPolicy(max_attempts=5, initial_backoff=0.01, max_backoff=0.05)
        with RemoteWriteSender(proxy.url, concurrency=1, retry=retry) as sender:
            sender.add_many(make_series(name, count=3, points=20))
    finally:
        proxy.close()
    stats = sender.stats()
    assert proxy.seen == [503, 429, 502, 204]
    assert (stats.requests, stats.retries, stats.samples_sent, stats.failures) == (4, 3, 60, {})
    vm.flush()
    got = export_series(vm, f'{{__name__="{name}"}}', DecodeStats())
    assert sum(len(s) for s in got) == 60  # written once: no duplicates, nothing lost
