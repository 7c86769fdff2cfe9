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

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

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
T = TypeVar("T")


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
        # A record starts once half a batch is done, so the lane goes on while it is written (up to
        # `_held_back`).
        self._record_at = max(1, self.batch // 2)
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
        # The transactions run on one helper thread, one at a time: the coordinator keeps the lane fed
        # while a lease or a record is under way (with the database in the coordinator, every
        # transaction left the lane's finished threads idle: 100 ms of provider latency cost 36 %).
        self._db = ThreadPoolExecutor(1, thread_name_prefix=f"deliver-db-{self.channel}")
        self._taking: Future[delivery.Taken] | None = None
        self._recording: Future[None] | None = None
        self._recording_batch: list[delivery.Result] = []
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
        self.lane.poke()
        if self.wakeup is not None:
            self.wakeup.set()

    def turn(self) -> None:
        """One turn: take in finished transactions, lease if the lane is running dry, start what the lane
        and the rate allow, start a record, wait."""
        self._settle()
        now = time.monotonic()
        # Lease ahead while the lane still has half a turn to send, so its threads do not wait for the
        # lease; after an empty lease, lease again only once the lane has room and idle_sleep has passed.
        if (self._taking is None and len(self._ready) < max(1, self.lane.max_in_flight // 2)
                and (not self._ready and self.lane.free or now - self._empty_at >= self.idle_sleep)
                and self._may_find_jobs(now)):
            if self.wakeup is not None:
                self.wakeup.clear()  # before the lease: a commit after it sets the event again
            self._taking = self._background(self._lease_batch)
        token_wait = self._submit()
        self._collect()
        now = time.monotonic()
        if self._done and self._recording is None and (
                len(self._done) >= self._record_at or now - self._done_since >= self.record_delay
                or (not self._ready and not self.lane.in_flight and self._taking is None)):
            self._recording_batch, self._done = self._done, []
            self._recording = self._background(self._write, self._recording_batch)
        waits = [1.0]  # a bound, so stop() is seen even while a slow provider holds every thread
        if self._done and self._recording is None:
            waits.append(self.record_delay - (now - self._done_since))
        if self._ready and self.lane.free and not self._held_back():
            waits.append(token_wait)
        if not self._ready and self.lane.free and self._taking is None:
            waits.append(self.idle_sleep if self._dry else 0.0)
        timeout = max(0.0, min(waits))
        if self.lane.in_flight or self._taking is not None or self._recording is not None:
            self.lane.wait(timeout)  # wakes as soon as a send or a transaction finishes
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

    def _background(self, work: Callable[..., T], *args: Any) -> Future[T]:
        """Run a transaction on the helper thread; the coordinator is woken when it ends."""
        future = self._db.submit(work, *args)
        future.add_done_callback(lambda _: self.lane.poke())
        return future

    def _lease_batch(self) -> delivery.Taken:
        """Lease and re-check a batch (helper thread)."""
        with self.uow() as uow:
            return delivery.take(uow, self.channel, self.batch, self.lease, datetime.now(UTC))

    def _write(self, results: list[delivery.Result]) -> None:
        """Record finished sends in one transaction (helper thread)."""
        with self.uow() as uow:
            delivery.record(uow, results, self.adapter.retry_policy, datetime.now(UTC))

    def _settle(self) -> None:
        """Take in the transactions that ended: leased jobs join the ready ones (cancelled ones go
        straight to the record), a failed record's batch is kept for the next try. Raises a failure."""
        error: BaseException | None = None
        if self._recording is not None and self._recording.done():
            future, batch, self._recording, self._recording_batch = self._recording, self._recording_batch, None, []
            error = future.exception()
            if error is None:
                self._recorded(batch)
            else:
                self._done[:0] = batch
                self._done_since = time.monotonic() - self.record_delay  # due again after the error's pause
        if self._taking is not None and self._taking.done():
            future, self._taking = self._taking, None
            failed = future.exception()
            if failed is None:
                taken = future.result()
                self._ready.extend(taken.ready)
                self._finished(taken.settled)
                self._dry = len(taken) == 0
                if self._dry:
                    self._empty_at = time.monotonic()
            error = error or failed
        if error is not None:
            raise error

    def _held_back(self) -> bool:
        """A batch and a lane's worth handed to the lane but not yet recorded: no new send starts until a
        record lands. This bounds what a crash leaves sent but unrecorded (sent again once the lease runs
        out) to `batch + max_in_flight`, as when the coordinator recorded itself."""
        return len(self._sending) + len(self._done) + len(self._recording_batch) >= self.batch + self.lane.max_in_flight

    def _submit(self) -> float:
        """Hand ready jobs to free lane threads, one token each; returns the wait for the next token (or 0)."""
        while self._ready and self.lane.free and not self._stop.is_set() and not self._held_back():
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

    def _recorded(self, results: list[delivery.Result]) -> None:
        """After a record: when the earliest retry it scheduled comes due."""
        retries = [self.adapter.retry_policy.delay_after(r.job.attempts) for r in results if r.state == "pending"]
        now = time.monotonic()
        if self._next_retry <= now:
            self._next_retry = float("inf")
        if retries:
            self._next_retry = min(self._next_retry, now + min(retries))

    def _shutdown(self) -> None:
        """Let the sends and transactions in flight finish, record, give back what was never sent, close."""
        try:
            self.lane.wait_idle(timeout=self.lease.total_seconds() / 2)
            futures_wait([f for f in (self._taking, self._recording) if f is not None])
            with contextlib.suppress(Exception):  # a failed record's batch is back in _done, tried once more
                self._settle()
            self._collect()
            if self._done:
                self._write(self._done)
                self._done = []
            if self._ready:
                with self.uow() as uow:
                    delivery.give_back(uow, [job for job, _ in self._ready])
                self._ready.clear()
        except Exception:  # the database is away: the leases run out and another worker takes the jobs
            log.exception("delivery shutdown could not record", extra={"channel": self.channel})
        finally:
            self._db.shutdown(wait=True)
            self.lane.close()
            self.adapter.close()
