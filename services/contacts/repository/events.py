"""`EventStore`: behavioural events, stored once per event_id, and their timeline entries."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text

from services.contacts.repository.tables import events, timeline

# The new events and their timeline entries in one statement of one text whatever the batch size:
# a VALUES list built per call was compiled anew on every POST /events (SQLAlchemy's compiler was a
# tenth of the API's CPU per event), and the timeline took a round trip of its own. The rows travel
# as one JSON array, not as six typed arrays: psycopg adapts an array element by element in Python
# (about 0.1 ms per statement at one event), json.dumps in C. Timeline entries follow the events'
# ids, which follow the order given (WITH ORDINALITY).
_STORE_NEW = text(
    f"WITH new AS (INSERT INTO {events.name} (event_id, contact_id, type, occurred_at, data, source) "
    "SELECT e.r->>'event_id', e.r->>'contact_id', e.r->>'type', CAST(e.r->>'occurred_at' AS timestamptz), "
    "e.r->'data', e.r->>'source' "
    "FROM jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS e(r, n) ORDER BY e.n "
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
        document = json.dumps([{"event_id": r["event_id"], "contact_id": r["contact_id"], "type": r["type"],
                                "occurred_at": _instant(r["occurred_at"]), "data": r["data"], "source": r["source"]}
                               for r in rows])
        return set(self.conn.execute(_STORE_NEW, {"rows": document}).scalars())


def _instant(value: Any) -> str:
    """An aware datetime (or ISO 8601 text of one) as ISO 8601 text, which PostgreSQL reads exactly."""
    return value if isinstance(value, str) else value.isoformat()
