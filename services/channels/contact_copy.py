"""The channels service's copy of contact facts: profile, consent, suppressions, erasure.

Each handler takes the contact's policy lock first, the same lock the gate decides under, so a
decision made after a suppression was applied here sees it. Facts carry their own change time and
an older fact never overwrites a newer one, which makes redelivery and reordering harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.channels.contact_state import lock_contacts
from services.channels.repository import (
    call_tasks,
    consents,
    contact_policy,
    deliveries,
    offers,
    suppressions,
)
from shared.messaging import Message, UnitOfWork

ERASED_SUPPRESSION_ID = "erased"


def upsert_suppression(conn: Connection, contact_id: str, suppression_id: str, scope: str, value: str | None,
                       reason: str, active: bool, changed_at: datetime, expires_at: datetime | None = None) -> None:
    """Record a suppression's state unless a newer state is already recorded (caller holds the lock)."""
    stmt = pg_insert(suppressions).values(contact_id=contact_id, suppression_id=suppression_id, scope=scope,
                                          value=value, reason=reason, expires_at=expires_at, active=active,
                                          changed_at=changed_at)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["contact_id", "suppression_id"],
        set_={c: stmt.excluded[c] for c in ("scope", "value", "reason", "expires_at", "active", "changed_at")},
        where=suppressions.c.changed_at <= stmt.excluded.changed_at))


def on_suppression_changed(conn: Connection, p: dict[str, Any]) -> None:
    """contact.suppression.changed"""
    upsert_suppression(conn, p["contact_id"], p["suppression_id"], p["scope"], p.get("value"), p["reason"],
                       p["active"], p["changed_at"], p.get("expires_at"))


def on_consent_changed(conn: Connection, p: dict[str, Any]) -> None:
    """contact.consent.changed"""
    stmt = pg_insert(consents).values(contact_id=p["contact_id"], channel=p["channel"], status=p["status"],
                                      changed_at=p["changed_at"])
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["contact_id", "channel"],
        set_={"status": stmt.excluded.status, "changed_at": stmt.excluded.changed_at},
        where=consents.c.changed_at <= stmt.excluded.changed_at))


def on_upserted(conn: Connection, p: dict[str, Any]) -> None:
    """contact.upserted: keep the reachability fields (never for an erased contact)."""
    conn.execute(update(contact_policy).where(
        contact_policy.c.contact_id == p["contact_id"], contact_policy.c.erased.is_(False),
        or_(contact_policy.c.profile_updated_at.is_(None), contact_policy.c.profile_updated_at <= p["updated_at"]))
        .values(time_zone=p.get("time_zone"), email=p.get("email"), phone=p.get("phone"),
                first_name=p.get("first_name"), last_name=p.get("last_name"), profile_updated_at=p["updated_at"]))


def on_erased(conn: Connection, p: dict[str, Any]) -> None:
    """contact.erased: drop every copy of personal data, keep a global `erased` suppression forever."""
    cid = p["contact_id"]
    conn.execute(update(contact_policy).where(contact_policy.c.contact_id == cid).values(
        erased=True, time_zone=None, email=None, phone=None, first_name=None, last_name=None))
    upsert_suppression(conn, cid, ERASED_SUPPRESSION_ID, "global", None, "erased", True, p["erased_at"])
    conn.execute(update(deliveries).where(deliveries.c.contact_id == cid).values(request=None, updated_at=func.now()))
    conn.execute(update(call_tasks).where(call_tasks.c.contact_id == cid).values(
        script=None, notes=None, status=func.coalesce(func.nullif(call_tasks.c.status, "open"), "expired")))
    conn.execute(update(offers).where(offers.c.contact_id == cid).values(
        content=None, status=func.coalesce(func.nullif(offers.c.status, "active"), "dismissed")))


HANDLERS = {
    "contact.suppression.changed": on_suppression_changed,
    "contact.consent.changed": on_consent_changed,
    "contact.upserted": on_upserted,
    "contact.erased": on_erased,
}


def handle_contact_facts(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    """Batch handler of `channels.contacts`: lock the batch's contacts in id order, then apply in order."""
    lock_contacts(uow.conn, (m.payload["contact_id"] for m in messages))
    for message in messages:
        HANDLERS[message.type](uow.conn, message.payload)


def suppress_locally(uow: UnitOfWork, contact_id: str, channel: str, reason: str, source: str,
                     data: dict[str, Any] | None = None) -> str:
    """A channel-level suppression learned here (bounce, complaint, STOP): apply now, tell contacts."""
    now = datetime.now(UTC)
    lock_contacts(uow.conn, [contact_id])
    suppression_id = f"{source}:{channel}:{reason}"
    upsert_suppression(uow.conn, contact_id, suppression_id, "channel", channel, reason, True, now)
    interaction_id = str(uuid.uuid4())
    uow.publish("interaction.recorded", {
        "interaction_id": interaction_id, "contact_id": contact_id, "type": "suppression_requested",
        "occurred_at": now.isoformat(),
        "data": {"scope": "channel", "value": channel, "reason": reason, "source": source, **(data or {})}},
        key=contact_id)
    return suppression_id
