"""The one loop of every background task: run a step again and again until stopped.

A `PeriodicTask` owns what each hand-written loop used to redo (and sometimes got wrong): the stop
event, the pause between steps, the backoff after a failure and the log line *with its traceback*
(a looping bug must show where it is, not one line of text). A service's task is a step function:

    task = PeriodicTask("call-task-expiry", sweep, interval=5.0)
    task.run()      # in the worker's thread, until task.stop()

The step returns how long to wait before the next step: `None` for the task's `interval`, `0` to go
again at once (a full batch: there is more work). `wake()` ends the wait early (a LISTEN/NOTIFY
listener calls it when a commit announces work), so an idle task can wait long and still react at
once; a wake-up that comes while the step runs makes the next wait return at once. A step that raises is logged with
`logger.exception`, then retried after a backoff that doubles per failure up to `max_backoff`; the
first success resets it. Plain Python only: tests drive `run_once()` without threads or sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Step = Callable[[], float | None]


class Backoff:
    """Delays after consecutive failures: `first`, doubled each time, never above `maximum`."""

    def __init__(self, first: float, maximum: float, factor: float = 2.0) -> None:
        if first < 0 or maximum < first or factor < 1:
            raise ValueError("backoff needs 0 <= first <= maximum and factor >= 1")
        self.first = first
        self.maximum = maximum
        self.factor = factor
        self._next = first

    def next(self) -> float:
        """The delay after one more failure."""
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        return delay

    def reset(self) -> None:
        """A success: the next failure waits `first` again."""
        self._next = self.first


class PeriodicTask:
    """Runs `step` until `stop()`; a `BackgroundTask` of `shared.runtime` (it has `run` and `stop`).

    `fixed_rate=True` measures the interval from the start of one step to the start of the next (a
    poll that must tick every `interval` however long the tick took, as a timer would); otherwise
    the pause starts when the step ends. `on_error(exc)` runs after the log line (a metric), and
    `on_stop()` once when `run()` ends (close connections, release a lock).
    """

    def __init__(self, name: str, step: Step, *, interval: float, first_backoff: float | None = None,
                 max_backoff: float | None = None, fixed_rate: bool = False, logger: logging.Logger | None = None,
                 on_error: Callable[[Exception], None] | None = None,
                 on_stop: Callable[[], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        first = interval if first_backoff is None else first_backoff
        self.name = name
        self.step = step
        self.interval = interval
        self.backoff = Backoff(first, max(first, interval if max_backoff is None else max_backoff))
        self.fixed_rate = fixed_rate
        self.log = logger or log
        self.on_error = on_error
        self.on_stop = on_stop
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by wake() and stop(): ends the current (or next) wait

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called (a long step checks it between chunks)."""
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on `wake()` or `stop()`; True when stopping."""
        self._wake.wait(max(seconds, 0.0))
        # Cleared before the next step reads anything: a wake-up after this line is seen by the next wait.
        self._wake.clear()
        return self._stop.is_set()

    def wake(self) -> None:
        """Run the next step now: end the current wait, or skip the next one if a step is running."""
        self._wake.set()

    def run_once(self) -> float:
        """Run one step; return the seconds to wait before the next (the backoff after a failure)."""
        started = self._monotonic()
        try:
            requested = self.step()
        except Exception as exc:  # a background task must outlive outages and bugs; the traceback is logged
            delay = self.backoff.next()
            self.log.exception("%s failed; retrying in %.2fs", self.name, delay,
                               extra={"task": self.name, "retry_in": delay})
            if self.on_error is not None:
                self.on_error(exc)
            return delay
        self.backoff.reset()
        delay = self.interval if requested is None else requested
        if self.fixed_rate:
            delay -= self._monotonic() - started
        return max(delay, 0.0)

    def run(self) -> None:
        """Step, wait, step... until `stop()`; then `on_stop()`."""
        try:
            while not self._stop.is_set():
                self.wait(self.run_once())
        finally:
            if self.on_stop is not None:
                self.on_stop()

    def stop(self) -> None:
        """Ask the loop to end after the step in hand."""
        self._stop.set()
        self._wake.set()
