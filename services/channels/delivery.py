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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Engine, Row, and_, func, or_, select, text, update

from services.channels.adapters.base import ChannelAdapter, DeliveryResult, Recipient, RenderedMessage
from services.channels.adapters.ratelimit import TokenBucket
from services.channels.contact_state import load_states, profile_fields
from services.channels.domain import PolicyRules, still_deliverable
from services.channels.gate import outbound, outcome_payload
from services.channels.repository import TABLES, contact_policy, deliveries, touches
from services.channels.rules import load_rules
from shared.contracts import MessageRequested
from shared.messaging import UnitOfWork

log = logging.getLogger(__name__)
DELIVERED = Counter("touchpoint_channel_deliveries_total", "Delivery attempts by channel and result",
                    ["channel", "result"])
_REQUEST = MessageRequested()


@dataclass
class _Result:
    job: Row
    state: str  # the job's next state: pending (retry later), sent, failed, dead, cancelled
    result: DeliveryResult
    outcome: str | None  # the message.<outcome> to publish
    reason: str | None
    rule_id: str | None = None
    touch_state: str | None = None


class DeliveryWorker:
    """Delivers one channel's due jobs through one adapter instance (a background task)."""

    def __init__(self, engine: Engine, adapter: ChannelAdapter, batch_size: int = 50, idle_sleep: float = 0.05,
                 lease: timedelta = timedelta(minutes=2), chunk_size: int = 10) -> None:
        self.engine = engine
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
        jobs = self._lease()
        if not jobs:
            return 0
        with self.engine.connect() as conn:
            rules, _ = load_rules(conn)
            conn.commit()
        for start in range(0, len(jobs), self.chunk_size):
            if self._stop.is_set():
                break  # the rest stay leased until the lease runs out, then another worker takes them
            self._record(self._deliver_chunk(jobs[start:start + self.chunk_size], rules))
        return len(jobs)

    def _lease(self) -> list[Row]:
        due = (select(deliveries.c.id).where(
            deliveries.c.channel == self.channel,
            or_(and_(deliveries.c.state == "pending", deliveries.c.next_attempt_at <= func.now()),
                and_(deliveries.c.state == "sending", deliveries.c.lease_until < func.now())))
            .order_by(deliveries.c.next_attempt_at).limit(self.batch_size).with_for_update(skip_locked=True))
        lease = text(f"interval '{int(self.lease.total_seconds())} seconds'")
        with self.engine.begin() as conn:
            return conn.execute(update(deliveries).where(deliveries.c.id.in_(due.scalar_subquery()))
                                .values(state="sending", attempts=deliveries.c.attempts + 1,
                                        lease_until=func.now() + lease, updated_at=func.now())
                                .returning(*deliveries.c)).all()

    def _deliver_chunk(self, jobs: list[Row], rules: PolicyRules) -> list[_Result]:
        """Re-check the chunk's contacts (one read), then call the adapter for each job still allowed."""
        ids = sorted({job.contact_id for job in jobs})
        with self.engine.connect() as conn:
            profiles = {row.contact_id: row for row in
                        conn.execute(select(contact_policy).where(contact_policy.c.contact_id.in_(ids)))}
            states = load_states(conn, profiles, None)
            conn.rollback()
        results = []
        for job in jobs:
            if job.request is None:  # erased since the decision
                results.append(_Result(job, "cancelled", DeliveryResult("failed", None, "contact erased"),
                                       "suppressed", "suppressed:global:erased"))
                continue
            request = _REQUEST.load(job.request)
            state = states.get(job.contact_id)
            block = still_deliverable(outbound(request), state, rules, datetime.now(UTC)) if state else None
            if block is not None:
                results.append(_Result(job, "cancelled", DeliveryResult("failed", None, block.detail), "suppressed",
                                       f"at_delivery:{block.reason}", block.rule_id))
                continue
            message = self._render(job, request, profiles.get(job.contact_id))
            self.bucket.acquire()
            try:
                result = self.adapter.send(message)
            except Exception as exc:  # an adapter bug or outage is a retry, never a lost message
                log.warning("adapter raised", exc_info=True, extra={"channel": self.channel})
                result = DeliveryResult("retry", None, f"{exc.__class__.__name__}: {exc}"[:500])
            DELIVERED.labels(self.channel, result.status).inc()
            if result.status == "sent":
                results.append(_Result(job, "sent", result, "sent", "sent", touch_state="sent"))
            elif result.status == "retry" and job.attempts < self.adapter.retry_policy.max_attempts:
                results.append(_Result(job, "pending", result, None, None))
            else:
                final = "failed" if result.status == "failed" else "dead"
                results.append(_Result(job, final, result, "failed", f"delivery:{final}"))
        return results

    def _render(self, job: Row, request: dict[str, Any], profile: Row | None) -> RenderedMessage:
        known = {k: v for k, v in profile_fields(profile).items() if v}
        given = request.get("recipient") or {}
        # The contact copy is fresher than what the requester knew; fall back to the request.
        pick = {k: known.get(k) or given.get(k) for k in ("email", "phone", "first_name", "last_name")}
        return RenderedMessage(request_id=job.request_id, contact_id=job.contact_id, channel=job.channel,
                               category=job.category, content=request["content"], recipient=Recipient(**pick),
                               campaign_id=request.get("campaign_id"), step_id=request.get("step_id"),
                               priority=request.get("priority") or 0, expires_at=request.get("expires_at"),
                               attempt=job.attempts)

    def _record(self, results: list[_Result]) -> None:
        """Write a chunk's outcomes in one transaction: job state, touch state, outcome message."""
        with self.engine.begin() as conn:
            uow = UnitOfWork(conn, TABLES, "channels")
            for r in results:
                job, result = r.job, r.result
                if r.state == "pending":
                    delay = self.adapter.retry_policy.delay_after(job.attempts)
                    conn.execute(update(deliveries).where(deliveries.c.id == job.id, deliveries.c.state == "sending")
                                 .values(state="pending", lease_until=None, detail=result.detail, updated_at=func.now(),
                                         next_attempt_at=func.now() + text(f"interval '{delay:.3f} seconds'")))
                    continue
                done = conn.execute(update(deliveries).where(deliveries.c.id == job.id, deliveries.c.state == "sending")
                                    .values(state=r.state, lease_until=None, provider_id=result.provider_id,
                                            detail=result.detail, updated_at=func.now())).rowcount
                if not done:
                    continue  # another worker took over after our lease ran out and recorded it
                touch_state = r.touch_state or ("cancelled" if r.state == "cancelled" else "failed")
                conn.execute(update(touches).where(touches.c.id == job.touch_id)
                             .values(state=touch_state, updated_at=func.now()))
                request = job.request or {"request_id": job.request_id, "contact_id": job.contact_id,
                                          "channel": job.channel, "category": job.category}
                uow.publish(f"message.{r.outcome}", outcome_payload(request, r.outcome, datetime.now(UTC), r.reason,
                                                                    r.rule_id, result.detail or None),
                            key=job.contact_id)
            uow.flush()
