from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

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


def _at(*times: datetime) -> list[tuple[str, datetime]]:
    return [(new_version(t.astimezone(UTC)), t) for t in times]


def _kept(
    versions: list[tuple[str, datetime]], policy: RetentionPolicy
) -> dict[datetime, tuple[str, ...]]:
    return {d.created_at: d.reasons for d in decide(versions, policy) if d.keep}


def test_retention_hourly_keeps_newest_per_hour_at_the_boundary() -> None:
    h = datetime(2026, 3, 4, 10, tzinfo=UTC)
    last_ms_of_10 = h + timedelta(hours=1) - timedelta(milliseconds=1)
    first_ms_of_11 = h + timedelta(hours=1)
    versions = _at(h, h + timedelta(minutes=30), last_ms_of_10, first_ms_of_11,
                   h - timedelta(hours=5))  # fmt: skip
    kept = _kept(versions, RetentionPolicy(keep_hourly=2))
    # 11:00:00.000 is its own hour; 10:59:59.999 is the newest of hour 10
    assert kept == {first_ms_of_11: ("hourly",), last_ms_of_10: ("hourly",)}
    # hours without versions do not count: the 3rd bucket is 05:00, five hours back
    kept3 = _kept(versions, RetentionPolicy(keep_hourly=3))
    assert set(kept3) == {first_ms_of_11, last_ms_of_10, h - timedelta(hours=5)}


def test_retention_yearly_keeps_newest_per_year() -> None:
    versions = _at(
        datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2025, 6, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
    )
    kept = _kept(versions, RetentionPolicy(keep_yearly=2))
    assert set(kept) == {datetime(2026, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)}
    kept3 = _kept(versions, RetentionPolicy(keep_yearly=3))
    assert datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) in kept3
    assert datetime(2024, 1, 1, tzinfo=UTC) not in kept3


def test_retention_periods_are_utc_whatever_the_timezone() -> None:
    plus2 = timezone(timedelta(hours=2))
    # 01:30 on 1 January in UTC+2 is still 2025 (23:30 on 31 December) in UTC
    new_year_local = datetime(2026, 1, 1, 1, 30, tzinfo=plus2)
    versions = _at(datetime(2025, 12, 31, 12, tzinfo=UTC), new_year_local)
    kept = _kept(versions, RetentionPolicy(keep_yearly=1))
    assert set(kept) == {new_year_local}  # one UTC year (2025): only its newest version
    kept_h = _kept(versions, RetentionPolicy(keep_hourly=5))
    assert len(kept_h) == 2  # 12:00 and 23:00 UTC are different hours


def test_retention_counts_larger_than_the_history_keep_everything_once() -> None:
    versions = _series(3)  # 6 versions in 6 different hours, 3 days, 1 year
    assert len(_kept(versions, RetentionPolicy(keep_hourly=1000))) == 6
    assert len(_kept(versions, RetentionPolicy(keep_yearly=50))) == 1
    assert len(_kept(versions, RetentionPolicy(keep_last=99))) == 6
    assert decide([], RetentionPolicy(keep_hourly=3, keep_yearly=3)) == []


def test_retention_combined_policies_union_with_reasons() -> None:
    versions = _series(400)  # 2026-01-01 .. 2027-02-04, two per day
    decisions = decide(versions, RetentionPolicy(keep_last=1, keep_hourly=3, keep_daily=2,
                                                 keep_monthly=2, keep_yearly=2))  # fmt: skip
    newest = decisions[0]
    assert set(newest.reasons) == {"last", "hourly", "daily", "monthly", "yearly"}
    kept = [d for d in decisions if d.keep]
    # hourly: 3 newest (2 on the newest day, 1 the day before); daily: newest two days (both
    # already hourly); monthly: Feb 2027 (newest) + Jan 2027; yearly: 2027 (newest) + 2026
    assert len(kept) == 5
    years = {d.created_at.year for d in kept if "yearly" in d.reasons}
    assert years == {2026, 2027}
    last_2026 = max(t for _, t in versions if t.year == 2026)
    assert any(d.created_at == last_2026 and d.reasons == ("yearly",) for d in kept)
    last_jan = max(t for _, t in versions if (t.year, t.month) == (2027, 1))
    assert any(d.created_at == last_jan and d.reasons == ("monthly",) for d in kept)


def test_retention_hourly_or_yearly_alone_is_a_rule() -> None:
    RetentionPolicy(keep_hourly=1).check()
    RetentionPolicy(keep_yearly=1).check()
    for bad in (RetentionPolicy(keep_hourly=-1), RetentionPolicy(keep_yearly=-2)):
        with pytest.raises(UsageError):
            bad.check()
