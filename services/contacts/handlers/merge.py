"""Merge two profiles of one person: fold the duplicate into the survivor (rules: domain/merge.py)."""

from __future__ import annotations

from typing import Any

from services.contacts.domain.merge import (
    ConsentRecord,
    MergeRefused,
    Profile,
    check_merge,
    fold_consent,
    fold_fields,
    suppressions_to_announce,
)
from services.contacts.handlers.common import CONTACT_COLUMNS, contact_view, iso, upserted_payload
from services.contacts.handlers.preferences import announce_suppression
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.errors import Conflict, Invalid, NotFound


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name, None) for name in CONTACT_COLUMNS}


def _profile(row: Any) -> Profile:
    return Profile(row.id, row.merged_into, row.erased_at is not None)


def merge_contacts(uow: ContactsUnitOfWork, survivor_id: str, duplicate_id: str) -> dict[str, Any]:
    """Fold `duplicate_id` into `survivor_id` and announce it; merging again answers the same with merged=False.

    The duplicate becomes a tombstone (`merged_into`): GET still answers it, and events, interactions,
    outcomes and import rows addressed to it land on the survivor. Its events, timeline, consent
    history and suppressions move to the survivor; consent and fields fold by the domain's rules.
    Publishes `contact.merged` (and `contact.upserted`, and the survivor's changed consent and new
    suppressions, so every copy of the survivor is whole before the duplicate's is dropped).
    """
    if survivor_id == duplicate_id:
        raise Invalid.field("duplicate_id", "a contact cannot be merged into itself")
    rows = {}
    for contact_id in sorted((survivor_id, duplicate_id)):  # one lock order: two opposite merges cannot deadlock
        rows[contact_id] = uow.contacts.contact(contact_id, for_update=True) if len(contact_id) <= 36 else None
    survivor, duplicate = rows[survivor_id], rows[duplicate_id]
    if survivor is None:
        raise NotFound(f"no contact {survivor_id[:64]!r}")
    if duplicate is None:
        raise Invalid.field("duplicate_id", f"no contact {duplicate_id[:64]!r}")
    try:
        needed = check_merge(_profile(survivor), _profile(duplicate))
    except MergeRefused as exc:
        if exc.conflict:
            raise Conflict(str(exc), {exc.field: [str(exc)]}) from None
        raise Invalid.field(exc.field, str(exc)) from None
    if not needed:
        return {"contact": contact_view(survivor), "duplicate_id": duplicate_id, "merged": False}

    stamp = uow.clock.now()
    store = uow.contacts
    consent_changes = fold_consent([ConsentRecord(r.channel, r.status, r.source) for r in store.consents(survivor_id)],
                                   [ConsentRecord(r.channel, r.status, r.source) for r in store.consents(duplicate_id)])
    new_suppressions = suppressions_to_announce(store.suppressions(survivor_id, active_at=None),
                                                store.suppressions(duplicate_id, active_at=None), stamp)
    # The duplicate leaves the live set first, so the survivor may take its email or phone.
    store.tombstone(duplicate_id, survivor_id, stamp)
    store.move_records(duplicate_id, survivor_id)
    row = store.update(survivor_id, fold_fields(_fields(survivor), _fields(duplicate)), stamp)
    for record in consent_changes:
        store.save_consent(survivor_id, record.channel, record.status, record.source, stamp)
        store.add_timeline(survivor_id, "consent", record.channel, stamp,
                           {"status": record.status, "source": record.source})
        uow.publish("contact.consent.changed", {"contact_id": survivor_id, "channel": record.channel,
                                                "status": record.status, "source": record.source,
                                                "changed_at": iso(stamp)}, key=survivor_id)
    for suppression in new_suppressions:
        announce_suppression(uow, survivor_id, suppression, True, stamp)
    store.add_timeline(survivor_id, "merge", "merged", stamp, {"duplicate_id": duplicate_id}, ref=duplicate_id)
    uow.audit.record("contact.merge", "contact", survivor_id, at=stamp, subject_id=survivor_id,
                     after={"duplicate_id": duplicate_id})
    uow.publish("contact.upserted", upserted_payload(row), key=survivor_id)
    uow.publish("contact.merged", {"contact_id": survivor_id, "duplicate_id": duplicate_id,
                                   "merged_at": iso(stamp)}, key=survivor_id)
    return {"contact": contact_view(row), "duplicate_id": duplicate_id, "merged": True}
