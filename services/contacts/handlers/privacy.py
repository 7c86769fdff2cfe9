"""GDPR: erase a contact's personal data everywhere in this service, and export all of it."""

from __future__ import annotations

from typing import Any

from services.contacts.domain.ids import new_id
from services.contacts.handlers.common import contact_view, iso, load_contact
from services.contacts.handlers.preferences import announce_suppression
from services.contacts.unit_of_work import ContactsUnitOfWork

PII_FIELDS = ("external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone")
# What erasure blanks in the audit trail's before/after of the contact's records: the personal fields,
# the free-form attributes and event data; what happened (action, ids, consent status, scope) stays.
AUDIT_PERSONAL = (*PII_FIELDS, "attributes", "data")


def erase_contact(uow: ContactsUnitOfWork, contact_id: str) -> dict[str, Any]:
    """Null every personal field, clear event data, keep a global `erased` suppression; announce the erasure.

    The contact row stays (id and erased_at only) so redelivered messages about it find a
    tombstone instead of recreating it, and so the suppression keeps everything from being sent.
    Erasing twice is harmless and announces nothing new.
    """
    row = load_contact(uow, contact_id, for_update=True)
    if row.erased_at is not None:
        return contact_view(row)
    stamp = uow.clock.now()
    row = uow.contacts.erase(contact_id, PII_FIELDS, stamp)
    suppression = uow.contacts.add_suppression({
        "id": new_id(), "contact_id": contact_id, "scope": "global", "value": None, "reason": "erased",
        "created_at": stamp})
    announce_suppression(uow, contact_id, suppression, True, stamp)
    uow.contacts.add_timeline(contact_id, "erasure", "erased", stamp)
    # the person's data may sit in records of the profiles merged into this one, under their own ids
    for subject_id in (contact_id, *uow.contacts.merged_ids(contact_id)):
        uow.audit.redact_subject(subject_id, AUDIT_PERSONAL, stamp)
    uow.audit.record("contact.erase", "contact", contact_id, at=stamp, subject_id=contact_id)
    uow.publish("contact.erased", {"contact_id": contact_id, "erased_at": iso(stamp)}, key=contact_id)
    return contact_view(row)


def export_contact(uow: ContactsUnitOfWork, contact_id: str) -> dict[str, Any]:
    """Everything this service holds about a contact, as one JSON document."""
    contact = contact_view(load_contact(uow, contact_id))
    return {"contact": contact, **uow.contacts.everything_about(contact_id), "exported_at": uow.clock.now()}
