"""Delivery workers: take send jobs the gate committed, re-check the contact, call the adapter, record.

One `DeliveryWorker` per channel (per `CHANNELS_DELIVERY_WORKERS`) is a coordinator thread feeding
the channel's send lane (`lanes.py`: up to the adapter's `max_in_flight` sends at once, on their own
threads), so a provider that answers after 100 ms still carries many messages a second, and a slow
or failing provider holds up only its own channel. The coordinator alone touches the database:

- **take**: when fewer than half a lane's worth of leased jobs wait, it leases a batch of due jobs
  (`FOR UPDATE SKIP LOCKED` in a short transaction, so replicas share the table and no lock is held
  while a provider is called; an expired lease makes a job due again) and in the same transaction
  re-reads the batch's contacts: a suppression or refusal that reached the service after the
  decision cancels the send (invariant 2), the touch is released (`cancelled`) and
  `message.suppressed` is published. A batch is two turns of the lane (`2 * max_in_flight`, at least
  10, at most `batch_size` and about one second of the rate limit), so a re-check is never more
  than about two and a half sends per lane thread ahead of its send; leasing ahead keeps the lane's
  threads from waiting for the lease.
- **send**: each job takes a token of the channel's bucket (shared by the channel's workers in the
  process, exact however many threads send) and starts on a free lane thread at once: the lane
  never queues.
- **record**: finished sends are recorded in batches (one statement per table, one commit) as soon
  as a batch's worth is done, `record_delay` has passed, or the lane went quiet.

Outcomes: `sent` marks the touch sent and publishes `message.sent`; `retry` (or an exception) waits
the adapter's backoff; `failed`, or the last retry, marks the job `failed`/`dead` — kept in the
table for operators (`GET /deliveries?state=dead`) — releases the reservation (touch `failed`, no
longer counted) and publishes `message.failed`. Nothing is dropped. On stop, the sends in flight
finish and are recorded, and leased jobs not yet sent are given back at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import Engine

from services.channels.adapters.base import ChannelAdapter, RenderedMessage
from services.channels.adapters.ratelimit import TokenBucket
from services.channels.handlers import delivery
from services.channels.lanes import SendLane
from services.channels.unit_of_work import ChannelsUnitOfWorkFactory

log = logging.getLogger(__name__)
DELIVERED = Counter("touchpoint_channel_deliveries_total", "Delivery attempts by channel and result",
                    ["channel", "result"])
IN_FLIGHT = Gauge("touchpoint_channel_sends_in_flight", "Adapter calls running now, by channel", ["channel"])
MIN_BATCH = 10


def lease_size(max_in_flight: int, rate_per_second: float, batch_size: int) -> int:
    """Jobs leased at once: two turns of the lane (at least MIN_BATCH), within `batch_size` and ~1 s of rate."""
    return max(1, min(batch_size, max(MIN_BATCH, 2 * max_in_flight), max(1, int(rate_per_second))))


class DeliveryWorker:
    """Delivers one channel's due jobs through one adapter instance and its lane (a background task)."""

    def __init__(self, engine: Engine, adapter: ChannelAdapter, batch_size: int = 100, idle_sleep: float = 0.05,
                 lease: timedelta = timedelta(minutes=2), bucket: TokenBucket | None = None,
                 record_delay: float = 0.2, wakeup: threading.Event | None = None,
                 poll_seconds: float = 1.0) -> None:
        self.engine = engine
        self.uow = ChannelsUnitOfWorkFactory(engine)
        self.adapter = adapter
        self.channel = adapter.channel
        self.idle_sleep = idle_sleep
        self.lease = lease
        # The channel's workers in this process share one bucket, so the rate limit is the adapter's.
        self.bucket = bucket or TokenBucket(adapter.rate_limit_per_second)
        self.lane: SendLane[int] = SendLane(adapter.send, adapter.max_in_flight, adapter.channel)
        self.batch = lease_size(adapter.max_in_flight, self.bucket.rate, batch_size)
        self.record_delay = record_delay
        # With a wake-up event (set when the gate commits jobs of this channel) an idle worker waits on it
        # and polls only every poll_seconds, for retries coming due and expired leases; without, it
        # polls every idle_sleep.
        self.wakeup = wakeup
        self.poll_seconds = poll_seconds
        self._next_retry = float("inf")  # when the earliest retry this worker scheduled comes due (monotonic)
        self._empty_at = float("-inf")  # when a lease last found nothing
        self._dry = False  # the last lease found nothing (and no wake-up came since)
        self._stop = threading.Event()
        self._ready: deque[tuple[Any, RenderedMessage]] = deque()  # leased, re-checked, not yet handed to the lane
        self._sending: dict[int, Any] = {}  # job id -> job, in the lane
        self._done: list[delivery.Result] = []  # finished, not yet recorded
        self._done_since = 0.0
        self._gauge = IN_FLIGHT.labels(self.channel)

    def run(self) -> None:
        """Deliver until stopped; survive database outages."""
        try:
            while not self._stop.is_set():
                try:
                    self.turn()
                except Exception:  # the loop must outlive a database restart; the error is logged
                    log.exception("delivery pass failed", extra={"channel": self.channel})
                    self._stop.wait(1.0)
        finally:
            self._shutdown()

    def stop(self) -> None:
        """Finish the sends in hand, record them and stop."""
        self._stop.set()
        if self.wakeup is not None:
            self.wakeup.set()

    def turn(self) -> None:
        """One turn: lease if the lane is running dry, start what the lane and the rate allow, record, wait."""
        # Lease ahead while the lane still has half a turn to send, so its threads do not wait for the
        # lease; after an empty lease, lease again only once the lane has room and idle_sleep has passed.
        if (len(self._ready) < max(1, self.lane.max_in_flight // 2)
                and (not self._ready and self.lane.free or time.monotonic() - self._empty_at >= self.idle_sleep)
                and self._may_find_jobs(time.monotonic())):
            if self.wakeup is not None:
                self.wakeup.clear()  # before the lease: a commit after it sets the event again
            self._dry = self._take() == 0
            if self._dry:
                self._empty_at = time.monotonic()
        token_wait = self._submit()
        self._collect()
        now = time.monotonic()
        if self._done and (len(self._done) >= self.batch or now - self._done_since >= self.record_delay
                           or (not self._ready and not self.lane.in_flight)):
            self._record()
            return
        waits = [1.0]  # a bound, so stop() is seen even while a slow provider holds every thread
        if self._done:
            waits.append(self.record_delay - (now - self._done_since))
        if self._ready and self.lane.free:
            waits.append(token_wait)
        if not self._ready and self.lane.free:
            waits.append(self.idle_sleep if self._dry else 0.0)
        timeout = max(0.0, min(waits))
        if self.lane.in_flight:
            self.lane.wait(timeout)  # wakes as soon as a send finishes
        elif self._dry and not self._ready and not self._done and self.wakeup is not None:
            # Idle: sleep until the gate commits jobs, a retry of ours comes due, or the fallback poll.
            self.wakeup.wait(max(0.0, min(self.poll_seconds, self._next_retry - now)))
        elif timeout:
            self._stop.wait(timeout)

    def _may_find_jobs(self, now: float) -> bool:
        """After an empty lease only a wake-up (the gate committed jobs), a retry of ours coming due or
        the fallback poll can bring jobs: leasing again meanwhile (every turn while a send is in
        flight) was ~3 empty lease transactions per message at low rates."""
        if self.wakeup is None or not self._dry:
            return True
        return self.wakeup.is_set() or now >= self._next_retry or now - self._empty_at >= self.poll_seconds

    def _take(self) -> int:
        """Lease and re-check a batch; cancelled jobs go straight to the record."""
        with self.uow() as uow:
            taken = delivery.take(uow, self.channel, self.batch, self.lease, datetime.now(UTC))
        self._ready.extend(taken.ready)
        self._finished(taken.settled)
        return len(taken)

    def _submit(self) -> float:
        """Hand ready jobs to free lane threads, one token each; returns the wait for the next token (or 0)."""
        while self._ready and self.lane.free and not self._stop.is_set():
            wait = self.bucket.try_acquire()
            if wait > 0:
                return wait
            job, message = self._ready.popleft()
            self._sending[job.id] = job
            self.lane.submit(job.id, message)
            self._gauge.inc()
        return 0.0

    def _collect(self) -> None:
        """Classify the lane's finished sends."""
        finished = []
        for job_id, result in self.lane.drain():
            DELIVERED.labels(self.channel, result.status).inc()
            self._gauge.dec()
            finished.append(delivery.classify(self._sending.pop(job_id), result, self.adapter.retry_policy))
        self._finished(finished)

    def _finished(self, results: list[delivery.Result]) -> None:
        if results and not self._done:
            self._done_since = time.monotonic()
        self._done.extend(results)

    def _record(self) -> None:
        """Record the finished sends in one transaction; kept for the next try if the database fails."""
        with self.uow() as uow:
            delivery.record(uow, self._done, self.adapter.retry_policy, datetime.now(UTC))
        retries = [self.adapter.retry_policy.delay_after(r.job.attempts) for r in self._done if r.state == "pending"]
        self._done = []
        now = time.monotonic()
        if self._next_retry <= now:
            self._next_retry = float("inf")
        if retries:
            self._next_retry = min(self._next_retry, now + min(retries))

    def _shutdown(self) -> None:
        """Let the sends in flight finish, record them, give back what was never sent, close."""
        try:
            self.lane.wait_idle(timeout=self.lease.total_seconds() / 2)
            self._collect()
            if self._done:
                self._record()
            if self._ready:
                with self.uow() as uow:
                    delivery.give_back(uow, [job for job, _ in self._ready])
                self._ready.clear()
        except Exception:  # the database is away: the leases run out and another worker takes the jobs
            log.exception("delivery shutdown could not record", extra={"channel": self.channel})
        finally:
            self.lane.close()
            self.adapter.close()

