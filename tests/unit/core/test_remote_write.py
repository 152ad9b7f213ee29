"""Remote write: wire format checked against a real protobuf runtime; sender logic in-process."""

from __future__ import annotations

import json
import math
import struct
import threading
from collections.abc import Callable
from typing import Any

import cramjam
import httpx
import pytest
from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.errors import DataError, UsageError
from promkit.core.remote_write import (
    REMOTE_WRITE_HEADERS,
    STALE_NAN,
    RemoteWriteSender,
    RetryPolicy,
    build_body,
    is_stale_nan,
)
from promkit.core.remote_write_pb import encode_samples, encode_write_request
from promkit.core.series import Labels, Series

URL = "http://rw.test/api/v1/write"


def _write_request_class() -> Any:
    """prompb's WriteRequest built from a descriptor at runtime (no protoc here)."""
    f = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name="promkit_test_remote.proto", package="prometheus", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, str]]) -> None:
        m = fdp.message_type.add(name=name)
        for number, (fname, ftype, label, tname) in enumerate(fields, 1):
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if tname:
                fd.type_name = tname

    message(
        "Label",
        [
            ("name", f.TYPE_STRING, f.LABEL_OPTIONAL, ""),
            ("value", f.TYPE_STRING, f.LABEL_OPTIONAL, ""),
        ],
    )
    message(
        "Sample",
        [
            ("value", f.TYPE_DOUBLE, f.LABEL_OPTIONAL, ""),
            ("timestamp", f.TYPE_INT64, f.LABEL_OPTIONAL, ""),
        ],
    )
    message(
        "TimeSeries",
        [
            ("labels", f.TYPE_MESSAGE, f.LABEL_REPEATED, ".prometheus.Label"),
            ("samples", f.TYPE_MESSAGE, f.LABEL_REPEATED, ".prometheus.Sample"),
        ],
    )
    message(
        "WriteRequest", [("timeseries", f.TYPE_MESSAGE, f.LABEL_REPEATED, ".prometheus.TimeSeries")]
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()


def decode(
    body: bytes, compressed: bool = True
) -> list[tuple[dict[str, str], list[float], list[int]]]:
    raw = bytes(cramjam.snappy.decompress_raw(body)) if compressed else body
    msg = WriteRequest.FromString(raw)
    out = []
    for ts in msg.timeseries:
        names = [label.name for label in ts.labels]
        assert names == sorted(names), "labels must be sorted by name"
        out.append(
            (
                {label.name: label.value for label in ts.labels},
                [s.value for s in ts.samples],
                [s.timestamp for s in ts.samples],
            )
        )
    return out


def bits(v: float) -> bytes:
    return struct.pack("<d", v)


# ------------------------------------------------------------------ wire format

timestamps = st.lists(st.integers(-(2**63), 2**63 - 1), min_size=0, max_size=40)


@settings(max_examples=200)
@given(
    data=st.data(),
    ts=timestamps | st.lists(st.integers(1_600_000_000_000, 1_900_000_000_000), max_size=40),
)
def test_encoding_decodes_equal_with_protobuf_runtime(data: st.DataObject, ts: list[int]) -> None:
    values = data.draw(st.lists(st.floats(), min_size=len(ts), max_size=len(ts)))
    labels = data.draw(
        st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=4)
    )
    [(got_labels, got_values, got_ts)] = decode(build_body([Series.of(labels, values, ts)]))
    assert got_labels == labels
    assert [bits(v) for v in got_values] == [bits(v) for v in values]  # NaN payloads too
    assert got_ts == ts


def test_encoding_matches_protobuf_serialization_byte_for_byte() -> None:
    series = [
        Series.of(
            {"__name__": "up", "job": "a", "instance": "é:9100"},
            [1, 0.5, math.inf],
            [1, 2**40, 2**42],
        ),
        Series.of({"__name__": "x"}, [STALE_NAN], [1_795_000_000_000]),
    ]
    msg = WriteRequest()
    for s in series:
        ts = msg.timeseries.add()
        for name, value in sorted(s.labels.items()):
            ts.labels.add(name=name, value=value)
        for v, t in zip(s.values, s.timestamps, strict=True):
            ts.samples.add(value=v, timestamp=t)
    assert encode_write_request(series) == msg.SerializeToString()


@pytest.mark.parametrize(
    "ts",
    [[0], [127, 128], [5, 1_795_000_000_000], [2**49 - 1, 2**49], [-1], [2**62], [3, 2, 1]],
)
def test_encoding_of_mixed_varint_widths(ts: list[int]) -> None:
    values = [float(i) for i in range(len(ts))]
    [(_, got_values, got_ts)] = decode(
        encode_write_request([Series.of({"a": "b"}, values, ts)]), False
    )
    assert (got_values, got_ts) == (values, ts)


def test_stale_nan_is_kept_bit_exact() -> None:
    [(_, [v], _)] = decode(build_body([Series.of({"a": "b"}, [STALE_NAN], [1])]))
    assert is_stale_nan(v) and not is_stale_nan(math.nan)


def test_labels_are_sorted_even_from_a_plain_dict_and_cached_on_labels() -> None:
    labels = Labels({"z": "1", "B": "2", "__name__": "m"})
    body = encode_write_request([Series(labels, [1.0], [1])])
    [(got, _, _)] = decode(body, False)
    assert list(got) == ["B", "__name__", "z"]
    assert labels._pb is not None


@pytest.mark.parametrize(
    ("labels", "values", "ts"),
    [({"": "x"}, [1.0], [1]), ({"a": "b"}, ["x"], [1]), ({"a": "b"}, [1.0], [2**64])],
)
def test_encoding_rejects_what_cannot_be_sent(
    labels: dict[str, str], values: list[Any], ts: list[int]
) -> None:
    with pytest.raises(DataError):
        encode_write_request([Series(Labels(labels), values, ts)])
    with pytest.raises(DataError):
        encode_samples([1.0, 2.0], [1])


# ------------------------------------------------------------------ retry policy


def test_retry_policy_backoff_is_capped_exponential_with_jitter() -> None:
    p = RetryPolicy(max_attempts=10, initial_backoff=0.1, max_backoff=1.0)
    assert [p.delay(k, 1.0) for k in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert [p.delay(k, 0.0) for k in range(1, 4)] == pytest.approx([0.05, 0.1, 0.2])
    assert p.delay(1, 0.0, retry_after=0.7) == pytest.approx(0.7)
    assert p.delay(1, 0.0, retry_after=60) == pytest.approx(1.0)  # Retry-After is capped too


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retry_policy_retries_429_and_5xx(status: int) -> None:
    assert RetryPolicy.retryable(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_retry_policy_never_retries_other_4xx(status: int) -> None:
    assert not RetryPolicy.retryable(status)


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(UsageError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(UsageError):
        RetryPolicy(initial_backoff=2, max_backoff=1)


# ------------------------------------------------------------------ sender

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.002)


class Server:
    """An in-process remote-write receiver for httpx.MockTransport."""

    def __init__(self, answer: Callable[[int], httpx.Response | Exception] | None = None) -> None:
        self.answer = answer or (lambda n: httpx.Response(204))
        self.calls = 0
        self.received: list[tuple[dict[str, str], list[float], list[int]]] = []
        self.headers: list[httpx.Headers] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls += 1
            n = self.calls
            self.headers.append(request.headers)
        result = self.answer(n)
        if isinstance(result, Exception):
            raise result
        if result.is_success:
            with self.lock:
                self.received.extend(decode(request.content))
        return result

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def series(i: int, n: int, start: int = 1_000) -> Series:
    return Series.of(
        {"__name__": "m", "i": str(i)}, [float(k) for k in range(n)], [start + k for k in range(n)]
    )


def test_sender_batches_by_sample_count_and_keeps_each_series_in_order() -> None:
    server = Server()
    with server.client() as client:
        sender = RemoteWriteSender(URL, client=client, concurrency=3, batch_samples=50, retry=FAST)
        with sender:
            for i in range(20):
                sender.add(series(i, 37))  # 740 samples, series split across batches
        stats = sender.stats()
    assert stats.samples_sent == 740 and stats.samples_failed == 0 and stats.series == 20
    assert stats.requests == stats.requests_ok == server.calls
    assert all(len(ts) for _, _, ts in server.received)
    per_series: dict[str, list[int]] = {}
    for labels, _, ts in server.received:
        per_series.setdefault(labels["i"], []).extend(ts)
    assert per_series == {str(i): list(range(1_000, 1_037)) for i in range(20)}
    assert stats.bytes_sent > 0 and stats.latency_p50 is not None and stats.latency_p99 is not None
    for headers in server.headers:
        for name, value in REMOTE_WRITE_HEADERS.items():
            assert headers[name] == value


def test_sender_full_batches_hold_exactly_batch_samples() -> None:
    sizes: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sizes.append(sum(len(ts) for _, _, ts in decode(request.content)))
        return httpx.Response(200)

    transport = httpx.MockTransport(answer)
    with (
        httpx.Client(transport=transport) as client,
        RemoteWriteSender(URL, client=client, concurrency=1, batch_samples=100) as sender,
    ):
        for i in range(7):
            sender.add(series(i, 45))
    assert sizes == [100, 100, 100, 15]


@pytest.mark.parametrize("failure", [503, 429, 500, "network"])
def test_sender_retries_transient_failures_then_succeeds(failure: int | str) -> None:
    def answer(n: int) -> httpx.Response | Exception:
        if n <= 2:
            if failure == "network":
                return httpx.ConnectError("connection refused")
            return httpx.Response(int(failure), text="try later", headers={"Retry-After": "0"})
        return httpx.Response(204)

    server = Server(answer)
    with (
        server.client() as client,
        RemoteWriteSender(URL, client=client, concurrency=1, retry=FAST) as sender,
    ):
        sender.add(series(1, 10))
    stats = sender.stats()
    assert (server.calls, stats.requests, stats.retries) == (3, 3, 2)
    assert (stats.samples_sent, stats.samples_failed, dict(stats.failures)) == (10, 0, {})
    assert server.received[0][2] == list(range(1_000, 1_010))


def test_sender_gives_up_after_max_attempts_and_reports() -> None:
    server = Server(lambda n: httpx.Response(503, text="overloaded"))
    with (
        server.client() as client,
        RemoteWriteSender(URL, client=client, concurrency=2, retry=FAST) as sender,
    ):
        sender.add(series(1, 10))
    stats = sender.stats()
    assert server.calls == FAST.max_attempts
    assert (stats.samples_sent, stats.samples_failed, stats.requests_failed) == (0, 10, 1)
    assert stats.failures == {"503": 1} and stats.messages["503"] == "overloaded"
    assert stats.failure_ratio == 1.0


@pytest.mark.parametrize("status", [400, 401, 404, 413])
def test_sender_never_retries_other_4xx_and_keeps_the_message(status: int) -> None:
    message = "out of order sample"
    server = Server(
        lambda n: httpx.Response(status, text=message) if n == 1 else httpx.Response(204)
    )
    with (
        server.client() as client,
        RemoteWriteSender(
            URL, client=client, concurrency=1, batch_samples=10, retry=FAST
        ) as sender,
    ):
        sender.add(series(1, 10))
        sender.add(series(2, 10))
    stats = sender.stats()
    assert server.calls == 2 and stats.retries == 0
    assert stats.failures == {str(status): 1} and stats.messages[str(status)] == message
    assert (stats.samples_sent, stats.samples_failed) == (10, 10)
    assert stats.failure_ratio == 0.5


def test_sender_calls_rate_limit_hook_once_per_batch() -> None:
    asked: list[int] = []
    server = Server(lambda n: httpx.Response(503) if n == 1 else httpx.Response(204))
    with (
        server.client() as client,
        RemoteWriteSender(
            URL, client=client, concurrency=1, batch_samples=25, retry=FAST, rate_limit=asked.append
        ) as sender,
    ):
        sender.add(series(1, 60))
    assert sorted(asked) == [10, 25, 25]
    assert sender.stats().samples_sent == 60


def test_sender_sends_custom_headers_and_skips_empty_series() -> None:
    server = Server()
    with (
        server.client() as client,
        RemoteWriteSender(
            URL, client=client, headers={"X-Scope-OrgID": "t1"}, retry=FAST
        ) as sender,
    ):
        sender.add(series(1, 0))
        sender.add(series(2, 3))
    assert server.calls == 1 and server.headers[0]["X-Scope-OrgID"] == "t1"
    assert sender.stats().series == 2


def test_sender_counts_unencodable_batches_as_invalid() -> None:
    server = Server()
    with server.client() as client, RemoteWriteSender(URL, client=client, retry=FAST) as sender:
        sender.add(Series(Labels({"": "x"}), [1.0], [1]))
    assert server.calls == 0
    assert sender.stats().failures == {"invalid": 1}


def test_sender_close_without_drain_stops_retrying() -> None:
    entered, release = threading.Event(), threading.Event()

    def answer(n: int) -> httpx.Response:
        entered.set()
        release.wait(5)
        return httpx.Response(503)

    slow = RetryPolicy(max_attempts=100, initial_backoff=5, max_backoff=5)
    server = Server(answer)
    with server.client() as client:
        sender = RemoteWriteSender(URL, client=client, concurrency=1, batch_samples=5, retry=slow)
        sender.add(series(1, 5))
        assert entered.wait(5)  # the first batch is on the wire
        sender.add(series(2, 5))  # queued
        release.set()
        stats = sender.close(drain=False)
    assert stats.samples_sent == 0 and stats.samples_failed == 10
    assert server.calls == 1
    with pytest.raises(UsageError):
        sender.add(series(3, 1))


@pytest.mark.parametrize(
    "url", ["ftp://x/api/v1/write", "127.0.0.1:8428/api/v1/write", "http:///x"]
)
def test_sender_rejects_bad_urls(url: str) -> None:
    with pytest.raises(UsageError) as info:
        RemoteWriteSender(url)
    assert info.value.hint


def _echo_auth(request: httpx.Request) -> httpx.Response:
    """vmauth-like: a refused request gets its credentials quoted back in the 400 body."""
    auth = request.headers.get("Authorization", "")
    return httpx.Response(400, text=f'cannot authorize request with auth tokens ["{auth}"]')


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "bearer", "token": "tok-s3cr3t-value"},
        {"type": "basic", "username": "bob", "password": "hunter2-long-password"},
    ],
)
def test_sender_scrubs_echoed_credentials_from_messages(auth: dict[str, str]) -> None:
    conn = Connection.from_config(
        ConnectionConfig.model_validate({"url": "http://vmauth:8427", "auth": auth})
    )
    secrets = conn.secrets()
    with (
        conn.client(transport=httpx.MockTransport(_echo_auth)) as client,
        RemoteWriteSender(URL, client=client, retry=FAST, secrets=secrets) as sender,
    ):
        sender.add(series(1, 3))
    stats = sender.stats()
    assert stats.failures == {"400": 1}
    assert "***" in stats.messages["400"]  # the echo arrived, and was scrubbed
    dumped = repr(stats) + json.dumps(stats.to_dict())
    for secret in [*secrets, *auth.values()]:
        if len(secret) > 8:  # "bearer"/"basic"/"bob" are no secrets
            assert secret not in dumped


def test_sender_scrubs_before_cutting_long_messages() -> None:
    """A secret straddling the length cap must not leave its prefix behind."""
    secret = "S" * 40
    text = "x" * 480 + secret

    def network_or_400(n: int) -> httpx.Response | Exception:
        if n == 1:
            return httpx.ConnectError(f"proxy refused {secret}")
        return httpx.Response(400, text=text)

    server = Server(network_or_400)
    with (
        server.client() as client,
        RemoteWriteSender(
            URL,
            client=client,
            concurrency=1,
            batch_samples=1,
            retry=RetryPolicy(max_attempts=1),
            secrets=["", secret],
        ) as sender,
    ):
        sender.add(series(1, 2))
    messages = sender.stats().messages
    assert set(messages) == {"network", "400"}
    assert messages["400"] == "x" * 480 + "***"
    assert "S" not in messages["network"].replace("ConnectError", "")
