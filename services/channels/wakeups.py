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

import threading
from collections.abc import Iterable

from sqlalchemy import Engine

from services.channels.repository.jobs import NOTIFY_CHANNEL
from shared.messaging.listen import NotifyListener


class DeliveryWakeups:
    """One LISTEN connection per process (`shared.messaging.listen.NotifyListener`), one event per worker."""

    def __init__(self, engine: Engine, channels: Iterable[str], retry_seconds: float = 1.0) -> None:
        # One event per worker: a worker clears its own before it leases, never another's wake-up.
        self.events: dict[str, list[threading.Event]] = {channel: [] for channel in channels}
        self.listener = NotifyListener(engine, {NOTIFY_CHANNEL: self._on_notify}, retry_seconds=retry_seconds,
                                       name="delivery wake-ups")
        self.connected = self.listener.connected  # set while LISTEN is in place (tests wait for it)

    def event(self, channel: str) -> threading.Event:
        """A new event of one worker, set whenever `channel` has new jobs."""
        event = threading.Event()
        self.events.setdefault(channel, []).append(event)
        return event

    def run(self) -> None:
        """Listen until stopped; while the connection is down every worker is woken each retry."""
        self.listener.run()

    def _on_notify(self, payload: str) -> None:
        # The gate names the channel; an empty payload is the listener's "look now" (LISTEN (re)established
        # or down), which wakes every worker so nothing committed meanwhile waits for the fallback poll.
        if payload:
            for event in self.events.get(payload, ()):
                event.set()
        else:
            self._wake_all()

    def _wake_all(self) -> None:
        for events in self.events.values():
            for event in events:
                event.set()

    def stop(self) -> None:
        """Stop listening (within `retry_seconds`) and wake the workers so they see the stop."""
        self.listener.stop()
        self._wake_all()
