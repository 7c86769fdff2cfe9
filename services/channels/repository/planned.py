"""`planned_sends`: the messages planned for a contact and not sent yet, which the look-ahead rule reads.

A plan is live until its message reaches the gate (`end`), campaigns cancels it (`cancel`) or it is
long past due (`prune`). Every write carries the time of the fact it records and changes a row only when
that time is not older than the row's, so a `send.planned` that arrives twice or late never revives a
plan that was cancelled or sent after it was made.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.channels.domain import PlannedSend
from services.channels.repository.contacts import any_ids
from services.channels.repository.tables import planned_sends

FIELDS = ("contact_id", "channel", "category", "priority", "due_at", "campaign_id", "step_id", "occurrence",
          "request_id")


class PlannedSends:
    """The `planned_sends` table of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def of_contacts(self, contact_ids: Sequence[str], due_after: datetime) -> dict[str, list[PlannedSend]]:
        """The live plans of each contact due after `due_after`."""
        found: dict[str, list[PlannedSend]] = defaultdict(list)
        for row in self.conn.execute(select(planned_sends).where(
                planned_sends.c.contact_id == any_ids(contact_ids), planned_sends.c.live,
                planned_sends.c.due_at > due_after)):
            step_key = ((row.campaign_id, row.step_id, row.contact_id, row.occurrence or "")
                        if row.campaign_id and row.step_id else None)
            found[row.contact_id].append(PlannedSend(row.plan_id, row.channel, row.category, row.priority,
                                                     row.due_at, row.campaign_id, step_key, row.request_id))
        return found

    def plan(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record live plans ({plan_id, changed_at, *FIELDS}) unless a newer fact about the same plan is recorded."""
        if not rows:
            return
        stmt = pg_insert(planned_sends).values([{**{k: r.get(k) for k in FIELDS}, "plan_id": r["plan_id"],
                                                 "changed_at": r["changed_at"], "live": True} for r in rows])
        self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["plan_id"], set_={c: stmt.excluded[c] for c in (*FIELDS, "live", "changed_at")},
            where=planned_sends.c.changed_at <= stmt.excluded.changed_at))

    def cancel(self, at: datetime, plan_id: str | None = None, campaign_id: str | None = None) -> None:
        """End one plan, or every live plan of a campaign, made before `at`.

        A plan id not seen yet is remembered as ended, so its `send.planned` arriving later is ignored.
        """
        if plan_id is not None:
            stmt = pg_insert(planned_sends).values(plan_id=plan_id, contact_id="", channel="", category="",
                                                   priority=0, due_at=at, live=False, changed_at=at)
            self.conn.execute(stmt.on_conflict_do_update(
                index_elements=["plan_id"], set_={"live": False, "changed_at": at},
                where=planned_sends.c.changed_at <= at))
        if campaign_id is not None:
            self.conn.execute(update(planned_sends).where(
                planned_sends.c.campaign_id == campaign_id, planned_sends.c.live, planned_sends.c.changed_at <= at)
                .values(live=False, changed_at=at))

    def end(self, plan_ids: Iterable[str], at: datetime) -> None:
        """End live plans by id (their message reached the gate)."""
        ids = sorted(set(plan_ids))
        if ids:
            self.conn.execute(update(planned_sends).where(planned_sends.c.plan_id.in_(ids), planned_sends.c.live)
                              .values(live=False, changed_at=at))

    def move_contact(self, duplicate_id: str, survivor_id: str) -> None:
        """A merged-away contact's planned sends hold cap slots for the survivor."""
        self.conn.execute(update(planned_sends).where(planned_sends.c.contact_id == duplicate_id)
                          .values(contact_id=survivor_id))

    def forget_contact(self, contact_id: str) -> None:
        """Erasure: drop every plan of the contact."""
        self.conn.execute(delete(planned_sends).where(planned_sends.c.contact_id == contact_id))

    def prune(self, due_before: datetime) -> int:
        """Delete plans (live or ended) due before `due_before`; return how many."""
        return self.conn.execute(delete(planned_sends).where(planned_sends.c.due_at < due_before)).rowcount
