"""The VM JSON-lines codec: tolerant decoding, VM-compatible encoding, streaming lines."""

from __future__ import annotations

import itertools
import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from promkit.core.errors import DataError
from promkit.core.series import (
    DecodeStats,
    Labels,
    MetricRewriter,
    Series,
    decode_line,
    encode_line,
    encode_series,
    iter_lines,
    iter_series,
    rewrite_metric,
)

TS = [1_700_000_000_000 + i * 15_000 for i in range(8)]


def line(values: str, timestamps: list[int] | None = None, metric: bytes | None = None) -> bytes:
    ts = orjson.dumps(timestamps if timestamps is not None else TS[: values.count(",") + 1])
    m = metric if metric is not None else b'{"__name__":"m","job":"a"}'
    return b'{"metric":' + m + b',"values":[' + values.encode() + b'],"timestamps":' + ts + b"}"


def same(a: list[float], b: list[float]) -> bool:
    return all((x == y) or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("1", 1.0),
        ("-2.5", -2.5),
        ("1e3", 1000.0),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
        ("NaN", math.nan),
        ("Inf", math.inf),
        ("Infinity", math.inf),
        ("+Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("-NaN", math.nan),
        ('"NaN"', math.nan),
        ('"Infinity"', math.inf),
        ('"-Infinity"', -math.inf),
        ('"+Inf"', math.inf),
        ('"-Inf"', -math.inf),
        ('"1.5"', 1.5),
        ('" 7 "', 7.0),
        ("true", 1.0),
        ("false", 0.0),
        ("1e400", math.inf),
        ("1" + "0" * 40, 1e40),
    ],
)
def test_decode_line_accepts_every_tolerant_token(token: str, expected: float) -> None:
    series, skipped = decode_line(line(f"0,{token},2"))
    assert skipped == 0
    assert same(series.values, [0, expected, 2])
    assert series.timestamps == TS[:3]


@pytest.mark.parametrize("bad", ["null", '"abc"', '"1_000"', "{}", "[1]", '""'])
def test_decode_line_skips_only_the_bad_point(bad: str) -> None:
    series, skipped = decode_line(line(f"1,{bad},3"))
    assert skipped == 1
    assert series.values == [1, 3]
    assert series.timestamps == [TS[0], TS[2]]


@pytest.mark.parametrize("bad_ts", ['"x"', "1.5", "null", "true", str(2**64)])
def test_decode_line_skips_points_with_bad_timestamps(bad_ts: str) -> None:
    raw = b'{"metric":{"a":"b"},"values":[1,2],"timestamps":[5,' + bad_ts.encode() + b"]}"
    series, skipped = decode_line(raw)
    assert (series.values, series.timestamps, skipped) == ([1], [5], 1)


def test_decode_line_accepts_integral_float_and_string_timestamps() -> None:
    series, skipped = decode_line(b'{"metric":{"a":"b"},"values":[1,2],"timestamps":[5.0,"6"]}')
    assert (series.timestamps, skipped) == ([5, 6], 0)


def test_decode_line_counts_length_mismatch_as_skipped() -> None:
    series, skipped = decode_line(line("1,2,3", timestamps=TS[:2]))
    assert (series.values, series.timestamps, skipped) == ([1, 2], TS[:2], 1)


def test_decode_line_keeps_inf_text_inside_label_values() -> None:
    metric = b'{"__name__":"h_bucket","le":"+Inf","note":"NaN -Inf \\"+Inf\\" Infinity"}'
    series, _ = decode_line(line("1,+Inf,NaN", metric=metric))
    assert series.labels["le"] == "+Inf"
    assert series.labels["note"] == 'NaN -Inf "+Inf" Infinity'
    assert same(series.values, [1, math.inf, math.nan])


def test_decode_line_mixes_bare_tokens_with_other_oddities() -> None:
    series, skipped = decode_line(line('+Inf,"7",null,1e400,-Inf,NaN'))
    assert skipped == 1
    assert same(series.values, [math.inf, 7, math.inf, -math.inf, math.nan])
    assert series.timestamps == [TS[0], TS[1], TS[3], TS[4], TS[5]]


def test_decode_line_accepts_other_key_order_and_whitespace() -> None:
    raw = b'{ "timestamps" : [1, 2], "values" : [ +Inf , 3 ], "metric" : { "a" : "b" } }'
    series, skipped = decode_line(raw)
    assert (dict(series.labels), series.values, series.timestamps, skipped) == (
        {"a": "b"},
        [math.inf, 3],
        [1, 2],
        0,
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1,2]",
        b'{"values":[1],"timestamps":[1]}',
        b'{"metric":"x","values":[1],"timestamps":[1]}',
        b'{"metric":{"a":{"b":1}},"values":[1],"timestamps":[1]}',
        b'{"metric":{"a":"b"},"values":1,"timestamps":[1]}',
        b'{"metric":{"a":"b"},"values":[1],"timestamps":[1]',
    ],
)
def test_decode_line_rejects_lines_that_are_no_series(raw: bytes) -> None:
    with pytest.raises(DataError) as info:
        decode_line(raw)
    assert info.value.message


def test_decode_line_stringifies_scalar_label_values() -> None:
    series, _ = decode_line(b'{"metric":{"a":1,"b":true},"values":[1],"timestamps":[1]}')
    assert dict(series.labels) == {"a": "1", "b": "true"}


def test_iter_series_counts_bad_lines_and_points() -> None:
    stats = DecodeStats()
    lines = [line("1,2"), b"garbage", line("1,null,3")]
    out = list(iter_series(lines, stats=stats))
    assert len(out) == 2
    assert (stats.lines, stats.series, stats.samples, stats.skipped_points, stats.bad_lines) == (
        3,
        2,
        4,
        1,
        1,
    )
    assert stats.errors[0].startswith("line 2:")
    with pytest.raises(DataError, match="line 2"):
        list(iter_series(lines, strict=True))


def test_encode_writes_bare_tokens_vm_accepts() -> None:
    out = encode_line({"__name__": "m"}, [1, 0.5, math.inf, -math.inf, math.nan], TS[:5])
    assert out.endswith(b"\n")
    assert b'"values":[1,0.5,+Inf,-Inf,NaN]' in out
    series, skipped = decode_line(out.rstrip(b"\n"))
    assert skipped == 0
    assert same(series.values, [1, 0.5, math.inf, -math.inf, math.nan])


def test_encode_refuses_null_values() -> None:
    with pytest.raises(DataError):
        encode_line({"a": "b"}, [None], [1])  # type: ignore[list-item]


def test_encode_is_byte_identical_to_vm_export_layout() -> None:
    raw = line("1,2.5,0.0001,123456789", metric=b'{"__name__":"m","job":"a","le":"+Inf"}')
    series, _ = decode_line(raw)
    assert encode_series(series) == raw + b"\n"


finite = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
special = st.sampled_from([math.inf, -math.inf, math.nan])
label_text = st.text(min_size=0, max_size=20)


@given(
    labels=st.dictionaries(st.text(min_size=1, max_size=10), label_text, max_size=5),
    values=st.lists(finite | special, max_size=30),
)
def test_encode_decode_round_trip(labels: dict[str, str], values: list[float]) -> None:
    ts = list(range(len(values)))
    series, skipped = decode_line(encode_line(labels, values, ts))
    assert skipped == 0
    assert dict(series.labels) == labels
    assert same(series.values, values)
    assert series.timestamps == ts


@given(text=label_text)
def test_rewrite_metric_never_touches_strings_that_look_like_tokens(text: str) -> None:
    raw = encode_line({"__name__": "m", "x": text, "le": "+Inf"}, [1, math.inf], [1, 2])
    out = rewrite_metric(raw.rstrip(b"\n"), lambda m: {**m, "job": "new"})
    series, _ = decode_line(out)
    assert series.labels["x"] == text
    assert series.labels["job"] == "new"


def test_rewrite_metric_fast_path_passes_points_through_verbatim() -> None:
    raw = line("1,+Inf,NaN,1e400,-0.000")
    out = rewrite_metric(raw, lambda m: {k: v.upper() for k, v in m.items()})
    assert out == line("1,+Inf,NaN,1e400,-0.000", metric=b'{"__name__":"M","job":"A"}') + b"\n"


@pytest.mark.parametrize(
    "raw",
    [
        line('1,"2",null', timestamps=[1, 2, 3], metric=b'{"job":"a"}'),
        b'{"values":[1,"2",null],"metric":{"job":"a"},"timestamps":[1,2,3]}',
        b'{ "metric": {"job":"a"}, "values": [1,"2",null], "timestamps": [1,2,3] }',
    ],
)
def test_rewrite_metric_normalises_lines_vm_would_refuse(raw: bytes) -> None:
    stats = DecodeStats()
    out = rewrite_metric(raw, lambda m: {"job": m["job"] + "x"}, stats=stats)
    assert out == b'{"metric":{"job":"ax"},"values":[1,2.0],"timestamps":[1,2]}\n'
    assert stats.skipped_points == 1


def test_rewrite_metric_accepts_labels_result() -> None:
    out = rewrite_metric(line("1"), lambda m: Labels(m).with_labels({"a": "b"}))
    assert decode_line(out)[0].labels == {"__name__": "m", "job": "a", "a": "b"}


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1 << 20])
def test_iter_lines_handles_any_chunk_boundary(size: int) -> None:
    lines = [line("1,2"), b"x" * 5000, line("+Inf,NaN,3"), b"last"]
    blob = b"\n".join(lines[:2]) + b"\r\n\n  \n" + b"\n".join(lines[2:])  # no final newline
    chunks = [blob[i : i + size] for i in range(0, len(blob), size)]
    assert list(iter_lines(chunks)) == lines


def test_iter_lines_has_no_line_length_limit() -> None:
    huge = line(",".join(["1.5"] * 300_000), timestamps=list(range(300_000)))
    assert len(huge) > 3 << 20  # vmgather stops at 1 MiB lines
    chunks = [huge[i : i + 65536] for i in range(0, len(huge), 65536)] + [b"\n", b"tail\n"]
    got = list(iter_lines(chunks))
    assert got == [huge, b"tail"]
    series, skipped = decode_line(got[0])
    assert (len(series), skipped) == (300_000, 0)


def test_iter_lines_empty_input() -> None:
    assert list(iter_lines([])) == []
    assert list(iter_lines([b"", b"\n\n"])) == []


def test_labels_are_sorted_hashable_and_immutable() -> None:
    a = Labels({"z": "1", "__name__": "m", "A": "2"})
    b = Labels([("A", "2"), ("z", "1"), ("__name__", "m")])
    assert list(a) == ["A", "__name__", "z"]
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a == {"A": "2", "__name__": "m", "z": "1"}
    assert a.name == "m"
    assert a.with_labels({"z": "9"})["z"] == "9" and a["z"] == "1"
    assert "z" not in a.without(["z"])
    with pytest.raises(TypeError):
        a["z"] = "2"  # type: ignore[index]


def test_series_requires_parallel_lists() -> None:
    with pytest.raises(DataError):
        Series.of({"a": "b"}, [1, 2], [1])
    s = Series.of({"a": "b"}, [1, 2], [10, 20])
    assert [tuple(p) for p in s.samples()] == [(1, 10), (2, 20)]


@given(
    lines=st.lists(
        st.binary(min_size=1, max_size=50).map(lambda b: b.replace(b"\n", b"x")), max_size=20
    ),
    cuts=st.lists(st.integers(0, 2000), max_size=30),
)
def test_iter_lines_equals_splitlines_for_any_chunking(lines: list[bytes], cuts: list[int]) -> None:
    blob = b"\n".join(lines)
    points = sorted({c for c in cuts if c < len(blob)} | {0, len(blob)})
    chunks = [blob[a:b] for a, b in itertools.pairwise(points)]
    expected = [x.removesuffix(b"\r") for x in blob.split(b"\n")]
    assert list(iter_lines(chunks)) == [x for x in expected if x and not x.isspace()]


@given(values=st.lists(finite | special, min_size=1, max_size=20))
def test_rewrite_metric_fast_path_agrees_with_full_decode(values: list[float]) -> None:
    raw = encode_line({"__name__": "m", "job": "a"}, values, list(range(len(values))))
    out = rewrite_metric(raw.rstrip(b"\n"), lambda m: {**m, "job": "b"})
    series, skipped = decode_line(out)
    assert skipped == 0 and series.labels == {"__name__": "m", "job": "b"}
    assert same(series.values, values)


# ------------------------------------------------------------------ MetricRewriter


class CountingRewrite:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, m: dict[str, str]) -> dict[str, str]:
        self.calls += 1
        return {k: v.upper() for k, v in m.items()}


def test_metric_rewriter_rewrites_each_distinct_metric_once() -> None:
    rewrite = CountingRewrite()
    rewriter = MetricRewriter(rewrite)
    a, b = b'{"__name__":"m","job":"a"}', b'{"__name__":"m","job":"b"}'
    window = [line("1,2", metric=a), line("3,+Inf", metric=b)]
    outs = [rewriter(raw) for _ in range(3) for raw in window]  # three export windows
    assert rewrite.calls == 2
    assert outs[:2] == [rewrite_metric(raw, CountingRewrite()) for raw in window]
    assert outs[2:4] == outs[:2] and outs[4:] == outs[:2]
    assert outs[1] == line("3,+Inf", metric=b'{"__name__":"M","job":"B"}') + b"\n"


def test_metric_rewriter_cache_is_bounded_and_stays_correct() -> None:
    rewrite = CountingRewrite()
    rewriter = MetricRewriter(rewrite, cache_size=2)
    metrics = [b'{"job":"%d"}' % i for i in range(3)]
    for m in [*metrics, metrics[0]]:
        assert rewriter(line("1", metric=m)) == rewrite_metric(
            line("1", metric=m), CountingRewrite()
        )
    assert rewrite.calls == 4  # the third metric restarted the full cache, so "0" came again


@pytest.mark.parametrize(
    ("raw", "skipped"),
    [
        # points VictoriaMetrics refuses on import: the fast path must not copy them through
        (line('1,"2",3', timestamps=[1, 2, 3]), 0),
        (line("1,null,3", timestamps=[1, 2, 3]), 1),
        (line("1,true,false", timestamps=[1, 2, 3]), 0),
        (line('1,"NaN"', timestamps=[1, 2]), 0),
        (line("1,2", timestamps=[1, 2]).replace(b"[1,2]}", b'[1,"2"]}'), 0),
        (line("1,2", timestamps=[1, 2]).replace(b"[1,2]}", b"[1,null]}"), 1),
        (line("1,{},[2]", timestamps=[1, 2, 3]), 2),
        (line("1, 2", timestamps=[1, 2]), 0),
        # arrays of different lengths: the extra points are dropped
        (line("1,2,3", timestamps=[1, 2]), 1),
        (line("1", timestamps=[1, 2, 3]), 2),
        (line("", timestamps=[1]), 1),
        (line("1", timestamps=[]), 1),
        # labels that are no strings, other layouts, trailing blanks
        (line("1", timestamps=[1], metric=b'{"job":7,"up":true}'), 0),
        (b'{"values":[1],"metric":{"job":"a"},"timestamps":[1]}', 0),
        (line("1", timestamps=[1]) + b" \t", 0),
    ],
)
def test_metric_rewriter_refuses_the_fast_path_where_it_must(raw: bytes, skipped: int) -> None:
    stats = DecodeStats()
    rewriter = MetricRewriter(lambda m: {**m, "job": "x"}, stats=stats)
    out = rewriter(raw)
    assert rewriter(raw) == out  # again, now with whatever the first call cached
    assert out == rewrite_metric(raw, lambda m: {**m, "job": "x"})
    # the points were decoded and re-encoded, not copied through
    decoded, _ = decode_line(raw)
    assert out == encode_line({**decoded.labels, "job": "x"}, decoded.values, decoded.timestamps)
    assert stats.skipped_points == 2 * skipped
    assert decode_line(out)[1] == 0


@pytest.mark.parametrize(
    "raw",
    [line("1,x2", timestamps=[1, 2]), line("1,2]", timestamps=[1]), b'{"metric":{"job":"a"}'],
)
def test_metric_rewriter_raises_on_lines_that_are_no_series(raw: bytes) -> None:
    with pytest.raises(DataError):
        MetricRewriter(lambda m: m)(raw)


point = st.sampled_from(["1", "-2.5e3", "+Inf", "-Inf", "NaN", "null", '"7"', "true", "0"])


@given(points=st.lists(point, min_size=1, max_size=12))
def test_metric_rewriter_agrees_with_rewrite_metric(points: list[str]) -> None:
    raw = line(",".join(points), timestamps=list(range(len(points))))
    rewriter = MetricRewriter(lambda m: {**m, "job": "b"})
    out = rewriter(raw)
    assert out == rewrite_metric(raw, lambda m: {**m, "job": "b"})
    assert rewriter(raw) == out
    series, skipped = decode_line(out)
    assert skipped == 0 and series.labels == {"__name__": "m", "job": "b"}


@pytest.mark.parametrize(
    ("raw", "points"),
    [
        (line("1,+Inf,NaN,-2e-3", timestamps=[1, 2, 3, 4]), 4),  # copied through
        (line("7", timestamps=[1]), 1),
        (line("", timestamps=[]), 0),
        (line('1,"2",null', timestamps=[1, 2, 3]), 2),  # decoded: null dropped
        (line("1,2,3", timestamps=[1, 2]), 2),
    ],
)
def test_metric_rewriter_counts_the_points_it_writes(raw: bytes, points: int) -> None:
    out, counted = MetricRewriter(lambda m: m).counted(raw)
    assert counted == points == len(decode_line(out)[0].timestamps)
