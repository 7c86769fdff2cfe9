"""Contact use cases: create, update, read and list (with cursor paging and filters)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.contacts.domain.contact import normalize_contact, normalize_email
from services.contacts.domain.ids import new_id
from services.contacts.handlers.common import (
    contact_view,
    load_contact,
    now,
    upserted_payload,
)
from services.contacts.handlers.segments import compile_filter
from services.contacts.repository import contacts
from shared.errors import Conflict, Invalid
from shared.http.cursor import decode_cursor, next_page
from shared.messaging import UnitOfWork


def _normalized(data: dict[str, Any]) -> dict[str, Any]:
    result = normalize_contact(data, data.get("phone_region"))
    if result.errors:
        raise Invalid.fields(result.errors)
    return result.values


def create_contact(uow: UnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    """Create a contact and announce it; Conflict when its external_id is taken."""
    values = _normalized(data)
    if not any(values.get(key) for key in ("external_id", "email", "phone")):
        raise Invalid("a contact needs at least one of external_id, email, phone",
                      {"external_id": ["give at least one of external_id, email, phone"]})
    stamp = now()
    row = uow.conn.execute(
        pg_insert(contacts)
        .values(id=new_id(), created_at=stamp, updated_at=stamp, **{"attributes": {}, **values})
        .on_conflict_do_nothing(index_elements=["external_id"], index_where=contacts.c.external_id.is_not(None))
        .returning(*contacts.c)
    ).first()
    if row is None:
        existing = uow.conn.execute(select(contacts.c.id).where(contacts.c.external_id == values["external_id"])
                                    ).scalar()
        raise Conflict(f"external_id is already used by contact {existing}",
                       {"external_id": [f"already used by contact {existing}"]})
    uow.publish("contact.upserted", upserted_payload(row), key=row.id)
    return contact_view(row)


def update_contact(uow: UnitOfWork, contact_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields; `attributes` is a JSON merge patch (a null value removes the key)."""
    current = load_contact(uow.conn, contact_id, for_update=True, live=True)
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
    external_id = values.get("external_id")
    if external_id and external_id != current.external_id:
        taken = uow.conn.execute(select(contacts.c.id).where(contacts.c.external_id == external_id)).scalar()
        if taken:
            raise Conflict(f"external_id is already used by contact {taken}",
                           {"external_id": [f"already used by contact {taken}"]})
    row = uow.conn.execute(
        contacts.update().where(contacts.c.id == contact_id).values(updated_at=now(), **values)
        .returning(*contacts.c)
    ).first()
    uow.publish("contact.upserted", upserted_payload(row), key=row.id)
    return contact_view(row)


def get_contact(conn: Connection, contact_id: str) -> dict[str, Any]:
    """One contact (erased ones too: their id and erasure time remain)."""
    return contact_view(load_contact(conn, contact_id))


def list_contacts(conn: Connection, *, limit: int, cursor: str | None = None, external_id: str | None = None,
                  email: str | None = None, where: str | None = None) -> dict[str, Any]:
    """A page of live contacts in id (= creation) order, filtered; `next_cursor` is None on the last page."""
    conditions = [contacts.c.erased_at.is_(None)]
    position = decode_cursor(cursor, {"after": str})
    if position:
        conditions.append(contacts.c.id > position["after"])
    if external_id is not None:
        conditions.append(contacts.c.external_id == external_id)
    if email is not None:
        try:
            conditions.append(contacts.c.email == normalize_email(email))
        except ValueError as exc:
            raise Invalid.fields({"email": str(exc)}) from None
    if where:
        conditions.append(compile_filter(where, "where"))
    rows = conn.execute(select(contacts).where(and_(*conditions)).order_by(contacts.c.id).limit(limit + 1)).all()
    page, next_cursor = next_page(rows, limit, lambda last: {"after": last.id})
    return {"items": [contact_view(r) for r in page], "next_cursor": next_cursor}
