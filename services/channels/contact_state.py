"""The database side of one contact's policy state: lock the contact, load what the gate needs.

Every writer that changes what the gate decides on (the gate itself, the suppression and consent
copies, erasure, bounce webhooks) first takes the contact's row lock through `lock_contacts`, always
in contact-id order so two transactions locking several contacts cannot deadlock each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.channels.domain import ContactPolicyState, Suppression, Touch
from services.channels.repository import consents, contact_policy, suppressions, touches

COUNTED_STATES = ("reserved", "sent")


def lock_contacts(conn: Connection, contact_ids: Iterable[str]) -> dict[str, Row]:
    """Create missing `contact_policy` rows and lock all of them (FOR UPDATE, id order); return them."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    conn.execute(pg_insert(contact_policy).values([{"contact_id": i} for i in ids])
                 .on_conflict_do_nothing(index_elements=["contact_id"]))
    rows = conn.execute(select(contact_policy).where(contact_policy.c.contact_id.in_(ids))
                        .order_by(contact_policy.c.contact_id).with_for_update()).all()
    return {row.contact_id: row for row in rows}


def _suppression(row: Row) -> Suppression:
    return Suppression(row.suppression_id, row.scope, row.value, row.reason, row.expires_at)


def load_states(conn: Connection, profiles: dict[str, Row | None], touches_since: datetime | None,
                fallback_time_zones: dict[str, str | None] | None = None) -> dict[str, ContactPolicyState]:
    """The policy state of each contact in `profiles`: active suppressions, consents, counted touches."""
    ids = sorted(profiles)
    if not ids:
        return {}
    sup: dict[str, list[Suppression]] = defaultdict(list)
    for row in conn.execute(select(suppressions).where(suppressions.c.contact_id.in_(ids), suppressions.c.active)):
        sup[row.contact_id].append(_suppression(row))
    con: dict[str, dict[str, str]] = defaultdict(dict)
    for row in conn.execute(select(consents).where(consents.c.contact_id.in_(ids))):
        con[row.contact_id][row.channel] = row.status
    tch: dict[str, list[Touch]] = defaultdict(list)
    if touches_since is not None:
        query = select(touches.c.contact_id, touches.c.channel, touches.c.category, touches.c.campaign_id,
                       touches.c.topic, touches.c.at, touches.c.state).where(
            touches.c.contact_id.in_(ids), touches.c.at > touches_since, touches.c.state.in_(COUNTED_STATES))
        for row in conn.execute(query):
            tch[row.contact_id].append(Touch(row.channel, row.category, row.campaign_id, row.topic, row.at,
                                             row.state))
    fallback = fallback_time_zones or {}
    return {cid: ContactPolicyState(time_zone=getattr(profiles[cid], "time_zone", None) or fallback.get(cid),
                                    consents=con.get(cid, {}), suppressions=tuple(sup.get(cid, ())),
                                    touches=tuple(tch.get(cid, ())))
            for cid in ids}


def profile_fields(row: Row | None) -> dict[str, Any]:
    """The reachability copy of a contact (address, names) as a plain dict."""
    if row is None:
        return {}
    return {"email": row.email, "phone": row.phone, "first_name": row.first_name, "last_name": row.last_name,
            "time_zone": row.time_zone}


def lock_one(conn: Connection, contact_id: str) -> Row:
    """Lock (creating if needed) one contact's policy row."""
    return lock_contacts(conn, [contact_id])[contact_id]


def contacts_in(values: Sequence[dict[str, Any]]) -> list[str]:
    """The distinct contact ids of payloads, sorted (the locking order)."""
    return sorted({v["contact_id"] for v in values})
