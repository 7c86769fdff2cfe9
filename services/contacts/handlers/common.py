"""Small pieces every contacts handler uses: times and the contact's public view (cursors: shared.http.cursor)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from services.contacts.filters import FilterCompileError
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.errors import Conflict, Invalid, NotFound
from shared.filters import FilterSyntaxError

CONTACT_COLUMNS = ("id", "external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone",
                   "attributes", "created_at", "updated_at", "erased_at", "merged_into")


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of an aware datetime (None stays None): the form message payloads carry."""
    return None if value is None else value.isoformat()


def _mapping(row: Any) -> Any:
    mapping = getattr(row, "_mapping", row)  # a database row, a plain dict, or a plain object (the fakes')
    return mapping if hasattr(mapping, "__getitem__") else vars(mapping)


def contact_view(row: Any) -> dict[str, Any]:
    """A contact as the API shows it."""
    mapping = _mapping(row)
    return {name: mapping[name] for name in CONTACT_COLUMNS}


def upserted_payload(row: Any) -> dict[str, Any]:
    """The `contact.upserted` payload of a contact row."""
    mapping = _mapping(row)
    payload = {name: mapping[name] for name in CONTACT_COLUMNS[:9]}
    payload["contact_id"] = payload.pop("id")
    payload["updated_at"] = iso(mapping["updated_at"])
    return payload


def load_contact(uow: ContactsUnitOfWork, contact_id: str, *, for_update: bool = False, live: bool = False) -> Any:
    """The contact row; NotFound if absent, Conflict when `live` is asked of an erased or merged contact."""
    row = uow.contacts.contact(contact_id, for_update=for_update) if _plausible_id(contact_id) else None
    if row is None:
        raise NotFound(f"no contact {contact_id[:64]!r}")
    if live and row.erased_at is not None:
        raise Conflict(f"contact {contact_id} was erased")
    if live and row.merged_into is not None:
        raise Conflict(f"contact {contact_id} was merged into contact {row.merged_into}: address that one",
                       {"id": [f"merged into contact {row.merged_into}"]})
    return row


@contextmanager
def filter_errors(field: str) -> Iterator[None]:
    """Answer a filter expression that does not parse or compile with Invalid naming `field` (and the position)."""
    try:
        yield
    except FilterSyntaxError as exc:
        raise Invalid(f"{field}: {exc.message} at position {exc.position}",
                      {field: [f"{exc.message} at position {exc.position}"]}) from None
    except FilterCompileError as exc:
        raise Invalid(f"{field}: {exc}", {field: [str(exc)]}) from None


def _plausible_id(contact_id: str) -> bool:
    return 0 < len(contact_id) <= 36
