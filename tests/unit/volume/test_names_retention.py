from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promkit.core.errors import UsageError
from promkit.volume.names import (
    Ref,
    check_name,
    check_version,
    new_version,
    parse_ref,
    version_time,
)
from promkit.volume.retention import RetentionPolicy, decide, parse_span


def test_version_ids_sort_by_time_and_are_unique() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    a, b = new_version(t), new_version(t)
    assert a.startswith("20260102T030405.678Z-") and a != b
    assert version_time(a) == t
    later = new_version(t + timedelta(milliseconds=1))
    assert sorted([later, a]) == [a, later]
    assert check_version(a) == a


@pytest.mark.parametrize("name", ["db", "pg-data_1.2", "A" * 128])
def test_names_valid(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "a@b", "a/b", "-x", ".x", "a b", "A" * 129, "x.json"])
def test_names_invalid(name: str) -> None:
    with pytest.raises(UsageError):
        check_name(name)


def test_parse_ref_forms() -> None:
    v = new_version()
    assert parse_ref("db") == Ref("db")
    assert parse_ref("db@latest") == Ref("db")
    assert parse_ref(f"db@{v}") == Ref("db", v)
    assert parse_ref("db", v) == Ref("db", v)
    assert str(Ref("db")) == "db@latest"
    with pytest.raises(UsageError):
        parse_ref("db@20250101-120000")  # DVOM's version format is not ours
    with pytest.raises(UsageError):
        parse_ref(f"db@{v}", new_version())


def _series(days: int) -> list[tuple[str, datetime]]:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    out = []
    for d in range(days):
        for h in (0, 6):  # two backups per day
            t = start + timedelta(days=d, hours=h)
            out.append((new_version(t), t))
    return out


def test_retention_keep_last_and_daily() -> None:
    versions = _series(10)
    decisions = decide(versions, RetentionPolicy(keep_last=2, keep_daily=4))
    kept = [d for d in decisions if d.keep]
    newest = sorted(versions, key=lambda v: v[1], reverse=True)
    assert [d.version for d in decisions][:2] == [newest[0][0], newest[1][0]]
    # 2 last (both on the newest day) + newest of each of the 4 newest days (1 overlaps)
    assert len(kept) == 5
    assert {d.created_at.date() for d in kept if "daily" in d.reasons} == {
        (newest[0][1] - timedelta(days=i)).date() for i in range(4)
    }


def test_retention_weekly_monthly_within() -> None:
    versions = _series(70)
    weekly = [d for d in decide(versions, RetentionPolicy(keep_weekly=3)) if d.keep]
    assert len(weekly) == 3
    assert len({d.created_at.isocalendar()[:2] for d in weekly}) == 3
    monthly = [d for d in decide(versions, RetentionPolicy(keep_monthly=12)) if d.keep]
    assert len(monthly) == 3  # January, February, March
    within = [d for d in decide(versions, RetentionPolicy(keep_within=parse_span("2d"))) if d.keep]
    assert len(within) == 5  # newest plus everything up to 48 h before it


def test_retention_without_rules_refuses() -> None:
    with pytest.raises(UsageError, match="refusing"):
        decide(_series(1), RetentionPolicy())
    with pytest.raises(UsageError):
        RetentionPolicy(keep_last=-1).check()


@pytest.mark.parametrize(
    ("text", "days"), [("7d", 7), ("2w", 14), ("1m", 30), ("1y", 365), ("1y6m", 545)]
)
def test_parse_span(text: str, days: int) -> None:
    assert parse_span(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "7", "d7", "1x", "-1d"])
def test_parse_span_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_span(text)
