"""Time windows: full coverage, no overlap, inclusive end handled, step alignment."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promkit.bundle.windows import (
    Window,
    auto_window_ms,
    format_seconds,
    parse_duration_ms,
    parse_time_ms,
    plan_windows,
)
from promkit.core.errors import UsageError


@settings(deadline=None, max_examples=60)
@given(
    start=st.integers(min_value=0, max_value=2_000_000_000_000),
    length=st.integers(min_value=0, max_value=3 * 86_400_000),
    window=st.one_of(st.none(), st.integers(min_value=30_000, max_value=86_400_000)),
)
def test_windows_cover_every_millisecond_exactly_once(
    start: int, length: int, window: int | None
) -> None:
    end = start + length
    wins = plan_windows(start, end, window_ms=window)
    assert wins[0].start_ms == start
    assert wins[-1].last_ms == end  # the user's end is inclusive
    for prev, nxt in itertools.pairwise(wins):
        assert prev.end_ms == nxt.start_ms  # half-open: no shared millisecond
        assert prev.last_ms < nxt.start_ms
    assert [w.index for w in wins] == list(range(len(wins)))


@settings(deadline=None, max_examples=60)
@given(
    start=st.integers(min_value=0, max_value=2_000_000_000_000),
    length=st.integers(min_value=0, max_value=3 * 86_400_000),
    step=st.sampled_from([1000, 15_000, 30_000, 60_000, 300_000]),
)
def test_query_range_points_fall_into_exactly_one_window(
    start: int, length: int, step: int
) -> None:
    wins = plan_windows(start, start + length, step_ms=step)
    # evaluation points of each window: window.start + k*step <= window.last_ms
    points: list[int] = []
    for w in wins:
        t = w.start_ms
        while t <= w.last_ms:
            points.append(t)
            t += step
    expected = list(range(start, start + length + 1, step))
    assert points == expected


def test_window_params_are_inclusive_seconds_with_millis() -> None:
    w = Window(0, 1_763_900_000_000, 1_763_900_060_000)
    assert w.params() == ("1763900000.000", "1763900059.999")


@pytest.mark.parametrize(("ms", "text"), [(0, "0.000"), (1, "0.001"), (-1500, "-1.500")])
def test_format_seconds_is_exact(ms: int, text: str) -> None:
    assert format_seconds(ms) == text


def test_auto_window_sizes() -> None:
    assert auto_window_ms(15 * 60_000) == 5 * 60_000
    assert auto_window_ms(24 * 3_600_000) == 2 * 3_600_000
    assert auto_window_ms(365 * 86_400_000) == 6 * 3_600_000
    assert auto_window_ms(24 * 3_600_000, step_ms=7_000) % 7_000 == 0


def test_custom_window_out_of_bounds_and_reversed_range_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        plan_windows(0, 10, window_ms=1000)
    with pytest.raises(UsageError):
        plan_windows(0, 10, window_ms=25 * 3_600_000)
    with pytest.raises(UsageError):
        plan_windows(10, 0)


@pytest.mark.parametrize(
    ("text", "ms"),
    [("30s", 30_000), ("1h30m", 5_400_000), ("2d", 172_800_000), ("300", 300_000), ("1.5s", 1500)],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["", "5x", "h", "1h 2m"])
def test_parse_duration_rejects_garbage(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_duration_ms(bad)


def test_parse_time_forms() -> None:
    now = 1_763_900_000_000
    assert parse_time_ms("now", now_ms=now) == now
    assert parse_time_ms("now-1h", now_ms=now) == now - 3_600_000
    assert parse_time_ms("1763900000.5", now_ms=now) == 1_763_900_000_500
    assert parse_time_ms("2025-11-23T12:13:20Z", now_ms=now) == 1_763_900_000_000
    assert parse_time_ms("2025-11-23T12:13:20", now_ms=now) == 1_763_900_000_000
    with pytest.raises(UsageError):
        parse_time_ms("yesterday", now_ms=now)


def test_a_tiny_tail_joins_the_last_window() -> None:
    wins = plan_windows(0, 5 * 60_000, window_ms=30_000)  # end inclusive: 300001 ms
    assert len(wins) == 10
    assert wins[-1] == Window(9, 270_000, 300_001)
    assert len(plan_windows(0, 5 * 60_000 + 3000, window_ms=30_000)) == 11


@pytest.mark.parametrize(
    "text", ["9" * 400, "9" * 400 + "s", "99999999999999999999y", "now-" + "9" * 400]
)
def test_windows_absurd_numbers_are_usage_errors_not_overflow(text: str) -> None:
    with pytest.raises(UsageError, match="out of range"):
        if text.startswith("now-"):
            parse_time_ms(text, now_ms=0)
        else:
            parse_duration_ms(text)


def test_windows_huge_unix_time_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="out of range"):
        parse_time_ms("9" * 400, now_ms=0)
