"""The one periodic job that drives time: claim due rows in batches, publish through the outbox.

When an entry comes due the leader claims up to `batch_size` pending entries whose due time has
come (in due order, `FOR UPDATE SKIP LOCKED`), writes their messages into the outbox and marks
them published, all in one transaction; then it fires due broadcast schedules the same way and
advances their next fire time. A crash anywhere before the commit leaves the rows pending for
the next leader; after it, the outbox relay owns delivery. So a due entry is published at least
once and, through the deterministic message id and the consumers' inbox, takes effect once.

It does not poll: after a tick it sleeps until the earliest pending due time (`repository.next_due`),
and a statement that stores a sooner one wakes it through `NOTIFY touchpoint_scheduler` (a trigger,
migration 0003; `SCHEDULER_CHANNEL` below). Bounds on the sleep: the leader ticks at least every
third of its lock's idle timeout (the tick touches the lock session, which the server ends after
that timeout, see leadership.py), a standby tries the lock every `standby_s`, and `fallback_s`
caps every sleep.

After downtime the backlog is worked off oldest first, at most `max_batches_per_tick` batches per
tick and one tick per `interval_s`, so a million overdue entries become a steady stream instead
of a thundering herd.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, text

from services.scheduler import repository as repo
from services.scheduler.domain.entries import broadcast_message_id, broadcast_payload, fired_message_id
from services.scheduler.domain.recurrence import InvalidSchedule, Recurrence, after_firing
from services.scheduler.leadership import LeaderLock
from shared.clock import Clock
from shared.messaging import UnitOfWork
from shared.periodic import PeriodicTask

log = logging.getLogger(__name__)

SCHEDULER_CHANNEL = "touchpoint_scheduler"  # the NOTIFY channel of migration 0003's triggers
PURGE_EVERY_S = 60.0

LAG = Histogram("touchpoint_scheduler_due_lag_seconds", "Due time to publish (outbox write) per fired entry",
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 60, 300, 3600, 86400))
BATCH = Histogram("touchpoint_scheduler_batch_size", "Entries fired per claimed batch",
                  buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
FIRED = Counter("touchpoint_scheduler_fired_total", "Entries and broadcasts fired", ["kind"])
LEADER = Gauge("touchpoint_scheduler_leader", "1 while this replica holds the scheduler leadership")
OLDEST_LAG = Gauge("touchpoint_scheduler_oldest_claimed_lag_seconds",
                   "Lag of the oldest entry in the last claimed batch (catch-up progress)")


@dataclass
class TickResult:
    """What one tick did."""

    leader: bool = False
    entries: int = 0
    broadcasts: int = 0


class DuePoller(PeriodicTask):
    """The scheduler's background task: leader election plus the poll job, woken by due times and NOTIFY.

    A failed tick (a database outage) is logged with its traceback and retried with backoff from
    `interval_s` up to 5 s. `notified(payload)` is the NOTIFY callback (`shared.messaging.listen`).
    """

    def __init__(self, engine: Engine, clock: Clock, leader: LeaderLock | None, *, source: str = "scheduler",
                 interval_s: float = 0.25, batch_size: int = 1000, max_batches_per_tick: int = 2,
                 schedule_batch: int = 100, retention: timedelta = timedelta(days=7),
                 fallback_s: float = 30.0, standby_s: float = 1.0) -> None:
        super().__init__("scheduler tick", self._tick_step, interval=interval_s, max_backoff=5.0,
                         logger=log, on_stop=self._resign)
        self.engine = engine
        self.clock = clock
        self.leader = leader
        self.source = source
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.max_batches_per_tick = max_batches_per_tick
        self.schedule_batch = schedule_batch
        self.retention = retention
        self.fallback_s = fallback_s
        self.standby_s = standby_s
        # The leader must touch its lock session well inside the server's idle_session_timeout.
        self.keepalive_s = min(fallback_s, leader.idle_timeout_s / 3) if leader is not None else fallback_s
        self._wake_at = math.inf  # epoch seconds of the planned next tick; inf while a tick runs
        self._purged_at = -math.inf

    # -- firing -----------------------------------------------------------------------------
    def fire_entries_once(self) -> int:
        """Claim one batch of due entries, publish them via the outbox, mark them published; return the count."""
        with self.engine.begin() as conn:
            # A hung leader must not sit on its claimed rows forever: the server ends the transaction.
            conn.execute(text("SET LOCAL idle_in_transaction_session_timeout = '30s'"))
            now = self.clock.now()
            rows = repo.claim_due(conn, now, self.batch_size)
            if not rows:
                return 0
            uow = UnitOfWork(conn, repo.TABLES, self.source)
            for row in rows:
                uow.publish(row.message_type, row.payload, key=row.key, message_id=fired_message_id(row.entry_id),
                            occurred_at=now)
                LAG.observe(max((now - row.due_at).total_seconds(), 0.0))
            uow.flush()
            repo.mark_published(conn, [r.id for r in rows], now)
        lag = (now - rows[0].due_at).total_seconds()
        OLDEST_LAG.set(lag)
        BATCH.observe(len(rows))
        FIRED.labels("entry").inc(len(rows))
        if len(rows) == self.batch_size:
            log.info("catching up on due entries", extra={"batch": len(rows), "oldest_lag_s": round(lag, 3)})
        return len(rows)

    def fire_schedules_once(self) -> int:
        """Fire the broadcast schedules whose time has come and advance them; return how many fired."""
        with self.engine.begin() as conn:
            now = self.clock.now()
            rows = repo.claim_due_schedules(conn, now, self.schedule_batch)
            if not rows:
                return 0
            uow = UnitOfWork(conn, repo.TABLES, self.source)
            for row in rows:
                fire_time = row.next_fire_at
                uow.publish(row.message_type, broadcast_payload(row.schedule_id, fire_time, row.owner, row.payload),
                            key=row.schedule_id, message_id=broadcast_message_id(row.schedule_id, fire_time),
                            occurred_at=now)
                try:
                    following = after_firing(Recurrence(row.at, row.cron, row.timezone), fire_time, now)
                except InvalidSchedule:  # stored before a rule tightened: fire no more, keep the row for operators
                    log.error("schedule no longer valid; stopping it", extra={"schedule_id": row.schedule_id})
                    following = None
                repo.advance_schedule(conn, row.schedule_id, fire_time, following)
                LAG.observe(max((now - fire_time).total_seconds(), 0.0))
            uow.flush()
        FIRED.labels("broadcast").inc(len(rows))
        return len(rows)

    def tick(self) -> TickResult:
        """One poll: keep or take leadership; if leading, fire a bounded number of batches."""
        result = TickResult()
        if self.leader is not None and not self.leader.ensure():
            LEADER.set(0)
            return result
        LEADER.set(1)
        result.leader = True
        for _ in range(self.max_batches_per_tick):
            fired = self.fire_entries_once()
            result.entries += fired
            if fired < self.batch_size or self.stopping:
                break
        result.broadcasts = self.fire_schedules_once()
        if time.monotonic() - self._purged_at >= PURGE_EVERY_S:
            self._purged_at = time.monotonic()
            with self.engine.begin() as conn:
                repo.purge_settled(conn, self.clock.now() - self.retention)
        return result

    def next_wait(self, result: TickResult, tick_seconds: float) -> float:
        """Seconds to sleep after a tick: the pace while catching up, else until the next due time (bounded)."""
        if not result.leader:
            return self.standby_s
        if result.entries >= self.batch_size * self.max_batches_per_tick:
            return max(0.0, self.interval_s - tick_seconds)  # a backlog: one tick per interval, never a herd
        with self.engine.connect() as conn:
            due = repo.next_due(conn)
        wait = self.keepalive_s
        if due is not None:
            until = (due - self.clock.now()).total_seconds()
            # Due now yet not claimed (a row another transaction holds): retry after the interval, do not spin.
            wait = min(wait, until if until > 0 else self.interval_s)
        return max(wait, 0.0)

    def notified(self, payload: str) -> None:
        """NOTIFY callback: wake now if the announced due time (epoch seconds; empty: unknown) is before the plan."""
        try:
            due = float(payload) if payload else -math.inf
        except ValueError:
            due = -math.inf
        if due < self._wake_at:
            self.wake()

    # -- BackgroundTask ---------------------------------------------------------------------
    def _tick_step(self) -> float:
        self._wake_at = math.inf  # a notification during the tick makes the next wait return at once
        started = time.monotonic()
        wait = self.next_wait(self.tick(), time.monotonic() - started)
        self._wake_at = self.clock.now().timestamp() + wait
        return wait

    def run(self) -> None:
        """Tick until stop(); then give up the leadership."""
        log.info("scheduler poll started", extra={"interval_s": self.interval_s, "batch_size": self.batch_size,
                                                  "fallback_s": self.fallback_s, "keepalive_s": self.keepalive_s})
        super().run()

    def _resign(self) -> None:
        if self.leader is not None:
            self.leader.release()
        LEADER.set(0)
