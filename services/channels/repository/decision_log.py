"""The decision record: one row per (request, attempt), read back for redeliveries and `GET /decisions`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from services.channels.domain import PriorDecisions
from services.channels.repository.tables import decisions, deliveries

DEFERRED = "deferred"  # the only outcome word after which a request comes back to the gate


class DecisionLog:
    """The `decisions` table of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def prior(self, request_ids: Sequence[str]) -> dict[str, PriorDecisions]:
        """What was decided before for each of `request_ids` (absent: never decided)."""
        attempts: dict[str, set[int]] = defaultdict(set)
        final: set[str] = set()
        for row in self.conn.execute(select(decisions.c.request_id, decisions.c.attempt, decisions.c.outcome)
                                     .where(decisions.c.request_id.in_(sorted(set(request_ids))))):
            attempts[row.request_id].add(row.attempt)
            if row.outcome != DEFERRED:
                final.add(row.request_id)
        return {rid: PriorDecisions(frozenset(seen), rid in final) for rid, seen in attempts.items()}

    def record(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store decisions (one statement); the unique indexes refuse a second final decision."""
        if rows:
            self.conn.execute(insert(decisions), rows)

    def search(self, filters: dict[str, Any], limit: int) -> list[Row]:
        """Decisions by contact, request or campaign, newest first, joined with the delivery of sends."""
        stmt = select(decisions, deliveries.c.state.label("d_state"), deliveries.c.attempts,
                      deliveries.c.provider_id, deliveries.c.detail.label("d_detail"),
                      deliveries.c.updated_at.label("d_updated_at")).outerjoin(
            deliveries, (deliveries.c.request_id == decisions.c.request_id) & (decisions.c.outcome == "send"))
        for name in ("contact_id", "request_id", "campaign_id"):
            if filters.get(name):
                stmt = stmt.where(decisions.c[name] == filters[name])
        stmt = stmt.order_by(decisions.c.decided_at.desc(), decisions.c.id.desc()).limit(limit)
        return self.conn.execute(stmt).all()

    def move_contact(self, duplicate_id: str, survivor_id: str) -> None:
        """A merged-away contact's decisions become the survivor's ("why (not)" shows one person)."""
        self.conn.execute(update(decisions).where(decisions.c.contact_id == duplicate_id)
                          .values(contact_id=survivor_id))
