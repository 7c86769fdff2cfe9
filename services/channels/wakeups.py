"""Wake idle delivery workers when the gate commits send jobs (PostgreSQL LISTEN/NOTIFY), not by polling.

The gate's transaction that writes a channel's jobs also sends `NOTIFY touchpoint_deliveries,
'<channel>'` (`repository/jobs.py`), which PostgreSQL delivers at commit and only if it commits. One
`DeliveryWakeups` per worker process (a background task) holds a LISTEN connection and sets the
channel's event; an idle delivery worker waits on that event instead of leasing every 50 ms. What
no notification announces — a retry coming due, a lease running out, a job of another process whose
worker died — is found by the worker's fallback poll (`DeliveryWorker.poll_seconds`, 30 s in the
service, CHANNELS_DELIVERY_POLL_SECONDS; a worker's own retries wake it when due). While the LISTEN
connection is down the listener wakes every worker each second, so nothing waits longer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from sqlalchemy import Engine

from services.channels.repository.jobs import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class DeliveryWakeups:
    """One LISTEN connection per process, one event per channel."""

    def __init__(self, engine: Engine, channels: Iterable[str], retry_seconds: float = 1.0) -> None:
        self.engine = engine
        # One event per worker: a worker clears its own before it leases, never another's wake-up.
        self.events: dict[str, list[threading.Event]] = {channel: [] for channel in channels}
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self.connected = threading.Event()  # set while LISTEN is in place (tests wait for it)

    def event(self, channel: str) -> threading.Event:
        """A new event of one worker, set whenever `channel` has new jobs."""
        event = threading.Event()
        self.events.setdefault(channel, []).append(event)
        return event

    def run(self) -> None:
        """Listen until stopped; reconnect after a database outage."""
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:  # the database went away: wake everyone to poll, try again shortly
                log.warning("delivery LISTEN connection lost; workers poll", exc_info=True)
            self.connected.clear()
            self._wake_all()
            self._stop.wait(self.retry_seconds)

    def _listen(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self.connected.set()
            self._wake_all()  # jobs committed before LISTEN was in place are not missed
            while not self._stop.is_set():
                for note in conn.notifies(timeout=self.retry_seconds):
                    for event in self.events.get(note.payload, ()):
                        event.set()
                    if self._stop.is_set():
                        break

    def _wake_all(self) -> None:
        for events in self.events.values():
            for event in events:
                event.set()

    def stop(self) -> None:
        """Stop listening (within `retry_seconds`)."""
        self._stop.set()
        self._wake_all()
