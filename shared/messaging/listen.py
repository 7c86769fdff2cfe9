"""Wake background tasks when a commit announces work (PostgreSQL LISTEN/NOTIFY), instead of polling.

A transaction that makes work for a background task sends `NOTIFY <channel>, '<payload>'` (the
outbox's flush does; a trigger can, as the scheduler's and the import queue's do). PostgreSQL
delivers it at commit and only if the transaction commits. `NotifyListener` is a background task
with one LISTEN connection that calls a callback per notification; the callback typically calls
`PeriodicTask.wake()`, so the task waits long when idle and still starts within milliseconds.

Nothing is lost when the connection breaks: every callback is called with an empty payload each
time LISTEN is (re)established and every `retry_seconds` while it is down, which a task treats as
"look now". The task's own fallback interval covers the rest (a clock that jumps, a bug).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from sqlalchemy import Engine

log = logging.getLogger(__name__)

Callback = Callable[[str], None]


class NotifyListener:
    """One LISTEN connection for some channels; a `BackgroundTask` (run/stop) of `shared.runtime`."""

    def __init__(self, engine: Engine, callbacks: Mapping[str, Callback], retry_seconds: float = 1.0,
                 name: str = "notify listener") -> None:
        for channel in callbacks:
            if not channel.isidentifier():  # it is spliced into LISTEN: a plain identifier only
                raise ValueError(f"not a channel name: {channel!r}")
        self.engine = engine
        self.callbacks = dict(callbacks)
        self.retry_seconds = retry_seconds
        self.name = name
        self._stop = threading.Event()
        self.connected = threading.Event()  # set while LISTEN is in place (tests wait for it)

    def run(self) -> None:
        """Listen until stopped; reconnect after a database outage, waking every task meanwhile."""
        failing = False
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:  # the database went away: the tasks look on their own until it is back
                if not failing:
                    log.warning("%s: LISTEN connection lost; waking the tasks every %.0f s until it is back",
                                self.name, self.retry_seconds, exc_info=True)
                failing = True
            self.connected.clear()
            self._call_all()
            self._stop.wait(self.retry_seconds)

    def _listen(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            for channel in self.callbacks:
                conn.execute(f"LISTEN {channel}")
            self.connected.set()
            self._call_all()  # work committed before LISTEN was in place is not missed
            while not self._stop.is_set():
                # The timeout only bounds how long stop() takes; it is not a poll of the database.
                for note in conn.notifies(timeout=self.retry_seconds):
                    self._call(note.channel, note.payload)
                    if self._stop.is_set():
                        break

    def _call(self, channel: str, payload: str) -> None:
        callback = self.callbacks.get(channel)
        if callback is None:
            return
        try:
            callback(payload)
        except Exception:  # a callback's bug must not end the listening for the others
            log.exception("%s: callback for %s failed", self.name, channel)

    def _call_all(self) -> None:
        for channel in self.callbacks:
            self._call(channel, "")

    def stop(self) -> None:
        """Stop listening (within `retry_seconds`)."""
        self._stop.set()
