"""`EventStore`: behavioural events, stored once per event_id, and their timeline entries."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text

from services.contacts.repository.tables import events, timeline

# The new events and their timeline entries in one statement of one text whatever the batch size,
# the rows as arrays: a VALUES list built per call was compiled anew on every POST /events
# (SQLAlchemy's compiler was a tenth of the API's CPU per event), and the timeline took a round
# trip of its own. Timeline entries follow the events' ids, which follow the order given.
_STORE_NEW = text(
    f"WITH new AS (INSERT INTO {events.name} (event_id, contact_id, type, occurred_at, data, source) "
    "SELECT e.event_id, e.contact_id, e.type, e.occurred_at, e.data, e.source "
    "FROM unnest(CAST(:event_ids AS text[]), CAST(:contact_ids AS text[]), CAST(:types AS text[]), "
    "CAST(:occurred AS timestamptz[]), CAST(:data AS jsonb[]), CAST(:sources AS text[])) "
    "WITH ORDINALITY AS e(event_id, contact_id, type, occurred_at, data, source, n) ORDER BY e.n "
    "ON CONFLICT (event_id) DO NOTHING RETURNING id, event_id, contact_id, type, occurred_at, data) "
    f"INSERT INTO {timeline.name} (contact_id, kind, type, occurred_at, ref, data) "
    "SELECT contact_id, 'event', type, occurred_at, event_id, data FROM new ORDER BY id RETURNING ref")


class EventStore:
    """The queries of the events use cases, bound to one transaction's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def store_new(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert the events whose event_id is new (the others are left alone) and put each new one on
        its contact's timeline (kind `event`, ref = the event_id); the event_ids stored."""
        if not rows:
            return set()
        return set(self.conn.execute(_STORE_NEW, {
            "event_ids": [r["event_id"] for r in rows], "contact_ids": [r["contact_id"] for r in rows],
            "types": [r["type"] for r in rows], "occurred": [r["occurred_at"] for r in rows],
            "data": [json.dumps(r["data"]) for r in rows], "sources": [r["source"] for r in rows]}).scalars())
