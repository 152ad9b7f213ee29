"""The run pipeline in-process with a fake source and a recording sink (no sockets)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from promkit.core.errors import CanceledError, NotFoundError, UpstreamError
from promkit.core.remote_write import SenderStats
from promkit.core.series import DecodeStats, Labels, Series
from promkit.fire.config import parse_config
from promkit.fire.plan import make_plan
from promkit.fire.report import outcome_error, report_dict, summary_lines
from promkit.fire.runner import FireRunner

NOW_S = 1_700_000_000.0
NOW_MS = int(NOW_S * 1000)


class FakeSource:
    def __init__(self, series: list[Series], interrupt_after: int | None = None) -> None:
        self.series = series
        self.decode = DecodeStats()
        self.interrupt_after = interrupt_after

    def discover(self, match: Sequence[str], start: float, end: float) -> list[dict[str, str]]:
        return [s.labels.to_dict() for s in self.series]

    def read(
        self, match: Sequence[str], start: float, end: float, metrics: Sequence[str]
    ) -> Iterator[Series]:
        for i, s in enumerate(self.series):
            if self.interrupt_after is not None and i == self.interrupt_after:
                raise KeyboardInterrupt
            yield s

    def sample_counts(self, metrics: Sequence[str], start: float, end: float) -> dict[Any, int]:
        out: dict[Any, int] = {}
        for s in self.series:
            rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "__name__"))
            out[(s.labels.name, rest)] = out.get((s.labels.name, rest), 0) + len(s)
        return out


class RecordingSink:
    def __init__(self) -> None:
        self.added: list[Series] = []
        self.closed_with: bool | None = None
        self.flushes = 0

    def add(self, series: Series) -> None:
        self.added.append(series)

    def flush(self) -> None:
        self.flushes += 1

    def stats(self) -> SenderStats:
        n = sum(len(s) for s in self.added)
        return SenderStats(
            series=len(self.added), samples_sent=n, requests=1, requests_ok=1, elapsed=1.0
        )

    def close(self, *, drain: bool = True) -> SenderStats:
        self.closed_with = drain
        return self.stats()


class FakeClock:
    def __init__(self, now: float = NOW_S) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def config(**extra: Any):  # type: ignore[no-untyped-def]
    data = {
        "source": {"url": "http://src:1"},
        "target": {"url": "http://dst:2/api/v1/write"},
        **extra,
    }
    return parse_config(data, env={}).config


def series(name: str, inst: str, stamps: list[int], values: list[float] | None = None) -> Series:
    return Series.of(
        {"__name__": name, "instance": inst},
        values or [float(i) for i in range(len(stamps))],
        stamps,
    )


def runner(
    cfg: Any, source: FakeSource, sink: RecordingSink, clock: FakeClock | None = None
) -> FireRunner:
    clock = clock or FakeClock()
    return FireRunner(cfg, source, sender_factory=lambda rl: sink, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


def test_run_replicates_each_selected_series_factor_times() -> None:
    src = FakeSource(
        [series("up", "a", [NOW_MS - 2000, NOW_MS - 1000]), series("up", "b", [NOW_MS - 500])]
    )
    sink = RecordingSink()
    result = runner(config(replication={"factor": 3}), src, sink).run()
    assert len(sink.added) == 6
    assert {s.labels["benchmark_replica"] for s in sink.added} == {
        "replica-0",
        "replica-1",
        "replica-2",
    }
    assert all(max(s.timestamps) == NOW_MS for s in sink.added)  # shift: last point is now
    assert sink.closed_with is True
    assert result.series_read == 2 and result.source_samples == 3


def test_run_shift_keeps_one_offset_for_a_series_split_over_lines() -> None:
    first = series("up", "a", [NOW_MS - 60_000, NOW_MS - 45_000], [1.0, 2.0])
    second = series("up", "a", [NOW_MS - 30_000], [3.0])  # a second export line, same series
    src = FakeSource([first, second])
    src.discover = lambda *a: [first.labels.to_dict()]  # type: ignore[method-assign]
    sink = RecordingSink()
    result = runner(config(), src, sink).run()
    stamps = [t for s in sink.added for t in s.timestamps]
    # the first line was shifted to end at now; the later line would land in the future
    assert stamps == [NOW_MS - 15_000, NOW_MS]
    assert result.dropped_future == 1


def test_run_skips_unselected_and_reports_missing() -> None:
    kept = series("up", "a", [NOW_MS - 1000])
    ghost = series("up", "ghost", [NOW_MS - 1000])
    src = FakeSource([kept])
    src.discover = lambda *a: [kept.labels.to_dict(), ghost.labels.to_dict()]  # type: ignore[method-assign]
    sink = RecordingSink()
    result = runner(config(), src, sink).run()
    assert len(sink.added) == 1 and result.missing_series == 1


def test_run_with_nothing_selected_raises_not_found() -> None:
    replica = Series.of({"__name__": "up", "benchmark_replica": "replica-0"}, [1.0], [NOW_MS])
    with pytest.raises(NotFoundError) as exc:
        runner(config(), FakeSource([replica]), RecordingSink()).run()
    assert "already_replica=1" in exc.value.message
    assert exc.value.hint is not None and "benchmark_replica" in exc.value.hint


def test_run_interrupted_drops_queue_and_still_reports() -> None:
    src = FakeSource([series("up", str(i), [NOW_MS - 1000]) for i in range(5)], interrupt_after=2)
    sink = RecordingSink()
    result = runner(config(), src, sink).run()
    assert result.interrupted and sink.closed_with is False
    assert len(sink.added) == 2
    doc = report_dict(result, target="http://dst:2/api/v1/write")
    assert isinstance(outcome_error(doc, 0.0), CanceledError)
    assert summary_lines(doc)[0].startswith("fire INTERRUPTED")


def test_run_realtime_replays_for_duration_with_fake_clock() -> None:
    clock = FakeClock()
    src = FakeSource([series("up", "a", [NOW_MS - 20_000, NOW_MS - 10_000], [5.0, 6.0])])
    sink = RecordingSink()
    cfg = config(timestamps={"mode": "realtime", "duration": "35s"}, replication={"factor": 2})
    result = runner(cfg, src, sink, clock).run()
    assert result.replica_series == 2  # not one per tick
    stamps = sorted({t for s in sink.added for t in s.timestamps})
    assert stamps == [NOW_MS, NOW_MS + 10_000, NOW_MS + 20_000, NOW_MS + 30_000]
    assert all(t <= clock.now * 1000 for t in stamps)
    values = [
        v for s in sink.added if s.labels["benchmark_replica"] == "replica-0" for v in s.values
    ]
    assert values == [5.0, 6.0, 5.0, 6.0]
    assert sink.flushes >= 3  # trickling samples are flushed, not held for a full batch


def _doc(sent: int, failed: int, failures: dict[str, int]) -> dict[str, Any]:
    stats = SenderStats(
        samples_sent=sent, samples_failed=failed, failures=failures, messages={"400": "bad sample"}
    )
    src = FakeSource([series("up", "a", [NOW_MS])])
    r = runner(config(), src, RecordingSink()).run()
    r.stats = stats
    return report_dict(r, target="t")


def test_outcome_all_failed_is_an_error_with_server_message() -> None:
    err = outcome_error(_doc(0, 100, {"400": 3}), 1.0)
    assert isinstance(err, UpstreamError)
    assert "every one of 100 samples failed" in err.message and "bad sample" in err.message


def test_outcome_ratio_threshold() -> None:
    assert outcome_error(_doc(90, 10, {"400": 1}), 0.2) is None
    err = outcome_error(_doc(90, 10, {"400": 1}), 0.05)
    assert err is not None and "10.00% of samples failed" in err.message
    assert outcome_error(_doc(100, 0, {}), 0.0) is None


def test_plan_estimates_from_counts() -> None:
    src = FakeSource([series("up", "a", [1, 2, 3]), series("up", "b", [1, 2])])
    cfg = config(
        replication={"factor": 3},
        rate={"samples_per_second": 5},
        send={"batch_samples": 4},
    )
    r = runner(cfg, src, RecordingSink())
    plan = make_plan(cfg, src, r.discover(), "shift")  # type: ignore[arg-type]
    assert (plan.source_samples, plan.samples_out, plan.series_out) == (5, 15, 6)
    assert plan.requests_min == 4 and plan.duration_seconds == 3.0
    assert "15 samples" in "\n".join(plan.lines())


def test_replica_labels_are_sorted_labels() -> None:
    src = FakeSource([series("up", "a", [NOW_MS])])
    sink = RecordingSink()
    runner(config(replication={"labels": [{"name": "aaa", "values": ["1"]}]}), src, sink).run()
    assert isinstance(sink.added[0].labels, Labels)
    assert list(sink.added[0].labels) == ["__name__", "aaa", "instance"]


def test_sender_hides_echoed_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """fire hands the target's secrets to the sender, which scrubs the server's messages."""
    import httpx

    from promkit.core.connection import Connection
    from promkit.fire.runner import make_sender

    def vmauth(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        return httpx.Response(400, text=f'cannot find the provided auth token "Bearer {token}"')

    real_client = Connection.client
    monkeypatch.setattr(
        Connection,
        "client",
        lambda self, transport=None: real_client(self, transport=httpx.MockTransport(vmauth)),
    )
    monkeypatch.setenv("FIRE_T", "tok-123")
    cfg = config(target={"url": "http://dst:2/api/v1/write", "bearer_token_env": "FIRE_T"})
    sender = make_sender(cfg, None)
    sender.add(series("up", "a", [NOW_MS]))
    stats = sender.close()
    assert stats.messages["400"] == 'cannot find the provided auth token "Bearer ***"'


def test_run_source_failure_mid_stream_still_sends_and_reports() -> None:
    from promkit.core.errors import ConnectError

    class Failing(FakeSource):
        def read(self, *args: Any) -> Iterator[Series]:
            yield self.series[0]
            raise ConnectError("export: connection to src reset")

    src = Failing([series("up", "a", [NOW_MS - 1000]), series("up", "b", [NOW_MS - 1000])])
    sink = RecordingSink()
    result = runner(config(), src, sink).run()
    assert len(sink.added) == 1 and sink.closed_with is True
    assert isinstance(result.source_error, ConnectError)
    doc = report_dict(result, target="t")
    assert any("reading the source failed" in line for line in summary_lines(doc))
