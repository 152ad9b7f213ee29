"""Reading a server without export (Prometheus) by chunked range queries, via MockTransport."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import orjson

from promkit.core.connection import Connection
from promkit.core.tsdb import TSDBClient
from promkit.fire.source import SeriesSource, _chunks


def test_chunks_cover_the_window_in_order() -> None:
    assert _chunks(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert _chunks(0, 4, 4) == [(0, 4)]


def test_read_by_query_merges_chunks_per_series() -> None:
    queries: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/export"):
            return httpx.Response(404, text="404 page not found")
        form = parse_qs(request.content.decode())
        queries.append(form)
        at = float(form["time"][0])
        rows = [
            {"metric": {"__name__": "m", "i": i}, "values": [[at - 1, "1.5"], [at, "NaN"]]}
            for i in ("a", "b")
        ]
        body = {"status": "success", "data": {"resultType": "matrix", "result": rows}}
        return httpx.Response(200, content=orjson.dumps(body))

    client = TSDBClient(
        Connection.from_url("http://prom:9090"), transport=httpx.MockTransport(handler)
    )
    source = SeriesSource(client, query_chunk=100)
    out = list(source.read(['{__name__="m"}'], 1000.0, 1250.0, ["m"]))
    assert [q["query"][0] for q in queries] == ['{__name__="m"}[100000ms]'] * 2 + [
        '{__name__="m"}[50000ms]'
    ]
    assert [float(q["time"][0]) for q in queries] == [1100.0, 1200.0, 1250.0]
    assert [dict(s.labels)["i"] for s in out] == ["a", "b"]
    assert out[0].timestamps == [1099_000, 1100_000, 1199_000, 1200_000, 1249_000, 1250_000]
    assert out[0].values[0] == 1.5 and out[0].values[1] != out[0].values[1]  # NaN kept
    assert source.decode.samples == 12


def test_sample_counts_sum_chunks() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        seen.append(form["query"][0])
        rows = [{"metric": {"i": "a"}, "value": [float(form["time"][0]), "5"]}]
        return httpx.Response(
            200, content=orjson.dumps({"status": "success", "data": {"result": rows}})
        )

    client = TSDBClient(
        Connection.from_url("http://prom:9090"), transport=httpx.MockTransport(handler)
    )
    counts = SeriesSource(client, query_chunk=3600).sample_counts(["m"], 0.0, 48 * 3600.0)
    assert len(seen) == 24 and seen[0] == 'count_over_time({__name__="m"}[7200000ms])'
    assert counts == {("m", (("i", "a"),)): 120}
