"""Call-center tasks and web offers: filled by the internal adapters, worked by agents and the website.

A claim is one conditional UPDATE (`WHERE status = 'open'`): of two agents racing for a task exactly
one gets the row back; the other gets nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.channels.repository.tables import call_tasks, offers


class AgentQueue:
    """`call_tasks` and `offers` of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- written by the internal adapters (idempotent on request_id) --------------------------------
    def add_call_task(self, row: dict[str, Any]) -> int:
        """Queue a call task once per request; returns its id."""
        return self._add(call_tasks, row)

    def add_offer(self, row: dict[str, Any]) -> int:
        """Put an offer on the contact's page once per request; returns its id."""
        return self._add(offers, row)

    def _add(self, table: Table, row: dict[str, Any]) -> int:
        self.conn.execute(pg_insert(table).values(**row).on_conflict_do_nothing(index_elements=["request_id"]))
        return self.conn.execute(select(table.c.id).where(table.c.request_id == row["request_id"])).scalar_one()

    # -- call tasks ---------------------------------------------------------------------------------
    def tasks(self, status: str, limit: int, contact_id: str | None = None, campaign_id: str | None = None,
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
        return self.conn.execute(query.order_by(call_tasks.c.priority.desc(), call_tasks.c.created_at,
                                                call_tasks.c.id).limit(limit)).all()

    def task(self, task_id: int) -> Row | None:
        """One task."""
        return self.conn.execute(select(call_tasks).where(call_tasks.c.id == task_id)).first()

    def claim(self, task_id: int, agent: str) -> Row | None:
        """Give an open task to `agent`; None when it is not open (someone else won, or it expired)."""
        return self.conn.execute(update(call_tasks).where(call_tasks.c.id == task_id, call_tasks.c.status == "open",
                                                          call_tasks.c.expires_at > func.now())
                                 .values(status="claimed", claimed_by=agent, claimed_at=func.now())
                                 .returning(*call_tasks.c)).first()

    def complete(self, task_id: int, agent: str | None, outcome: str, notes: str | None) -> Row | None:
        """Close a claimed task (by its agent; `agent=None` for operators); None when that is not possible."""
        condition = [call_tasks.c.id == task_id, call_tasks.c.status == "claimed"]
        if agent is not None:
            condition.append(call_tasks.c.claimed_by == agent)
        return self.conn.execute(update(call_tasks).where(*condition)
                                 .values(status="completed", outcome=outcome, notes=notes, completed_at=func.now())
                                 .returning(*call_tasks.c)).first()

    def expire_due(self, limit: int) -> Sequence[Row]:
        """Mark open tasks past their time expired (skipping rows another sweeper holds); return them."""
        due = (select(call_tasks.c.id).where(call_tasks.c.status == "open", call_tasks.c.expires_at <= func.now())
               .limit(limit).with_for_update(skip_locked=True))
        return self.conn.execute(update(call_tasks).where(call_tasks.c.id.in_(due.scalar_subquery()))
                                 .values(status="expired")
                                 .returning(call_tasks.c.request_id, call_tasks.c.contact_id)).all()

    # -- offers -------------------------------------------------------------------------------------
    def offers(self, contact_id: str) -> list[Row]:
        """A contact's current offers, highest priority first."""
        return self.conn.execute(select(offers).where(
            offers.c.contact_id == contact_id, offers.c.status == "active",
            (offers.c.expires_at.is_(None)) | (offers.c.expires_at > func.now()))
            .order_by(offers.c.priority.desc(), offers.c.created_at.desc(), offers.c.id)).all()

    def respond(self, offer_id: int, status: str) -> Row | None:
        """Mark an active offer accepted or dismissed; None when it is not active any more."""
        return self.conn.execute(update(offers).where(offers.c.id == offer_id, offers.c.status == "active")
                                 .values(status=status, responded_at=func.now()).returning(*offers.c)).first()

    # -- erasure ------------------------------------------------------------------------------------
    def erase(self, contact_id: str) -> None:
        """Drop a contact's scripts, notes and offer content; close what is still open or active."""
        self.conn.execute(update(call_tasks).where(call_tasks.c.contact_id == contact_id).values(
            script=None, notes=None, status=func.coalesce(func.nullif(call_tasks.c.status, "open"), "expired")))
        self.conn.execute(update(offers).where(offers.c.contact_id == contact_id).values(
            content=None, status=func.coalesce(func.nullif(offers.c.status, "active"), "dismissed")))
