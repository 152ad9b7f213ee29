"""A token bucket in samples per second, and a meter of the rate actually achieved.

The bucket starts with ``burst`` tokens (default: one second's worth) and refills at
``rate`` per second. A request larger than the bucket may still go: the bucket goes into
debt and later callers wait until it is paid back, so the long-run rate stays exact
whatever the batch size. The clock and the sleep are injectable for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self, n: float) -> float:
        """Seconds until ``n`` tokens may be taken (0 when they may be taken now)."""
        self._refill()
        if self._tokens >= min(n, self.capacity):
            return 0.0
        return (min(n, self.capacity) - self._tokens) / self.rate

    def try_take(self, n: float) -> bool:
        """Take ``n`` tokens if allowed now (a take larger than the bucket empties it into
        debt once the bucket is full)."""
        if self.wait_time(n) > 0:
            return False
        self._tokens -= n
        return True

    async def acquire(self, n: float) -> None:
        """Wait until ``n`` samples may be sent, then take them. Fair in arrival order."""
        async with self._lock:
            while True:
                delay = self.wait_time(n)
                if delay <= 0:
                    self._tokens -= n
                    return
                await self._sleep(delay)


class RateMeter:
    """Counts samples and reports the rate achieved since ``start()``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started: float | None = None
        self.stopped: float | None = None
        self.samples = 0

    def start(self) -> None:
        self.started = self._clock()

    def stop(self) -> None:
        self.stopped = self._clock()

    def add(self, samples: int) -> None:
        self.samples += samples

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        end = self.stopped if self.stopped is not None else self._clock()
        return max(0.0, end - self.started)

    @property
    def rate(self) -> float:
        elapsed = self.elapsed
        return self.samples / elapsed if elapsed > 0 else 0.0


__all__ = ["RateMeter", "TokenBucket"]
