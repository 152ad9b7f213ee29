"""Fixed-window rate limits, in process memory or in Redis when several instances run."""

from __future__ import annotations

import time
from typing import Any, ClassVar, NamedTuple, Protocol

from promkit.core.errors import PromkitError


class RateLimitedError(PromkitError):
    """Too many requests in the current window (HTTP 429)."""

    http_status: ClassVar[int] = 429
    default_hint = "Wait for the Retry-After seconds and try again."

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateDecision(NamedTuple):  # a NamedTuple: built on every ingestion request
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window ends


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: int) -> RateDecision:
        """Count one request for ``key``; ``allowed`` is False once ``limit`` is exceeded."""
        ...

    def hit_now(self, key: str, limit: int, window: int) -> RateDecision | None:
        """:meth:`hit` when it needs no I/O; None (nothing counted) when it does."""
        ...

    async def close(self) -> None: ...


def _window(window: int) -> tuple[int, int]:
    now = time.time()
    index = int(now // window)
    return index, max(1, int((index + 1) * window - now))


class MemoryRateLimiter:
    """One process's counters; enough for a single instance. Used from the event loop only:
    a hit never awaits, so it needs no lock."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window: int) -> RateDecision:
        return self.hit_now(key, limit, window)

    def hit_now(self, key: str, limit: int, window: int) -> RateDecision:
        index, reset_after = _window(window)
        seen_index, count = self._counts.get(key, (index, 0))
        count = count + 1 if seen_index == index else 1
        self._counts[key] = (index, count)
        if len(self._counts) > 100_000:  # forget finished windows
            self._counts = {k: v for k, v in self._counts.items() if v[0] == index}
        return RateDecision(count <= limit, limit, max(0, limit - count), reset_after)

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """Counters in Redis (INCR + EXPIRE per window), shared by every instance."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url)

    async def hit(self, key: str, limit: int, window: int) -> RateDecision:
        index, reset_after = _window(window)
        name = f"promkit:rl:{key}:{index}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window + 1)
            count, _ = await pipe.execute()
        return RateDecision(int(count) <= limit, limit, max(0, limit - int(count)), reset_after)

    def hit_now(self, key: str, limit: int, window: int) -> None:
        return None  # a network round trip

    async def close(self) -> None:
        await self._redis.aclose()


async def enforce(limiter: RateLimiter, key: str, limit: int, window: int, what: str) -> None:
    """Raise :class:`RateLimitedError` when ``key`` is over ``limit`` (0 disables the limit)."""
    if limit <= 0:
        return
    _check(await limiter.hit(key, limit, window), window, what)


def enforce_now(limiter: RateLimiter, key: str, limit: int, window: int, what: str) -> bool:
    """:func:`enforce` without awaiting: False (nothing counted) when the limiter needs I/O."""
    if limit <= 0:
        return True
    decision = limiter.hit_now(key, limit, window)
    if decision is None:
        return False
    _check(decision, window, what)
    return True


def _check(decision: RateDecision, window: int, what: str) -> None:
    if not decision.allowed:
        raise RateLimitedError(
            f"too many {what} requests (limit {decision.limit} per {window} s)",
            retry_after=decision.reset_after,
        )


__all__ = [
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimitedError",
    "RateLimiter",
    "RedisRateLimiter",
    "enforce",
    "enforce_now",
]
