"""Send jobs (`deliveries`): written by the gate, leased by delivery workers, kept when they fail for good.

Job states: pending (due at `next_attempt_at`), sending (leased until `lease_until`), sent, failed,
dead (retries exhausted) and cancelled (a suppression arrived before the send).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, or_, select, text, update

from services.channels.repository.tables import deliveries


class DeliveryJobs:
    """The `deliveries` table of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def enqueue(self, requests: Sequence[dict[str, Any]], touch_ids: dict[str, int],
                wire: Sequence[dict[str, Any]]) -> None:
        """One pending job per request (its touch and its request in wire form), due at once."""
        self.conn.execute(insert(deliveries), [
            {"request_id": r["request_id"], "touch_id": touch_ids[r["request_id"]], "contact_id": r["contact_id"],
             "channel": r["channel"], "category": r["category"], "state": "pending", "attempts": 0,
             # Real time, not the gate's clock: delivery workers compare it with the database's now().
             "next_attempt_at": datetime.now(UTC), "request": body} for r, body in zip(requests, wire, strict=True)])

    def lease(self, channel: str, limit: int, lease: timedelta) -> list[Row]:
        """Take up to `limit` due jobs of `channel` (pending and due, or leased by a worker that died)."""
        due = (select(deliveries.c.id).where(
            deliveries.c.channel == channel,
            or_(and_(deliveries.c.state == "pending", deliveries.c.next_attempt_at <= func.now()),
                and_(deliveries.c.state == "sending", deliveries.c.lease_until < func.now())))
            .order_by(deliveries.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
        until = text(f"interval '{int(lease.total_seconds())} seconds'")
        return self.conn.execute(update(deliveries).where(deliveries.c.id.in_(due.scalar_subquery()))
                                 .values(state="sending", attempts=deliveries.c.attempts + 1,
                                         lease_until=func.now() + until, updated_at=func.now())
                                 .returning(*deliveries.c)).all()

    def retry_later(self, job_id: int, delay_seconds: float, detail: str) -> None:
        """Give a leased job back, due again after `delay_seconds`."""
        self.conn.execute(update(deliveries).where(deliveries.c.id == job_id, deliveries.c.state == "sending")
                          .values(state="pending", lease_until=None, detail=detail, updated_at=func.now(),
                                  next_attempt_at=func.now() + text(f"interval '{delay_seconds:.3f} seconds'")))

    def finish(self, job_id: int, state: str, provider_id: str | None, detail: str) -> bool:
        """Record a leased job's end; False when another worker took it over (our lease ran out)."""
        return bool(self.conn.execute(
            update(deliveries).where(deliveries.c.id == job_id, deliveries.c.state == "sending")
            .values(state=state, lease_until=None, provider_id=provider_id, detail=detail,
                    updated_at=func.now())).rowcount)

    def by_request_id(self, request_id: str) -> Row | None:
        """The job of a request, if the gate sent it."""
        return self.conn.execute(select(deliveries).where(deliveries.c.request_id == request_id)).first()

    def by_request_ids(self, request_ids: Sequence[str]) -> dict[str, Row]:
        """The jobs of several requests, by request id."""
        return {j.request_id: j for j in
                self.conn.execute(select(deliveries).where(deliveries.c.request_id.in_(request_ids)))}

    def by_provider_id(self, channel: str, provider_id: str) -> Row | None:
        """The job a provider's receipt is about."""
        return self.conn.execute(select(deliveries).where(deliveries.c.provider_id == provider_id,
                                                          deliveries.c.channel == channel)).first()

    def note(self, job_id: int, detail: str) -> None:
        """Replace a job's detail (a provider receipt)."""
        self.conn.execute(update(deliveries).where(deliveries.c.id == job_id).values(detail=detail))

    def forget_requests(self, contact_id: str) -> None:
        """Erasure: drop the stored requests (content, address) of a contact's jobs."""
        self.conn.execute(update(deliveries).where(deliveries.c.contact_id == contact_id)
                          .values(request=None, updated_at=func.now()))

    def search(self, filters: dict[str, Any], limit: int) -> list[Any]:
        """Jobs by state, channel or contact, newest first."""
        stmt = select(deliveries)
        for name in ("state", "channel", "contact_id"):
            if filters.get(name):
                stmt = stmt.where(deliveries.c[name] == filters[name])
        return self.conn.execute(stmt.order_by(deliveries.c.id.desc()).limit(limit)).mappings().all()
