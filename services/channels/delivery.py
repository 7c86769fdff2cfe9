"""Delivery workers: take send jobs the gate committed, re-check the contact, call the adapter, record.

A job is leased with `FOR UPDATE SKIP LOCKED` in a short transaction (so replicas share the table
and no lock is held while a provider is called); a lease that runs out (a worker died mid-send) makes
the job due again. Right before the adapter calls of a chunk (at most `chunk_size` sends, default 10)
the chunk's contacts' suppressions and consents are read again: a suppression that reached the
service after the decision cancels the send (invariant 2), the reservation is released (touch
`cancelled`) and `message.suppressed` is published. A chunk's outcomes commit in one transaction.

Outcomes: `sent` marks the touch sent and publishes `message.sent`; `retry` (or an exception) waits
the adapter's backoff; `failed`, or the last retry, marks the job `failed`/`dead` — kept in the
table for operators (`GET /deliveries?state=dead`) — releases the reservation (touch `failed`, no
longer counted) and publishes `message.failed`. Nothing is dropped.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import Engine

from services.channels.adapters.base import ChannelAdapter, DeliveryResult
from services.channels.adapters.ratelimit import TokenBucket
from services.channels.domain import PolicyRules
from services.channels.handlers import delivery
from services.channels.unit_of_work import ChannelsUnitOfWorkFactory

log = logging.getLogger(__name__)
DELIVERED = Counter("touchpoint_channel_deliveries_total", "Delivery attempts by channel and result",
                    ["channel", "result"])


class DeliveryWorker:
    """Delivers one channel's due jobs through one adapter instance (a background task)."""

    def __init__(self, engine: Engine, adapter: ChannelAdapter, batch_size: int = 50, idle_sleep: float = 0.05,
                 lease: timedelta = timedelta(minutes=2), chunk_size: int = 10) -> None:
        self.engine = engine
        self.uow = ChannelsUnitOfWorkFactory(engine)
        self.adapter = adapter
        self.channel = adapter.channel
        self.batch_size = batch_size
        self.idle_sleep = idle_sleep
        self.lease = lease
        # The re-check reads a chunk's contacts at once and its results commit together: the
        # re-check happens at most chunk_size - 1 sends before a send, and a commit is shared.
        self.chunk_size = chunk_size
        self.bucket = TokenBucket(adapter.rate_limit_per_second)
        self._stop = threading.Event()

    def run(self) -> None:
        """Deliver until stopped; survive database outages."""
        try:
            while not self._stop.is_set():
                try:
                    count = self.deliver_once()
                except Exception:  # the loop must outlive a database restart; the error is logged
                    log.exception("delivery pass failed", extra={"channel": self.channel})
                    self._stop.wait(1.0)
                    continue
                if count == 0:
                    self._stop.wait(self.idle_sleep)
        finally:
            self.adapter.close()

    def stop(self) -> None:
        """Finish the job in hand and stop."""
        self._stop.set()

    def deliver_once(self) -> int:
        """Lease and deliver one batch of due jobs; return how many were leased."""
        with self.uow() as uow:
            jobs, rules = delivery.lease(uow, self.channel, self.batch_size, self.lease)
        if not jobs:
            return 0
        assert rules is not None
        for start in range(0, len(jobs), self.chunk_size):
            if self._stop.is_set():
                break  # the rest stay leased until the lease runs out, then another worker takes them
            results = self._deliver_chunk(jobs[start:start + self.chunk_size], rules)
            with self.uow() as uow:
                delivery.record(uow, results, self.adapter.retry_policy, datetime.now(UTC))
        return len(jobs)

    def _deliver_chunk(self, jobs: list, rules: PolicyRules) -> list[delivery.Result]:
        """Re-check the chunk's contacts (one read), then call the adapter for each job still allowed."""
        with self.uow.read() as uow:
            chunk = delivery.recheck(uow, jobs)
        results = []
        for job in jobs:
            prepared = delivery.prepare(job, chunk, rules, datetime.now(UTC))
            if isinstance(prepared, delivery.Result):
                results.append(prepared)
                continue
            self.bucket.acquire()
            try:
                result = self.adapter.send(prepared)
            except Exception as exc:  # an adapter bug or outage is a retry, never a lost message
                log.warning("adapter raised", exc_info=True, extra={"channel": self.channel})
                result = DeliveryResult("retry", None, f"{exc.__class__.__name__}: {exc}"[:500])
            DELIVERED.labels(self.channel, result.status).inc()
            results.append(delivery.classify(job, result, self.adapter.retry_policy))
        return results
