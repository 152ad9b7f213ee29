"""Shift parsing/resolution, retention parsing, and the per-line rewrite (shift before trim)."""

from __future__ import annotations

import math

import orjson
import pytest

from promkit.bundle.alignment import (
    MONTH_MS,
    LineRewriter,
    ShiftMode,
    ShiftSpec,
    parse_label_edits,
    parse_retention_ms,
)
from promkit.core.errors import DataError, UsageError
from promkit.core.series import decode_line

NOW = 1_800_000_000_000
DAY = 86_400_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1", MONTH_MS),
        ("3", 3 * MONTH_MS),
        ("1.5", round(1.5 * MONTH_MS)),
        ("30d", 30 * DAY),
        ("2w", 14 * DAY),
        ("1y", 365 * DAY),
        ("12h", 12 * 3_600_000),
        ("100y", 100 * 365 * DAY),
    ],
)
def test_alignment_retention_parses_vm_syntax(text: str, ms: int) -> None:
    assert parse_retention_ms(text) == ms


@pytest.mark.parametrize("text", ["", "abc", "0", "1x", "-1"])
def test_alignment_retention_rejects_garbage(text: str) -> None:
    with pytest.raises(UsageError):
        parse_retention_ms(text)


@pytest.mark.parametrize(
    ("text", "first", "last", "shift"),
    [
        (None, 1000, 2000, 0),
        ("none", 1000, 2000, 0),
        ("now", 1000, 2000, NOW - 2000),
        ("2h", 1000, 2000, 7_200_000),
        ("+2h", 1000, 2000, 7_200_000),
        ("-30m", 1000, 2000, -1_800_000),
        ("align=1800000000", 1000, 2000, NOW - 1000),
        ("align=2027-01-15T08:00:00Z", 5000, 9000, NOW - 5000),
    ],
)
def test_alignment_shift_resolves(text: str | None, first: int, last: int, shift: int) -> None:
    spec = ShiftSpec.parse(text, now_ms=NOW)
    assert spec.resolve(first, last, now_ms=NOW) == shift


def test_alignment_shift_without_samples_is_zero() -> None:
    assert ShiftSpec(ShiftMode.NOW).resolve(None, None, now_ms=NOW) == 0


@pytest.mark.parametrize("text", ["yesterday", "align=", "2x", "--1h"])
def test_alignment_shift_rejects_garbage(text: str) -> None:
    with pytest.raises(UsageError):
        ShiftSpec.parse(text, now_ms=NOW)


def test_alignment_label_edits_are_validated() -> None:
    assert parse_label_edits(["env=lab", "a=b=c"], ["pod"]) == (
        {"env": "lab", "a": "b=c"},
        ("pod",),
    )
    for add, drop in (
        (["noequals"], []),
        (["bad-name=x"], []),
        ([], ["__name__"]),
        (["a=1"], ["a"]),
    ):
        with pytest.raises(UsageError):
            parse_label_edits(add, drop)


def _line(metric: dict[str, str], values: str, stamps: list[int]) -> bytes:
    return (
        b'{"metric":'
        + orjson.dumps(metric)
        + b',"values":['
        + values.encode()
        + b'],"timestamps":'
        + orjson.dumps(stamps)
        + b"}"
    )


def test_alignment_rewriter_passes_plain_lines_through() -> None:
    line = _line({"__name__": "up", "job": "a"}, "1,+Inf,NaN", [1, 2, 3])
    res = LineRewriter().rewrite(line)
    assert res.line == line + b"\n"
    assert (res.kept, res.nan, res.metric_name()) == (3, 1, "up")
    assert res.time_range() == (1, 3)


def test_alignment_rewriter_shifts_then_trims() -> None:
    # Without the shift every point is older than the cutoff; after it only one is.
    stamps = [NOW - 60 * DAY, NOW - 45 * DAY, NOW - 40 * DAY]
    line = _line({"__name__": "m"}, "1,2,3", stamps)
    cutoff = NOW - 30 * DAY
    assert LineRewriter(cutoff_ms=cutoff).rewrite(line).line is None
    res = LineRewriter(shift_ms=20 * DAY, cutoff_ms=cutoff).rewrite(line)
    assert res.line is not None
    series, _ = decode_line(res.line)
    assert series.timestamps == [NOW - 25 * DAY, NOW - 20 * DAY]
    assert series.values == [2, 3]
    assert (res.kept, res.dropped_retention) == (2, 1)


def test_alignment_rewriter_everything_trimmed_gives_no_line() -> None:
    res = LineRewriter(cutoff_ms=NOW).rewrite(_line({"__name__": "m"}, "1", [1]))
    assert res.line is None
    assert res.dropped_retention == 1


def test_alignment_rewriter_bad_values_skip_points_not_series() -> None:
    line = (
        b'{"metric":{"__name__":"m","job":"x"},'
        b'"values":[null,"NaN","Infinity","-Infinity","12.5",true,false,"abc",{}],'
        b'"timestamps":[1,2,3,4,5,6,7,8,9]}'
    )
    res = LineRewriter(add_labels={"env": "lab"}, drop_labels=["job"]).rewrite(line)
    assert res.line is not None
    series, _ = decode_line(res.line)
    assert series.labels == {"__name__": "m", "env": "lab"}
    assert series.timestamps == [2, 3, 4, 5, 6, 7]
    assert math.isnan(series.values[0])
    assert series.values[1:] == [math.inf, -math.inf, 12.5, 1, 0]
    assert (res.kept, res.skipped_values, res.nan) == (6, 3, 1)
    # VictoriaMetrics 1.79 reads only numbers and bare tokens
    assert b"null" not in res.line and b'"NaN"' not in res.line


def test_alignment_rewriter_label_edits_on_fast_path() -> None:
    line = _line({"__name__": "m", "pod": "p1", "job": "j"}, "1,2", [10, 20])
    res = LineRewriter(add_labels={"env": "lab"}, drop_labels=["pod"], shift_ms=5).rewrite(line)
    assert res.line is not None
    series, _ = decode_line(res.line)
    assert series.labels == {"__name__": "m", "job": "j", "env": "lab"}
    assert series.timestamps == [15, 25]


def test_alignment_rewriter_normalises_float_and_string_timestamps() -> None:
    line = b'{"metric":{"__name__":"m"},"values":[1,2],"timestamps":[1000.0,"2000"]}'
    res = LineRewriter().rewrite(line)
    assert res.line is not None
    assert decode_line(res.line)[0].timestamps == [1000, 2000]


def test_alignment_rewriter_escaped_names_and_other_layouts() -> None:
    line = b'{"values":[1],"timestamps":[5],"metric":{"__name__":"a\\"b","x":"1"}}'
    res = LineRewriter().rewrite(line)
    assert res.metric_name() == 'a"b'
    assert res.line is not None and decode_line(res.line)[0].timestamps == [5]


def test_alignment_rewriter_refuses_non_series() -> None:
    with pytest.raises(DataError):
        LineRewriter().rewrite(b'{"hello":1}')
