"""Token bucket: bursts up to capacity, long-run rate exact (fake clock), meter."""

from __future__ import annotations

import asyncio

import pytest

from promkit.fire.ratelimit import RateMeter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_allows_burst_then_limits() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, clock=clock, sleep=clock.sleep)
    assert bucket.try_take(1000)
    assert not bucket.try_take(1)
    clock.now += 0.5
    assert bucket.try_take(500)
    assert not bucket.try_take(1)


def test_bucket_long_run_rate_is_exact_with_big_batches() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100_000, clock=clock, sleep=clock.sleep)

    async def go() -> None:
        for _ in range(100):
            await bucket.acquire(25_000)  # batches bigger than... and smaller than the bucket

    asyncio.run(go())
    # 2.5M samples at 100k/s with 100k up front: 24 s
    assert clock.now == pytest.approx(24.0, rel=1e-6)


def test_bucket_debt_for_take_larger_than_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=10, clock=clock, sleep=clock.sleep)

    async def go() -> None:
        await bucket.acquire(30)  # allowed at once (bucket full), 20 in debt
        await bucket.acquire(10)  # waits for debt + 10 tokens: 3 s

    asyncio.run(go())
    assert clock.now == pytest.approx(3.0)


def test_bucket_rejects_nonpositive_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_meter_rate() -> None:
    clock = FakeClock()
    meter = RateMeter(clock)
    assert meter.rate == 0.0
    meter.start()
    meter.add(500)
    clock.now = 2.0
    meter.stop()
    clock.now = 10.0
    assert meter.rate == 250.0
