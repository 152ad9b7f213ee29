"""Timestamp modes: never later than now; shift keeps spacing; realtime keeps cadence."""

from __future__ import annotations

import itertools

import pytest

from promkit.fire.timestamps import RealtimeReplay, cadence_ms, restamp

NOW = 1_700_000_000_000
TS = [NOW - 3_600_000 + i * 15_000 for i in range(5)]
VALUES = [1.0, 2.0, 3.0, 4.0, 5.0]


def test_shift_ends_at_now_and_keeps_spacing() -> None:
    r = restamp("shift", TS, VALUES, NOW)
    assert r.timestamps[-1] == NOW
    assert [b - a for a, b in zip(r.timestamps, r.timestamps[1:], strict=False)] == [15_000] * 4
    assert r.values == VALUES


def test_original_keeps_and_drops_future_points() -> None:
    assert restamp("original", TS, VALUES, NOW).timestamps == TS
    future = [*TS[:3], NOW + 1, NOW + 2]
    r = restamp("original", future, VALUES, NOW)
    assert r.timestamps == TS[:3] and r.values == VALUES[:3] and r.dropped_future == 2


def test_burst_is_one_ms_apart_ending_now() -> None:
    r = restamp("burst", TS, VALUES, NOW)
    assert r.timestamps == [NOW - 4, NOW - 3, NOW - 2, NOW - 1, NOW]


@pytest.mark.parametrize("mode", ["shift", "original", "burst"])
def test_no_mode_stamps_into_the_future(mode: str) -> None:
    future = [NOW + 10_000 * i for i in range(5)]
    r = restamp(mode, future, VALUES, NOW)  # type: ignore[arg-type]
    assert all(t <= NOW for t in r.timestamps)


def test_cadence_is_median_spacing() -> None:
    assert cadence_ms([0, 10, 20, 25, 35], 999) == 10
    assert cadence_ms([5], 999) == 999


def test_realtime_replays_at_cadence_and_cycles_values() -> None:
    replay = RealtimeReplay(start_ms=NOW, duration_ms=60_000)
    track = replay.add(TS, VALUES)
    out = replay.due(NOW + 59_999)
    assert [v for _, _, v in out] == [1.0, 2.0, 3.0, 4.0]
    stamps = [t for _, t, _ in out]
    assert all(NOW <= t < NOW + 60_000 for t in stamps)
    assert [b - a for a, b in itertools.pairwise(stamps)] == [15_000] * 3
    assert {i for i, _, _ in out} == {track}
    assert replay.next_due_ms() is None
    assert replay.expected_samples() == 4


def test_realtime_never_emits_before_due() -> None:
    replay = RealtimeReplay(start_ms=NOW, duration_ms=60_000)
    replay.add([1000, 11_000], [7.0, 8.0])  # cadence 10 s, phase 1 s
    first = replay.next_due_ms()
    assert first is not None and first >= NOW and first % 10_000 == 1000
    assert replay.due(first - 1) == []
    assert replay.due(first) == [(0, first, 7.0)]
