"""GDPR: erase a contact's personal data everywhere in this service, and export all of it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from services.contacts.domain.ids import new_id
from services.contacts.handlers.common import contact_view, iso, load_contact, now
from services.contacts.handlers.preferences import announce_suppression
from services.contacts.repository import consent_history, consents, contacts, events, suppressions, timeline
from shared.messaging import UnitOfWork

PII_FIELDS = ("external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone")


def erase_contact(uow: UnitOfWork, contact_id: str) -> dict[str, Any]:
    """Null every personal field, clear event data, keep a global `erased` suppression; announce the erasure.

    The contact row stays (id and erased_at only) so redelivered messages about it find a
    tombstone instead of recreating it, and so the suppression keeps everything from being sent.
    Erasing twice is harmless and announces nothing new.
    """
    row = load_contact(uow.conn, contact_id, for_update=True)
    if row.erased_at is not None:
        return contact_view(row)
    stamp = now()
    conn = uow.conn
    row = conn.execute(contacts.update().where(contacts.c.id == contact_id)
                       .values(attributes={}, erased_at=stamp, updated_at=stamp, **dict.fromkeys(PII_FIELDS))
                       .returning(*contacts.c)).first()
    conn.execute(events.update().where(events.c.contact_id == contact_id).values(data={}))
    conn.execute(timeline.update().where(timeline.c.contact_id == contact_id).values(data={}))
    conn.execute(consents.update().where(consents.c.contact_id == contact_id).values(source=None))
    conn.execute(consent_history.update().where(consent_history.c.contact_id == contact_id).values(source=None))
    conn.execute(suppressions.update().where(suppressions.c.contact_id == contact_id).values(source=None))
    suppression = conn.execute(suppressions.insert().values(
        id=new_id(), contact_id=contact_id, scope="global", value=None, reason="erased", created_at=stamp,
    ).returning(*suppressions.c)).first()
    announce_suppression(uow, contact_id, suppression, True, stamp)
    conn.execute(timeline.insert().values(contact_id=contact_id, kind="erasure", type="erased", occurred_at=stamp))
    uow.publish("contact.erased", {"contact_id": contact_id, "erased_at": iso(stamp)}, key=contact_id)
    return contact_view(row)


def export_contact(conn: Connection, contact_id: str) -> dict[str, Any]:
    """Everything this service holds about a contact, as one JSON document."""
    contact = contact_view(load_contact(conn, contact_id))

    def rows(table: Any, *order: Any) -> list[dict[str, Any]]:
        query = select(table).where(table.c.contact_id == contact_id).order_by(*order)
        return [{k: v for k, v in r._mapping.items() if k != "contact_id"} for r in conn.execute(query)]

    return {
        "contact": contact,
        "consents": rows(consents, consents.c.channel),
        "consent_history": rows(consent_history, consent_history.c.id),
        "suppressions": rows(suppressions, suppressions.c.id),
        "events": rows(events, events.c.occurred_at, events.c.id),
        "timeline": rows(timeline, timeline.c.occurred_at, timeline.c.id),
        "exported_at": now(),
    }
