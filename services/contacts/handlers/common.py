"""Small pieces every contacts handler uses: opaque cursors, times, and the contact's public view."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row

from services.contacts.errors import Conflict, Invalid, NotFound
from services.contacts.repository import ContactStore

CONTACT_COLUMNS = ("id", "external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone",
                   "attributes", "created_at", "updated_at", "erased_at")


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of an aware datetime (None stays None): the form message payloads carry."""
    return None if value is None else value.isoformat()


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for a position in a listing."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, keys: tuple[str, ...], field: str = "cursor") -> dict[str, Any] | None:
    """The position an opaque cursor stands for; Invalid naming `field` if it was not made here."""
    if not cursor:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict) or set(position) != set(keys) \
            or not all(isinstance(v, str | int) for v in position.values()):
        raise Invalid(f"{field} is not a cursor this service issued", {field: ["invalid cursor"]})
    return position


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
