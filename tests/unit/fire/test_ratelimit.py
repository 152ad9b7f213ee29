"""Token bucket: starts empty, bursts up to capacity, long-run rate exact (fake clock)."""

from __future__ import annotations

import threading

import pytest

from promkit.fire.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def bucket(rate: float, **kw: object) -> tuple[TokenBucket, FakeClock]:
    clock = FakeClock()
    return TokenBucket(rate, clock=clock, sleep=clock.sleep, **kw), clock  # type: ignore[arg-type]


def test_bucket_starts_empty_by_default() -> None:
    b, clock = bucket(1000)
    assert not b.try_take(1)
    clock.now = 0.5
    assert b.try_take(500)
    assert not b.try_take(1)


def test_bucket_start_full_allows_burst() -> None:
    b, _ = bucket(1000, start_full=True)
    assert b.try_take(1000)
    assert not b.try_take(1)


def test_bucket_caps_at_capacity() -> None:
    b, clock = bucket(100, burst=50)
    assert not b.try_take(1)  # starts the bucket's clock
    clock.now = 100.0
    assert b.try_take(50)
    assert not b.try_take(1)


def test_bucket_long_run_rate_is_exact_with_big_batches() -> None:
    b, clock = bucket(100_000)
    for _ in range(100):
        b.acquire(25_000)
    # 2.5M samples at 100k/s from an empty bucket: each batch goes once it has accrued
    assert clock.now == pytest.approx(25.0, rel=1e-9)
    assert b.waited == pytest.approx(25.0, rel=1e-9)


def test_bucket_debt_for_take_larger_than_capacity() -> None:
    b, clock = bucket(10, burst=10, start_full=True)
    b.acquire(30)  # allowed at once (bucket full), 20 in debt
    b.acquire(10)  # waits for the debt and 10 tokens: 3 s
    assert clock.now == pytest.approx(3.0)


def test_bucket_is_thread_safe() -> None:
    b, clock = bucket(1, burst=4000, start_full=True)
    threads = [
        threading.Thread(target=lambda: [b.acquire(1) for _ in range(1000)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now == 0.0  # 4000 single takes fit the full bucket: nobody waited
    assert not b.try_take(1)  # and exactly 4000 were taken


def test_bucket_rejects_nonpositive_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_bucket_does_not_fill_before_first_take() -> None:
    b, clock = bucket(100)
    clock.now = 50.0  # the source is still being read: no tokens pile up meanwhile
    assert not b.try_take(1)
    b.acquire(100)
    assert clock.now == pytest.approx(51.0)
