"""Small pieces every contacts handler uses: times and the contact's public view (cursors: shared.http.cursor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from services.contacts.repository import ContactStore
from shared.clock import system_clock
from shared.errors import Conflict, NotFound

CONTACT_COLUMNS = ("id", "external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone",
                   "attributes", "created_at", "updated_at", "erased_at")


def now() -> datetime:
    """The current time, aware, in UTC (contacts decides by real time: no clock is injected here)."""
    return system_clock.now()


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of an aware datetime (None stays None): the form message payloads carry."""
    return None if value is None else value.isoformat()


def contact_view(row: Row | dict[str, Any]) -> dict[str, Any]:
    """A contact as the API shows it."""
    mapping = row._mapping if isinstance(row, Row) else row
    return {name: mapping[name] for name in CONTACT_COLUMNS}


def upserted_payload(row: Row | dict[str, Any]) -> dict[str, Any]:
    """The `contact.upserted` payload of a contact row."""
    mapping = row._mapping if isinstance(row, Row) else row
    payload = {name: mapping[name] for name in CONTACT_COLUMNS[:9]}
    payload["contact_id"] = payload.pop("id")
    payload["updated_at"] = iso(mapping["updated_at"])
    return payload


def load_contact(conn: Connection, contact_id: str, *, for_update: bool = False, live: bool = False) -> Row:
    """The contact row; NotFound if absent, Conflict when `live` is asked of an erased contact."""
    return found_contact(ContactStore(conn), contact_id, for_update=for_update, live=live)


def found_contact(store: ContactStore, contact_id: str, *, for_update: bool = False, live: bool = False) -> Any:
    """The contact row from a store; NotFound if absent, Conflict when `live` is asked of an erased contact."""
    row = store.contact(contact_id, for_update=for_update) if _plausible_id(contact_id) else None
    if row is None:
        raise NotFound(f"no contact {contact_id[:64]!r}")
    if live and row.erased_at is not None:
        raise Conflict(f"contact {contact_id} was erased")
    return row


def _plausible_id(contact_id: str) -> bool:
    return 0 < len(contact_id) <= 36
