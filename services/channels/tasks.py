"""Use cases of the call-center queue and web offers, and the sweeper that expires unclaimed tasks.

A claim is one conditional UPDATE (`WHERE status = 'open'`): of two agents racing for a task exactly
one gets the row back; the other gets nothing and answers 409. Outcomes and offer responses flow back
as `interaction.recorded`, written to the outbox in the same transaction as the state change.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, and_, func, or_, select, tuple_, update

from services.channels.gate import outcome_payload
from services.channels.repository import TABLES, call_tasks, deliveries, offers, touches
from shared.messaging import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


def _interaction(uow: UnitOfWork, contact_id: str, kind: str, data: dict[str, Any]) -> None:
    uow.publish("interaction.recorded", {"interaction_id": str(uuid.uuid4()), "contact_id": contact_id,
                                         "type": kind, "occurred_at": datetime.now(UTC).isoformat(),
                                         "data": data}, key=contact_id)


def list_tasks(conn, status: str, limit: int, contact_id: str | None = None, campaign_id: str | None = None,
               claimed_by: str | None = None, after: tuple[int, datetime, int] | None = None) -> list[Row]:
    """Tasks in `status`, highest priority first, oldest first within a priority; `after` is the
    (priority, created_at, id) of the last task of the previous page (keyset paging: stable while
    tasks come and go, unlike an offset)."""
    query = select(call_tasks).where(call_tasks.c.status == status)
    if status == "open":
        query = query.where(call_tasks.c.expires_at > func.now())
    if contact_id is not None:
        query = query.where(call_tasks.c.contact_id == contact_id)
    if campaign_id is not None:
        query = query.where(call_tasks.c.campaign_id == campaign_id)
    if claimed_by is not None:
        query = query.where(call_tasks.c.claimed_by == claimed_by)
    if after is not None:
        priority, created_at, ident = after
        query = query.where(or_(call_tasks.c.priority < priority,
                                and_(call_tasks.c.priority == priority,
                                     tuple_(call_tasks.c.created_at, call_tasks.c.id) > tuple_(created_at, ident))))
    return conn.execute(query.order_by(call_tasks.c.priority.desc(), call_tasks.c.created_at, call_tasks.c.id)
                        .limit(limit)).all()


def get_task(conn, task_id: int) -> Row | None:
    """One task."""
    return conn.execute(select(call_tasks).where(call_tasks.c.id == task_id)).first()


def claim_task(uow: UnitOfWork, task_id: int, agent: str) -> Row | None:
    """Give an open task to `agent`; None when it is not open (someone else won, or it expired)."""
    return uow.conn.execute(update(call_tasks).where(call_tasks.c.id == task_id, call_tasks.c.status == "open",
                                                     call_tasks.c.expires_at > func.now())
                            .values(status="claimed", claimed_by=agent, claimed_at=func.now())
                            .returning(*call_tasks.c)).first()


def complete_task(uow: UnitOfWork, task_id: int, agent: str | None, outcome: str, notes: str | None) -> Row | None:
    """Close a claimed task (by its agent; `agent=None` for operators) and report the call's outcome."""
    condition = [call_tasks.c.id == task_id, call_tasks.c.status == "claimed"]
    if agent is not None:
        condition.append(call_tasks.c.claimed_by == agent)
    row = uow.conn.execute(update(call_tasks).where(*condition)
                           .values(status="completed", outcome=outcome, notes=notes, completed_at=func.now())
                           .returning(*call_tasks.c)).first()
    if row is not None:
        _interaction(uow, row.contact_id, "call_completed",
                     {"outcome": outcome, "task_id": row.id, "campaign_id": row.campaign_id,
                      "request_id": row.request_id, "notes": notes})
    return row


def list_offers(conn, contact_id: str) -> list[Row]:
    """A contact's current offers, highest priority first."""
    return conn.execute(select(offers).where(
        offers.c.contact_id == contact_id, offers.c.status == "active",
        (offers.c.expires_at.is_(None)) | (offers.c.expires_at > func.now()))
        .order_by(offers.c.priority.desc(), offers.c.created_at.desc(), offers.c.id)).all()


def respond_to_offer(uow: UnitOfWork, offer_id: int, action: str) -> Row | None:
    """Accept or dismiss an active offer; None when it is not active any more."""
    status = {"accept": "accepted", "dismiss": "dismissed"}[action]
    row = uow.conn.execute(update(offers).where(offers.c.id == offer_id, offers.c.status == "active")
                           .values(status=status, responded_at=func.now()).returning(*offers.c)).first()
    if row is not None:
        _interaction(uow, row.contact_id, f"offer_{status}",
                     {"offer_id": row.id, "campaign_id": row.campaign_id, "request_id": row.request_id})
    return row


def expire_tasks(uow: UnitOfWork, limit: int = 500) -> int:
    """Expire open tasks past their time: release the touch, publish `message.expired`."""
    due = (select(call_tasks.c.id).where(call_tasks.c.status == "open", call_tasks.c.expires_at <= func.now())
           .limit(limit).with_for_update(skip_locked=True))
    rows = uow.conn.execute(update(call_tasks).where(call_tasks.c.id.in_(due.scalar_subquery()))
                            .values(status="expired").returning(call_tasks.c.request_id, call_tasks.c.contact_id)).all()
    if not rows:
        return 0
    ids = [r.request_id for r in rows]
    uow.conn.execute(update(touches).where(touches.c.request_id.in_(ids)).values(state="failed", updated_at=func.now()))
    jobs = {j.request_id: j for j in uow.conn.execute(select(deliveries).where(deliveries.c.request_id.in_(ids)))}
    now = datetime.now(UTC)
    for row in rows:
        job = jobs.get(row.request_id)
        request = (job.request if job is not None else None) or {
            "request_id": row.request_id, "contact_id": row.contact_id, "channel": "call"}
        uow.publish("message.expired", outcome_payload(request, "expired", now, "call_task_expired",
                                                       detail="no agent claimed the call task in time"),
                    key=row.contact_id)
    return len(rows)


class CallTaskExpiry:
    """Background task: every `interval` seconds, expire unclaimed call tasks."""

    def __init__(self, engine: Engine, interval: float = 5.0) -> None:
        self.uow = UnitOfWorkFactory(engine, TABLES, "channels")
        self.interval = interval
        self._stop = threading.Event()

    def run(self) -> None:
        """Sweep until stopped."""
        while not self._stop.is_set():
            try:
                with self.uow() as uow:
                    expire_tasks(uow)
            except Exception:  # the sweeper must outlive a database restart; the error is logged
                log.exception("call task expiry failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop sweeping."""
        self._stop.set()
