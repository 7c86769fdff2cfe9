"""Local copies of the contact facts that conditions and templates read, kept from contacts' events.

Each copy carries the time of the fact it reflects and only moves forward, so events that
arrive late or twice never roll a contact back.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.handlers.enrollment import wake_entry_id
from services.campaigns.repository import consents, contact_events, contacts, enrollments, suppressions
from shared.messaging import Message, UnitOfWork


def handle_contact_upserted(uow: UnitOfWork, message: Message) -> None:
    """Keep the newest version of the contact's shareable fields."""
    p = message.payload
    values = {k: p[k] for k in ("contact_id", "external_id", "email", "phone", "first_name", "last_name",
                                "locale", "time_zone", "attributes", "updated_at")}
    stmt = pg_insert(contacts).values(**values)
    uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=[contacts.c.contact_id],
        set_={k: stmt.excluded[k] for k in values if k != "contact_id"},
        where=contacts.c.updated_at <= stmt.excluded.updated_at))


def handle_contact_erased(uow: UnitOfWork, message: Message) -> None:
    """Forget the contact's personal data and end its running enrollments."""
    cid = message.payload["contact_id"]
    conn = uow.conn
    for table in (contacts, consents, suppressions, contact_events):
        conn.execute(delete(table).where(table.c.contact_id == cid))
    parked = conn.execute(select(enrollments.c.enrollment_id, enrollments.c.current_step, enrollments.c.occurrence)
                          .where(enrollments.c.contact_id == cid, enrollments.c.status == "active",
                                 enrollments.c.waiting_until.is_not(None))).all()
    for row in parked:
        uow.publish("schedule.cancelled", {"entry_id": wake_entry_id(row.enrollment_id, row.current_step,
                                                                     row.occurrence)}, key=cid)
    conn.execute(update(enrollments).where(enrollments.c.contact_id == cid, enrollments.c.status == "active")
                 .values(status="exited", reason="contact erased", ended_at=message.payload["erased_at"],
                         current_step=None, waiting_until=None))
    # The trigger event may hold personal data too (an address, an amount).
    conn.execute(update(enrollments).where(enrollments.c.contact_id == cid).values(trigger_event=None))


def handle_consent_changed(uow: UnitOfWork, message: Message) -> None:
    """Keep the newest consent status per channel."""
    p = message.payload
    stmt = pg_insert(consents).values(contact_id=p["contact_id"], channel=p["channel"], status=p["status"],
                                      changed_at=p["changed_at"])
    uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=[consents.c.contact_id, consents.c.channel],
        set_={"status": stmt.excluded.status, "changed_at": stmt.excluded.changed_at},
        where=consents.c.changed_at <= stmt.excluded.changed_at))


def handle_suppression_changed(uow: UnitOfWork, message: Message) -> None:
    """Keep the newest state of each suppression."""
    p = message.payload
    values = {k: p[k] for k in ("suppression_id", "contact_id", "scope", "value", "reason", "expires_at", "active",
                                "changed_at")}
    stmt = pg_insert(suppressions).values(**values)
    uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=[suppressions.c.suppression_id],
        set_={k: stmt.excluded[k] for k in values if k != "suppression_id"},
        where=suppressions.c.changed_at <= stmt.excluded.changed_at))
