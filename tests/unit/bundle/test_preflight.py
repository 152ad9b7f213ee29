"""Preflight over a bundle: counts, ranges, labels, target limits, retention after shift."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from promkit.bundle.alignment import MONTH_MS, ShiftSpec
from promkit.bundle.preflight import human_duration, run_preflight, target_limits
from promkit.bundle.reader import open_bundle
from promkit.core.errors import DataError, UsageError

NOW = 1_800_000_000_000
DAY = 86_400_000


def _write(tmp_path: Path, rows: list[bytes]) -> Path:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    return path


def _row(metric: dict[str, str], values: list[object], stamps: list[int]) -> bytes:
    return orjson.dumps({"metric": metric, "values": values, "timestamps": stamps})


def test_preflight_counts_series_samples_range_and_labels(tmp_path: Path) -> None:
    rows = [
        _row({"__name__": "up", "job": "a", "instance": "i1"}, [1, 1], [NOW - 2000, NOW - 1000]),
        # the same series again (a second window): counted once
        _row({"__name__": "up", "job": "a", "instance": "i1"}, [1], [NOW]),
        _row({"__name__": "x", "job": "b"}, [None, "3", True], [NOW - 5000, NOW - 4000, NOW]),
        b"not json at all",
    ]
    report = run_preflight(open_bundle(_write(tmp_path, rows)), now_ms=NOW)
    assert (report.lines, report.bad_lines, report.series) == (4, 1, 2)
    assert (report.samples, report.skipped_points) == (5, 1)
    assert (report.first_ms, report.last_ms) == (NOW - 4000, NOW)
    stats = {s.name: s.series for s in report.label_stats}
    assert stats == {"__name__": 2, "job": 2, "instance": 1}
    assert report.max_labels_seen == 3
    assert any("not series" in w for w in report.warnings)
    assert any("no usable value" in w for w in report.warnings)
    assert any("retention is unknown" in w for w in report.warnings)


def test_preflight_bare_number_retention_and_suggested_shift(tmp_path: Path) -> None:
    old = NOW - 2 * MONTH_MS
    rows = [_row({"__name__": "m", "i": str(i)}, [1, 2], [old, old + 60_000]) for i in range(3)]
    limits = target_limits({"retentionPeriod": "1", "maxLabelsPerTimeseries": "30"})
    assert (limits.retention_ms, limits.retention_source) == (MONTH_MS, "flag")
    report = run_preflight(open_bundle(_write(tmp_path, rows)), limits=limits, now_ms=NOW)
    assert report.retention_cutoff_ms == NOW - MONTH_MS
    assert report.samples_outside_retention == 6
    assert report.suggested_shift == "now"
    assert report.suggested_shift_ms == NOW - (old + 60_000)
    assert any("--shift now" in w and "6 of 6" in w for w in report.warnings)


def test_preflight_counts_retention_after_the_shift(tmp_path: Path) -> None:
    old = NOW - 2 * MONTH_MS
    rows = [_row({"__name__": "m"}, [1, 2, 3], [old, old + DAY, NOW - MONTH_MS - DAY])]
    limits = target_limits({}, retention="1")
    path = _write(tmp_path, rows)
    now_shift = run_preflight(
        open_bundle(path), limits=limits, shift=ShiftSpec.parse("now", now_ms=NOW), now_ms=NOW
    )
    assert now_shift.shift_ms == MONTH_MS + DAY
    assert now_shift.shifted_last_ms == NOW
    assert now_shift.samples_outside_retention == 0
    explicit = run_preflight(
        open_bundle(path), limits=limits, shift=ShiftSpec.parse("30d", now_ms=NOW), now_ms=NOW
    )
    assert explicit.samples_outside_retention == 1  # old + 30d is still 1 day too old
    # align so the data reaches too far back: the second pass counts the loss exactly
    aligned = run_preflight(
        open_bundle(path),
        limits=limits,
        shift=ShiftSpec.parse(f"align={(NOW - 40 * DAY) / 1000}", now_ms=NOW),
        now_ms=NOW,
    )
    assert aligned.shifted_first_ms == NOW - 40 * DAY
    assert aligned.samples_outside_retention == 2


def test_preflight_warns_about_label_limit_and_respects_drops(tmp_path: Path) -> None:
    wide = {"__name__": "w", **{f"l{i}": "v" for i in range(12)}}
    rows = [_row(wide, [1], [NOW]), _row({"__name__": "n"}, [1], [NOW])]
    path = _write(tmp_path, rows)
    limits = target_limits({"maxLabelsPerTimeseries": "10"})
    report = run_preflight(open_bundle(path), limits=limits, now_ms=NOW)
    assert (report.max_labels_seen, report.series_over_label_limit) == (13, 1)
    assert any("more than 10 labels" in w for w in report.warnings)
    dropped = run_preflight(
        open_bundle(path),
        limits=limits,
        drop_labels=["l0", "l1", "l2"],
        add_labels={"env": "lab"},
        now_ms=NOW,
    )
    assert (dropped.max_labels_seen, dropped.series_over_label_limit) == (11, 1)
    enough = run_preflight(
        open_bundle(path), limits=limits, drop_labels=[f"l{i}" for i in range(4)], now_ms=NOW
    )
    assert enough.series_over_label_limit == 0
    assert not any("labels" in w for w in enough.warnings)


def test_preflight_overrides_win_over_flags() -> None:
    limits = target_limits(
        {"retentionPeriod": "1", "maxLabelsPerTimeseries": "30"}, retention="2d", max_labels=5
    )
    assert (limits.retention_ms, limits.retention_source) == (2 * DAY, "override")
    assert (limits.max_labels, limits.max_labels_source) == (5, "override")
    with pytest.raises(UsageError):
        target_limits({}, max_labels=0)


def test_preflight_future_samples_and_nan(tmp_path: Path) -> None:
    rows = [
        b'{"metric":{"__name__":"f"},"values":[NaN,1],"timestamps":[%d,%d]}' % (NOW, NOW + 5 * DAY)
    ]
    report = run_preflight(open_bundle(_write(tmp_path, rows)), now_ms=NOW)
    assert report.samples_in_future == 1
    assert report.nan_points == 1
    assert report.suggested_shift == "now"
    assert any("future" in w for w in report.warnings)


def test_preflight_only_bad_lines_is_still_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_row({"__name__": "m"}, [1], [1]) + b"\n" + b"{broken\n")
    report = run_preflight(open_bundle(path), now_ms=NOW)
    assert report.bad_lines == 1


def test_preflight_empty_series_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_row({"__name__": "m"}, [], []) + b"\n")
    report = run_preflight(open_bundle(path), now_ms=NOW)
    assert report.samples == 0 and "The bundle holds no samples." in report.warnings
    path.write_bytes(b"\n\n")
    with pytest.raises(DataError):
        run_preflight(open_bundle(path), now_ms=NOW)


def test_preflight_human_duration() -> None:
    assert human_duration(93_784_000) == "1d2h3m4s"
    assert human_duration(-60_000) == "-1m"
    assert human_duration(10) == "0s"
