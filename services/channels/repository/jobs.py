"""Send jobs (`deliveries`): written by the gate, leased by delivery workers, kept when they fail for good.

Job states: pending (due at `next_attempt_at`), sending (leased until `lease_until`), sent, failed,
dead (retries exhausted) and cancelled (a suppression arrived before the send).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, and_, func, or_, select, text, update

from services.channels.repository.tables import deliveries

NOTIFY_CHANNEL = "touchpoint_deliveries"  # payload: the channel that has new jobs (services/channels/wakeups.py)


class JobOutcome(NamedTuple):
    """What to record of one leased job: its next state, and for a retry when it is due again."""

    job_id: int
    attempts: int  # the attempt that sent it (the lease's): a newer lease makes the outcome stale
    state: str  # pending (retry after `retry_after` seconds), sent, failed, dead, cancelled
    retry_after: float | None
    provider_id: str | None
    detail: str


# The gate's jobs in one INSERT ... SELECT FROM unnest(arrays): one short statement text whatever the
# batch size (see ledger._RESERVE); the requests travel as JSON text and become jsonb in the server.
_ENQUEUE = text(
    "INSERT INTO deliveries (request_id, touch_id, contact_id, channel, category, state, attempts, "
    "next_attempt_at, request) "
    "SELECT j.request_id, j.touch_id, j.contact_id, j.channel, j.category, 'pending', 0, "
    "CAST(:due AS timestamptz), CAST(j.request AS jsonb) "
    "FROM unnest(CAST(:request_ids AS text[]), CAST(:touch_ids AS bigint[]), CAST(:contact_ids AS text[]), "
    "CAST(:channels AS text[]), CAST(:categories AS text[]), CAST(:requests AS text[])) WITH ORDINALITY "
    "AS j(request_id, touch_id, contact_id, channel, category, request, n) ORDER BY j.n")

# One UPDATE ... FROM unnest(arrays) for a whole batch: one round trip and one statement text
# (so psycopg prepares it once) whatever the batch size, instead of one UPDATE per job.
_RECORD = text(
    "UPDATE deliveries AS d SET state = v.state, lease_until = NULL, detail = v.detail, updated_at = now(), "
    "provider_id = CASE WHEN v.state = 'pending' THEN d.provider_id ELSE v.provider_id END, "
    "next_attempt_at = CASE WHEN v.state = 'pending' THEN now() + make_interval(secs => v.delay) "
    "ELSE d.next_attempt_at END "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS integer[]), CAST(:states AS text[]), "
    "CAST(:delays AS double precision[]), CAST(:provider_ids AS text[]), CAST(:details AS text[])) "
    "AS v(id, attempts, state, delay, provider_id, detail) "
    "WHERE d.id = v.id AND d.state = 'sending' AND d.attempts = v.attempts "
    "RETURNING d.id")


class DeliveryJobs:
    """The `deliveries` table of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def enqueue(self, requests: Sequence[dict[str, Any]], touch_ids: dict[str, int],
                wire: Sequence[dict[str, Any]]) -> None:
        """One pending job per request (its touch and its request in wire form), due at once."""
        if not requests:
            return
        self.conn.execute(_ENQUEUE, {
            "request_ids": [r["request_id"] for r in requests],
            "touch_ids": [touch_ids[r["request_id"]] for r in requests],
            "contact_ids": [r["contact_id"] for r in requests], "channels": [r["channel"] for r in requests],
            "categories": [r["category"] for r in requests],
            # Real time, not the gate's clock: delivery workers compare it with the database's now().
            "due": datetime.now(UTC),
            "requests": [json.dumps(body) for body in wire]})
        # Delivered at commit (once per channel per transaction): idle delivery workers wake at once.
        for channel in sorted({r["channel"] for r in requests}):
            self.conn.execute(text("SELECT pg_notify(:name, :channel)"), {"name": NOTIFY_CHANNEL, "channel": channel})

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

    def record(self, outcomes: Sequence[JobOutcome]) -> set[int]:
        """Record a batch of leased jobs' outcomes in one statement; returns the ids recorded.

        A job is recorded only while it is still leased by the attempt that sent it (`state` sending and
        the same `attempts`): a job whose lease ran out and that another worker took meanwhile is theirs.
        `pending` outcomes are retries, due again after their delay; the others are final.
        """
        if not outcomes:
            return set()
        rows = self.conn.execute(_RECORD, {
            "ids": [o.job_id for o in outcomes], "attempts": [o.attempts for o in outcomes],
            "states": [o.state for o in outcomes], "delays": [o.retry_after for o in outcomes],
            "provider_ids": [o.provider_id for o in outcomes], "details": [o.detail for o in outcomes]})
        return set(rows.scalars())

    def give_back(self, leased: Sequence[tuple[int, int]]) -> None:
        """Un-lease jobs never handed to the adapter (id, attempts): pending and due at once, attempt uncounted."""
        if not leased:
            return
        self.conn.execute(text(
            "UPDATE deliveries AS d SET state = 'pending', lease_until = NULL, attempts = d.attempts - 1, "
            "next_attempt_at = now(), updated_at = now() "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS integer[])) AS v(id, attempts) "
            "WHERE d.id = v.id AND d.state = 'sending' AND d.attempts = v.attempts"),
            {"ids": [i for i, _ in leased], "attempts": [a for _, a in leased]})

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
