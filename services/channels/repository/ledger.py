"""The touch ledger: every touch's lifecycle in one place.

A touch is `reserved` by the gate in the transaction of its decision (counted by every cap at
once), becomes `sent` when the adapter accepted the message, or is released: `failed` (the send
failed for good, a receipt said undelivered, a call task expired unclaimed) or `cancelled` (a
suppression arrived between decision and delivery). Released touches no longer count against
caps nor hold their campaign step occurrence (the partial unique index of invariant 3), and give back
the capacity units they took (`repository/capacity.py`): `release()` and the delivery batch's `settle()`
both end in `CapacityCounters.give_back`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, select, text, tuple_, update

from services.channels.domain import CapacityKey, StepKey, Touch
from services.channels.repository.capacity import CapacityCounters
from services.channels.repository.contacts import any_ids
from services.channels.repository.tables import touches


class LedgerState(StrEnum):
    """A touch's state in the ledger (the domain sees only the counted ones)."""

    RESERVED = "reserved"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


COUNTED_STATES = (LedgerState.RESERVED.value, LedgerState.SENT.value)
RELEASED_STATES = (LedgerState.FAILED, LedgerState.CANCELLED)
# The gate's reservations: one INSERT ... SELECT FROM unnest(arrays), one short statement text whatever
# the batch size. A multi-row VALUES list (SQLAlchemy's insertmanyvalues) was a new, long text per
# batch size that psycopg parsed afresh each time (its query cache skips long texts): with the jobs'
# insert, ~23 % of the channels worker's busy samples in a broadcast. WITH ORDINALITY keeps the ids
# in request order.
_RESERVE = text(
    "INSERT INTO touches (request_id, contact_id, channel, category, campaign_id, step_id, occurrence, topic, "
    "at, state) "
    "SELECT r.request_id, r.contact_id, r.channel, r.category, r.campaign_id, r.step_id, r.occurrence, r.topic, "
    "CAST(:at AS timestamptz), CAST(:state AS text) "
    "FROM unnest(CAST(:request_ids AS text[]), CAST(:contact_ids AS text[]), CAST(:channels AS text[]), "
    "CAST(:categories AS text[]), CAST(:campaign_ids AS text[]), CAST(:step_ids AS text[]), "
    "CAST(:occurrences AS text[]), CAST(:topics AS text[])) WITH ORDINALITY "
    "AS r(request_id, contact_id, channel, category, campaign_id, step_id, occurrence, topic, n) "
    "ORDER BY r.n RETURNING id, request_id")


class TouchLedger:
    """The `touches` table of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.capacity = CapacityCounters(conn)

    def counted_since(self, contact_ids: Sequence[str], since: datetime) -> dict[str, list[Touch]]:
        """The touches that count against caps (reserved or sent) of each contact, after `since`."""
        found: dict[str, list[Touch]] = defaultdict(list)
        query = select(touches.c.contact_id, touches.c.channel, touches.c.category, touches.c.campaign_id,
                       touches.c.topic, touches.c.at, touches.c.state).where(
            touches.c.contact_id == any_ids(contact_ids), touches.c.at > since, touches.c.state.in_(COUNTED_STATES))
        for row in self.conn.execute(query):
            found[row.contact_id].append(Touch(row.channel, row.category, row.campaign_id, row.topic, row.at,
                                               row.state))
        return found

    def live_steps(self, keys: Iterable[StepKey]) -> set[StepKey]:
        """Which of `keys` (campaign, step, contact, occurrence) already hold a reserved or sent touch."""
        wanted = sorted({key[:3] for key in keys})
        if not wanted:
            return set()
        query = select(touches.c.campaign_id, touches.c.step_id, touches.c.contact_id, touches.c.occurrence).where(
            tuple_(touches.c.campaign_id, touches.c.step_id, touches.c.contact_id).in_(wanted),
            touches.c.state.in_(COUNTED_STATES))
        return {(r.campaign_id, r.step_id, r.contact_id, r.occurrence or "") for r in self.conn.execute(query)}

    def reserve(self, requests: Sequence[dict[str, Any]], at: datetime,
                capacity: Mapping[str, Sequence[CapacityKey]] | None = None,
                limits: Mapping[str, int] | None = None) -> dict[str, int]:
        """Reserve one touch per request (one statement); returns the touch id of each request id.

        `capacity` names, per request id, the capacity windows its send takes a unit of (held by the caller
        with `capacity.hold`); `limits` the limit of each rule id. Taken in this transaction, with the touches.
        """
        if not requests:
            return {}
        ids = {row.request_id: row.id for row in self.conn.execute(_RESERVE, {
            "request_ids": [r["request_id"] for r in requests], "contact_ids": [r["contact_id"] for r in requests],
            "channels": [r["channel"] for r in requests], "categories": [r["category"] for r in requests],
            "campaign_ids": [r.get("campaign_id") for r in requests], "step_ids": [r.get("step_id") for r in requests],
            "occurrences": [r.get("occurrence") for r in requests], "topics": [r.get("topic") for r in requests],
            "at": at, "state": LedgerState.RESERVED.value})}
        if capacity:
            self.capacity.take({ids[request_id]: keys for request_id, keys in capacity.items() if keys},
                               limits or {})
        return ids

    def release(self, *, touch_id: int | None = None, request_ids: Sequence[str] = (),
                cancelled: bool = False) -> None:
        """Stop counting a reservation: `failed` (the send failed for good) or `cancelled` (stopped before it);
        the capacity units it took are given back."""
        state = LedgerState.CANCELLED if cancelled else LedgerState.FAILED
        released: list[int] = []
        if touch_id is not None:
            released += self._set(touches.c.id == touch_id, state)
        if request_ids:
            released += self._set(touches.c.request_id.in_(request_ids), state)
        self.capacity.give_back(released)

    def settle(self, fates: Sequence[tuple[int, LedgerState]]) -> None:
        """Set the state of many touches at once (a delivery batch's outcomes), in one statement; the released
        ones give their capacity back as `release()` does."""
        if not fates:
            return
        self.conn.execute(text(
            "UPDATE touches AS t SET state = v.state, updated_at = now() "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:states AS text[])) AS v(id, state) WHERE t.id = v.id"),
            {"ids": [touch_id for touch_id, _ in fates], "states": [LedgerState(s).value for _, s in fates]})
        self.capacity.give_back([touch_id for touch_id, s in fates if LedgerState(s) in RELEASED_STATES])

    def _set(self, where, state: LedgerState) -> list[int]:
        return list(self.conn.execute(update(touches).where(where).values(state=state.value, updated_at=func.now())
                                      .returning(touches.c.id)).scalars())

    def move_contact(self, duplicate_id: str, survivor_id: str) -> int:
        """Put every touch of a merged-away contact on the survivor's ledger: caps count them as one person's.

        A touch of a step occurrence the survivor holds a live touch of too (both profiles were
        enrolled in the same campaign) moves with its occurrence marked `@merged:<touch id>`: it still
        counts against caps, and the survivor's own touch keeps the step from being sent again.
        """
        return self.conn.execute(text("""
            UPDATE touches AS t SET contact_id = CAST(:survivor AS varchar), updated_at = now(),
                occurrence = CASE WHEN t.campaign_id IS NOT NULL AND t.step_id IS NOT NULL
                                   AND t.state IN ('reserved', 'sent') AND EXISTS (
                    SELECT 1 FROM touches s WHERE s.contact_id = CAST(:survivor AS varchar) AND s.campaign_id = t.campaign_id
                       AND s.step_id = t.step_id AND coalesce(s.occurrence, '') = coalesce(t.occurrence, '')
                       AND s.state IN ('reserved', 'sent'))
                    THEN coalesce(t.occurrence, '') || '@merged:' || t.id ELSE t.occurrence END
            WHERE t.contact_id = :duplicate
        """).bindparams(bindparam("survivor", type_=String), bindparam("duplicate", type_=String)),
            {"survivor": survivor_id, "duplicate": duplicate_id}).rowcount
