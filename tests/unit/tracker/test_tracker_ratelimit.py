"""The in-memory fixed-window limiter."""

from __future__ import annotations

import asyncio

import pytest

from promkit.tracker.ratelimit import (
    MemoryRateLimiter,
    RateDecision,
    RateLimitedError,
    enforce,
    enforce_now,
)


def test_ratelimit_memory_allows_limit_then_refuses_per_key() -> None:
    async def run() -> list[bool]:
        limiter = MemoryRateLimiter()
        results = [(await limiter.hit("a", 3, 60)).allowed for _ in range(4)]
        results.append((await limiter.hit("b", 3, 60)).allowed)
        return results

    assert asyncio.run(run()) == [True, True, True, False, True]


def test_ratelimit_enforce_raises_with_retry_after_and_zero_disables() -> None:
    async def run() -> None:
        limiter = MemoryRateLimiter()
        for _ in range(100):
            await enforce(limiter, "k", 0, 60, "x")  # disabled
        await enforce(limiter, "k", 1, 60, "x")
        with pytest.raises(RateLimitedError) as info:
            await enforce(limiter, "k", 1, 60, "x")
        assert 1 <= info.value.retry_after <= 60
        assert info.value.http_status == 429

    asyncio.run(run())


def test_ratelimit_enforce_now_counts_in_memory_and_declines_when_io_is_needed() -> None:
    limiter = MemoryRateLimiter()
    assert enforce_now(limiter, "k", 0, 60, "x")  # disabled
    assert enforce_now(limiter, "k", 2, 60, "x")

    async def awaited() -> None:
        await enforce(limiter, "k", 2, 60, "x")  # both paths share one count

    asyncio.run(awaited())
    with pytest.raises(RateLimitedError):
        enforce_now(limiter, "k", 2, 60, "x")

    class Remote:  # a limiter behind the network, like Redis
        counts = MemoryRateLimiter()

        async def hit(self, key: str, limit: int, window: int) -> RateDecision:
            return self.counts.hit_now(key, limit, window)

        def hit_now(self, key: str, limit: int, window: int) -> None:
            return None

        async def close(self) -> None:
            return None

    remote = Remote()
    assert enforce_now(remote, "k", 1, 60, "x") is False
    asyncio.run(enforce(remote, "k", 1, 60, "x"))  # nothing was counted by the decline
    with pytest.raises(RateLimitedError):
        asyncio.run(enforce(remote, "k", 1, 60, "x"))
