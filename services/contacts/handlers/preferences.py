"""Consent per channel and suppressions: what a contact allows, and what must never be sent.

Also the preference center's use cases (`preference_page`, `save_preferences`): the page's
rules are in `services.contacts.domain.preferences`; every change goes through the handlers here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.contacts.domain import preferences as prefs
from services.contacts.domain.ids import new_id
from services.contacts.handlers.common import iso, load_contact
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.errors import Invalid, NotFound

SUPPRESSION_COLUMNS = ("id", "scope", "value", "reason", "expires_at", "source", "created_at", "lifted_at")


def set_consent(uow: ContactsUnitOfWork, contact_id: str, channel: str, status: str,
                source: str | None) -> dict[str, Any]:
    """Record consent on a channel (current value + history + timeline) and announce it."""
    load_contact(uow, contact_id, for_update=True, live=True)
    stamp = uow.clock.now()
    before = next(({"status": r.status, "source": r.source} for r in uow.contacts.consents(contact_id)
                   if r.channel == channel), None)
    uow.contacts.save_consent(contact_id, channel, status, source, stamp)
    # Recorded here, not at a view: the API, the preference center and one-click all change consent
    uow.audit.record("consent.set", "consent", f"{contact_id}/{channel}", at=stamp, subject_id=contact_id,
                     before=before, after={"status": status, "source": source})
    uow.contacts.add_timeline(contact_id, "consent", channel, stamp, {"status": status, "source": source})
    uow.publish("contact.consent.changed", {"contact_id": contact_id, "channel": channel, "status": status,
                                            "source": source, "changed_at": iso(stamp)}, key=contact_id)
    return {"channel": channel, "status": status, "source": source, "changed_at": stamp}


def consent_view(uow: ContactsUnitOfWork, contact_id: str) -> dict[str, Any]:
    """Current consent per channel and the full history, oldest first."""
    load_contact(uow, contact_id)
    return {
        "current": [{"channel": r.channel, "status": r.status, "source": r.source, "changed_at": r.changed_at}
                    for r in uow.contacts.consents(contact_id)],
        "history": [{"channel": r.channel, "status": r.status, "source": r.source, "changed_at": r.changed_at}
                    for r in uow.contacts.consent_history(contact_id)],
    }


def _suppression_view(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SUPPRESSION_COLUMNS}


def announce_suppression(uow: ContactsUnitOfWork, contact_id: str, row: Any, active: bool, stamp: datetime) -> None:
    """Put a suppression change on the timeline and publish `contact.suppression.changed`."""
    uow.contacts.add_timeline(contact_id, "suppression", "added" if active else "lifted", stamp, {
        "suppression_id": row.id, "scope": row.scope, "value": row.value, "reason": row.reason,
        "expires_at": iso(row.expires_at)}, ref=row.id)
    uow.publish("contact.suppression.changed", {
        "contact_id": contact_id, "suppression_id": row.id, "scope": row.scope, "value": row.value,
        "reason": row.reason, "expires_at": iso(row.expires_at) if active else iso(row.lifted_at),
        "active": active, "changed_at": iso(stamp)}, key=contact_id)


def add_suppression(uow: ContactsUnitOfWork, contact_id: str, data: dict[str, Any], *,
                    source_ref: str | None = None, allow_erased: bool = False) -> dict[str, Any] | None:
    """Add a suppression and announce it; with `source_ref`, a repeat of the same request adds nothing (None)."""
    scope, value = data["scope"], data.get("value")
    if (scope == "global") != (value is None):
        raise Invalid.fields({"value": "a global suppression has no value; channel and topic ones need one"})
    expires_at = data.get("expires_at")
    stamp = uow.clock.now()
    if expires_at is not None and expires_at <= stamp:
        raise Invalid.fields({"expires_at": "must be in the future"})
    load_contact(uow, contact_id, for_update=True, live=not allow_erased)
    row = uow.contacts.add_suppression({
        "id": new_id(), "contact_id": contact_id, "scope": scope, "value": value, "reason": data["reason"],
        "expires_at": expires_at, "source": data.get("source"), "created_at": stamp}, source_ref=source_ref)
    if row is None:
        return None
    announce_suppression(uow, contact_id, row, True, stamp)
    view = _suppression_view(row)
    uow.audit.record("suppression.add", "suppression", row.id, at=stamp, subject_id=contact_id,
                     after={"contact_id": contact_id, **view})
    return view


def lift_suppression(uow: ContactsUnitOfWork, contact_id: str, suppression_id: str) -> dict[str, Any]:
    """Lift a suppression now (it stays on record, expired) and announce it; lifting twice changes nothing."""
    contact = load_contact(uow, contact_id, for_update=True)
    row = uow.contacts.suppression(contact_id, suppression_id) if len(suppression_id) <= 36 else None
    if row is None:
        raise NotFound(f"no suppression {suppression_id[:64]!r} on contact {contact_id}")
    if row.reason == "erased" and contact.erased_at is not None:
        raise Invalid.fields({"suppression_id": "the suppression of an erased contact cannot be lifted"})
    stamp = uow.clock.now()
    if row.lifted_at is not None or (row.expires_at is not None and row.expires_at <= stamp):
        return _suppression_view(row)
    before = _suppression_view(row)
    row = uow.contacts.lift_suppression(suppression_id, stamp)
    announce_suppression(uow, contact_id, row, False, stamp)
    view = _suppression_view(row)
    uow.audit.record("suppression.lift", "suppression", suppression_id, at=stamp, subject_id=contact_id,
                     before=before, after=view)
    return view


def list_suppressions(uow: ContactsUnitOfWork, contact_id: str, include_inactive: bool) -> list[dict[str, Any]]:
    """The contact's suppressions, newest first; only the active ones unless asked otherwise."""
    load_contact(uow, contact_id)
    rows = uow.contacts.suppressions(contact_id, active_at=None if include_inactive else uow.clock.now())
    return [_suppression_view(r) for r in rows]


def one_click_unsubscribe(uow: ContactsUnitOfWork, contact_id: str, scope: str, value: str) -> str:
    """Suppress the contact for `scope`/`value` (source `one_click`): `unsubscribed`, `already` or `erased`.

    Idempotent: a mail provider may POST the same link more than once, so an active suppression that
    already covers the channel or topic (or a global one) is the answer instead of a second row.
    An erased contact is answered without any change: nothing more is ever sent to them.
    """
    contact = load_contact(uow, contact_id, for_update=True)
    if contact.erased_at is not None:
        return "erased"
    for row in uow.contacts.suppressions(contact_id, active_at=uow.clock.now()):
        if row.scope == "global" or (row.scope == scope and row.value == value):
            return "already"
    add_suppression(uow, contact_id, {"scope": scope, "value": value, "reason": "unsubscribed",
                                      "source": "one_click"})
    return "unsubscribed"


@dataclass(frozen=True)
class PreferencePage:
    """What the preference center shows a contact: their language and preferences (None once erased)."""

    locale: str | None
    preferences: prefs.Preferences | None
    changed: int = 0


def _current(uow: ContactsUnitOfWork, contact_id: str) -> prefs.Preferences:
    consents = {row.channel: row.status for row in uow.contacts.consents(contact_id)}
    catalogue = [prefs.Topic(row.key, dict(row.labels or {})) for row in uow.topics.all()]
    stops = [prefs.Stop(row.id, row.scope, row.value, row.source)
             for row in uow.contacts.suppressions(contact_id, active_at=uow.clock.now())]
    return prefs.preferences(consents, catalogue, stops)


def preference_page(uow: ContactsUnitOfWork, contact_id: str) -> PreferencePage:
    """The contact's preferences as the page shows them; NotFound for an unknown contact."""
    contact = load_contact(uow, contact_id)
    if contact.erased_at is not None:
        return PreferencePage(None, None)
    return PreferencePage(getattr(contact, "locale", None), _current(uow, contact_id))


def save_preferences(uow: ContactsUnitOfWork, contact_id: str, choice: prefs.Choice) -> PreferencePage:
    """Make the contact's preferences `choice`: each change recorded with source `preference_center`.

    Consent through `set_consent`, stops through `add_suppression` / `lift_suppression`, so every
    change is on the timeline and leaves through the outbox as any other consent or suppression
    change does. Saving the same choice again changes nothing. An erased contact changes nothing.
    """
    contact = load_contact(uow, contact_id, for_update=True)
    if contact.erased_at is not None:
        return PreferencePage(None, None)
    todo = prefs.changes(_current(uow, contact_id), choice)
    for change in todo:
        if change.kind == "consent":
            set_consent(uow, contact_id, str(change.channel), str(change.status), prefs.SOURCE)
        elif change.kind == "suppress":
            add_suppression(uow, contact_id, {"scope": change.scope, "value": change.value,
                                              "reason": "unsubscribed", "source": prefs.SOURCE})
        else:
            lift_suppression(uow, contact_id, str(change.suppression_id))
    return PreferencePage(getattr(contact, "locale", None), _current(uow, contact_id), len(todo))
