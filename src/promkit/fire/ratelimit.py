"""A token bucket in samples per second, shared by the sender's worker threads.

The bucket refills at ``rate`` per second up to ``burst`` tokens. It starts **empty** and
its clock starts at the first take, so the achieved rate over a run is the configured rate
from the first sample on (a bucket that starts full, or fills while the source is still
being read, sends ``burst`` samples for free and overshoots short runs). The burst only
lets a sender catch up after a stall in the middle of a run. A take
larger than the bucket may still go once the bucket is full: the bucket goes into debt
and later takers wait until it is paid back, so the long-run rate stays exact whatever the
batch size. Clock and sleep are injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        start_full: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity if start_full else 0.0
        self._stamp: float | None = None  # set by the first take
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds callers spent waiting (throttling indicator)

    def _refill(self) -> None:
        now = self._clock()
        if self._stamp is None:
            self._stamp = now
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self, n: float) -> float:
        """Seconds until ``n`` tokens may be taken (0 when they may be taken now)."""
        self._refill()
        need = min(n, self.capacity)
        return 0.0 if self._tokens >= need else (need - self._tokens) / self.rate

    def try_take(self, n: float) -> bool:
        """Take ``n`` tokens if that is allowed now."""
        with self._lock:
            if self.wait_time(n) > 0:
                return False
            self._tokens -= n
            return True

    def acquire(self, n: float) -> None:
        """Block until ``n`` samples may be sent, then take them (callers are served in
        the order they got the lock)."""
        with self._lock:
            while True:
                delay = self.wait_time(n)
                if delay <= 0:
                    self._tokens -= n
                    return
                self.waited += delay
                self._sleep(delay)

    __call__ = acquire  # usable directly as RemoteWriteSender(rate_limit=bucket)


__all__ = ["TokenBucket"]
