"""Preview: topk at the end of the range (no any()), the export's obfuscation, fallbacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from promkit.bundle.export import ExportSpec
from promkit.bundle.obfuscation import ObfuscationSettings
from promkit.bundle.preview import build_preview
from promkit.core.connection import Connection
from promkit.core.errors import DataError, UsageError
from promkit.core.tsdb import TSDBClient

START, END = 1_767_225_600_000, 1_767_229_200_000
SERIES = [
    {"__name__": "up", "job": "vmstorage-b", "instance": "10.0.0.2:8482"},
    {"__name__": "up", "job": "vmstorage-a", "instance": "10.0.0.1:8482"},
]


def _ok(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data})


class Server:
    """Answers like VictoriaMetrics; records what was asked."""

    def __init__(self, *, instant: list[dict[str, Any]] | None = None, scalar: bool = False):
        self.instant = instant
        self.scalar = scalar
        self.queries: list[dict[str, list[str]]] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path)
        form = parse_qs(request.content.decode()) if request.method == "POST" else {}
        if path.endswith("/label/instance/values"):
            return _ok(sorted(s["instance"] for s in SERIES))
        if path.endswith("/label/job/values"):
            return _ok(sorted(s["job"] for s in SERIES))
        if path.endswith("/series"):
            return _ok(SERIES)
        if path.endswith("/query"):
            self.queries.append(form)
            q = form["query"][0]
            if self.scalar and q.startswith("topk("):
                return httpx.Response(
                    422, json={"status": "error", "error": "topk: expected instant vector"}
                )
            if self.scalar:
                return _ok({"resultType": "scalar", "result": [END / 1000, "42"]})
            result = (
                self.instant
                if self.instant is not None
                else [{"metric": s, "value": [END / 1000, "1"]} for s in SERIES]
            )
            return _ok({"resultType": "vector", "result": result})
        return httpx.Response(404, text="unsupported path")


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> TSDBClient:
    return TSDBClient(
        Connection.from_url("http://vm.test:8428"), transport=httpx.MockTransport(handler)
    )


def _spec(**kw: Any) -> ExportSpec:
    base: dict[str, Any] = {"mode": "cluster", "start_ms": START, "end_ms": END}
    base["jobs"] = ["vmstorage-a", "vmstorage-b"]
    return ExportSpec(**(base | kw))


def test_preview_topk_at_end_of_range_no_any() -> None:
    server = Server()
    with _client(server) as client:
        preview = build_preview(client, _spec(), limit=5)
    (form,) = server.queries
    assert form["query"] == ['topk(5, {job=~"vmstorage-a|vmstorage-b"})']
    assert float(form["time"][0]) == END / 1000
    assert "any(" not in form["query"][0]
    assert preview.at_ms == END and preview.source == "query" and preview.count == 2


def test_preview_obfuscation_numbering_is_the_exports() -> None:
    settings = ObfuscationSettings(enabled=True, drop_labels=("nothing",))
    with _client(Server()) as client:
        preview = build_preview(client, _spec(obfuscation=settings))
    got = {s.labels["instance"]: s.labels["job"] for s in preview.samples}
    # sorted preregistration, as the export does: a → 1, b → 2, whatever order topk returns
    assert got == {"777.777.1.1:8482": "vmstorage-job-1", "777.777.1.2:8482": "vmstorage-job-2"}
    assert preview.obfuscated
    assert preview.samples[0].name == 'up{instance="777.777.1.1:8482",job="vmstorage-job-1"}'


def test_preview_drop_labels_apply_without_obfuscation() -> None:
    settings = ObfuscationSettings(enabled=False, drop_labels=("instance",))
    with _client(Server()) as client:
        preview = build_preview(client, _spec(obfuscation=settings))
    assert all("instance" not in s.labels for s in preview.samples)
    assert {s.labels["job"] for s in preview.samples} == {"vmstorage-a", "vmstorage-b"}


def test_preview_falls_back_to_series_when_nothing_alive_at_end() -> None:
    server = Server(instant=[])
    with _client(server) as client:
        preview = build_preview(client, _spec(), limit=1)
    assert preview.source == "series" and preview.count == 1
    assert preview.samples[0].value is None
    assert any(p.endswith("/series") for p in server.paths)


def test_preview_query_mode_scalar_result_is_evaluated_as_is() -> None:
    server = Server(scalar=True)
    with _client(server) as client:
        spec = _spec(mode="query", jobs=[], query="scalar(sum(up))")
        preview = build_preview(client, spec)
    assert [f["query"][0] for f in server.queries] == [
        "topk(10, scalar(sum(up)))",
        "scalar(sum(up))",
    ]
    (only,) = preview.samples
    assert (only.name, only.value, only.labels) == ("{}", 42.0, {})


def test_preview_empty_selection_and_bad_limit() -> None:
    with _client(Server(instant=[])) as client:
        with pytest.raises(UsageError, match="refusing to export every series"):
            build_preview(client, _spec(jobs=[]))
        with pytest.raises(UsageError, match="outside"):
            build_preview(client, _spec(), limit=0)
    with _client(Server(instant=[])) as client, pytest.raises(DataError):
        build_preview(client, _spec(mode="query", jobs=[], query="up"))
