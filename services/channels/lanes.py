"""A channel's send lane: up to `max_in_flight` adapter calls at once, on the lane's own threads.

Real providers answer each message after 50-300 ms. A worker that waits for each answer before the
next send is capped at a few messages a second whatever the machine, so each channel gets a lane:
a thread pool of `max_in_flight` threads that only call the adapter (no database work), fed by the
channel's delivery worker (`delivery.py`), which takes a token of the channel's rate limit before
handing over each send. A slow or failing provider fills its own lane only; other channels have
their own lanes and their own workers, so they never wait for it.

The lane never queues: `submit` is refused unless a thread is free, so every submitted send starts
at once (the re-check before it stays fresh), and finished sends wait in `drain()` for the worker
to record them. An exception in the adapter is a `retry` result, never a lost message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from services.channels.adapters.base import DeliveryResult, RenderedMessage

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


class LaneFull(RuntimeError):
    """`submit` was called with every thread of the lane busy."""


class SendLane(Generic[K]):
    """Runs `send(message)` for up to `max_in_flight` messages at once; results come back through `drain`."""

    def __init__(self, send: Callable[[RenderedMessage], DeliveryResult], max_in_flight: int, name: str) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._send = send
        self.max_in_flight = max_in_flight
        self.name = name
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix=f"send-{name}")
        self._cond = threading.Condition()
        self._in_flight = 0
        self._done: list[tuple[K, DeliveryResult]] = []
        self._poked = False
        self.peak_in_flight = 0  # the most sends seen at once (metrics and tests)

    @property
    def in_flight(self) -> int:
        """Sends running right now."""
        with self._cond:
            return self._in_flight

    @property
    def free(self) -> int:
        """How many more sends `submit` accepts right now."""
        with self._cond:
            return self.max_in_flight - self._in_flight

    def submit(self, key: K, message: RenderedMessage) -> None:
        """Start sending `message` on a free thread; its result comes back from `drain` under `key`."""
        with self._cond:
            if self._in_flight >= self.max_in_flight:
                raise LaneFull(f"lane {self.name}: all {self.max_in_flight} sends in flight")
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            self._pool.submit(self._run, key, message)
        except BaseException:
            with self._cond:
                self._in_flight -= 1
            raise

    def _run(self, key: K, message: RenderedMessage) -> None:
        try:
            result = self._send(message)
        except Exception as exc:  # an adapter bug or outage is a retry, never a lost message
            log.warning("adapter raised", exc_info=True, extra={"channel": self.name})
            result = DeliveryResult("retry", None, f"{exc.__class__.__name__}: {exc}"[:500])
        with self._cond:
            self._in_flight -= 1
            self._done.append((key, result))
            self._cond.notify_all()

    def drain(self) -> list[tuple[K, DeliveryResult]]:
        """The sends finished since the last call, in the order they finished."""
        with self._cond:
            done, self._done = self._done, []
            return done

    def wait(self, timeout: float | None) -> bool:
        """Wait until a send finishes (True: results to drain), `poke` is called, or `timeout` passes."""
        with self._cond:
            woken = self._cond.wait_for(lambda: bool(self._done) or self._poked, timeout)
            self._poked = False
            return bool(woken) and bool(self._done)

    def poke(self) -> None:
        """Wake a `wait` now (the worker's database work finished and it has more to hand over)."""
        with self._cond:
            self._poked = True
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no send is in flight (True) or `timeout` passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        """Stop the threads once the sends in flight have finished."""
        self._pool.shutdown(wait=True)
