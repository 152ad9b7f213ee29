"""The in-memory fixed-window limiter."""

from __future__ import annotations

import asyncio

import pytest

from promkit.tracker.ratelimit import MemoryRateLimiter, RateLimitedError, enforce


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
