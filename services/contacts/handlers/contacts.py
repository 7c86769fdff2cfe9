"""Contact use cases: create, update, read and list (with cursor paging and filters)."""

from __future__ import annotations

from typing import Any

from services.contacts.domain.contact import KeyTaken, normalize_contact, normalize_email
from services.contacts.domain.ids import new_id
from services.contacts.handlers.common import (
    contact_view,
    filter_errors,
    load_contact,
    upserted_payload,
)
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.errors import Conflict, Invalid
from shared.http.cursor import decode_cursor, next_page


def _normalized(data: dict[str, Any]) -> dict[str, Any]:
    result = normalize_contact(data, data.get("phone_region"))
    if result.errors:
        raise Invalid.fields(result.errors)
    return result.values


def _taken(uow: ContactsUnitOfWork, values: dict[str, Any], other_than: str | None = None,
           field: str | None = None) -> Conflict:
    """The 409 naming the field whose value another contact holds, and that contact's id."""
    held = uow.contacts.holder(values, other_than=other_than)
    field, holder = held if held is not None else (field or "external_id", "another contact")
    return Conflict(f"{field} is already used by contact {holder}", {field: [f"already used by contact {holder}"]})


def create_contact(uow: ContactsUnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    """Create a contact and announce it.

    Conflict (naming the field and the existing contact) when its external_id, or its email or
    phone, belongs to another live contact: the database's unique indexes decide, so of two
    concurrent creates of the same person exactly one wins.
    """
    values = _normalized(data)
    if not any(values.get(key) for key in ("external_id", "email", "phone")):
        raise Invalid("a contact needs at least one of external_id, email, phone",
                      {"external_id": ["give at least one of external_id, email, phone"]})
    row = uow.contacts.insert(new_id(), values, uow.clock.now())
    if row is None:
        raise _taken(uow, values)
    uow.publish("contact.upserted", upserted_payload(row), key=row.id)
    return contact_view(row)


def update_contact(uow: ContactsUnitOfWork, contact_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields; `attributes` is a JSON merge patch (a null value removes the key)."""
    current = load_contact(uow, contact_id, for_update=True, live=True)
    patch_attributes = data.get("attributes")
    if patch_attributes is not None:
        data = {**data, "attributes": {k: v for k, v in patch_attributes.items() if v is not None}}
    values = _normalized(data)
    if patch_attributes is not None:
        merged = {**current.attributes, **values["attributes"]}
        for key, value in patch_attributes.items():
            if value is None:
                merged.pop(key, None)
        values["attributes"] = merged
    keys = {key: values.get(key) for key in ("external_id", "email", "phone")
            if values.get(key) and values[key] != getattr(current, key)}
    if uow.contacts.holder(keys, other_than=contact_id) is not None:
        raise _taken(uow, keys, contact_id)
    try:
        row = uow.contacts.update(contact_id, values, uow.clock.now())
    except KeyTaken as exc:  # taken by a concurrent writer after the check above
        raise _taken(uow, keys, contact_id, exc.field) from None
    uow.publish("contact.upserted", upserted_payload(row), key=row.id)
    return contact_view(row)


def get_contact(uow: ContactsUnitOfWork, contact_id: str) -> dict[str, Any]:
    """One contact (erased ones too: their id and erasure time remain)."""
    return contact_view(load_contact(uow, contact_id))


def list_contacts(uow: ContactsUnitOfWork, *, limit: int, cursor: str | None = None, external_id: str | None = None,
                  email: str | None = None, where: str | None = None) -> dict[str, Any]:
    """A page of live contacts in id (= creation) order, filtered; `next_cursor` is None on the last page."""
    position = decode_cursor(cursor, {"after": str})
    if email is not None:
        try:
            email = normalize_email(email)
        except ValueError as exc:
            raise Invalid.fields({"email": str(exc)}) from None
    with filter_errors("where"):
        rows = uow.contacts.live_page(after=position["after"] if position else None, external_id=external_id,
                                      email=email, where=where, limit=limit + 1)
    page, next_cursor = next_page(rows, limit, lambda last: {"after": last.id})
    return {"items": [contact_view(r) for r in page], "next_cursor": next_cursor}
