"""A token bucket: a channel's sends take one token each, so its adapter's rate limit holds.

The bucket is shared by every thread that sends on the channel in one process (the delivery
lane's coordinator and anyone calling `acquire`), and the whole check-and-take happens under one
lock, so however many threads ask at once the contract is exact: in any interval of `t` seconds
at most `burst + rate * t` tokens are handed out (never more, whatever the interleaving). The
clock and sleep are injectable so tests prove this without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; `acquire` waits for a token."""

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        if self.burst < 1:
            raise ValueError("burst must allow at least one token")
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.granted = 0  # tokens handed out so far (metrics and tests)

    def _refill(self) -> None:
        now = self._clock()
        # max(): a clock that steps back (a test's, or a coarse one) must never mint tokens.
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = max(self._last, now)

    def try_acquire(self) -> float:
        """Take a token and return 0, or take nothing and return how many seconds until one is available."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                self.granted += 1
                return 0.0
            return (1 - self._tokens) / self.rate

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a token is taken (True), or until `stop` is set (False, no token taken)."""
        while (wait := self.try_acquire()) > 0:
            if stop is None:
                self._sleep(wait)
            elif stop.wait(wait):
                return False
        return True
