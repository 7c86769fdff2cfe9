"""Contacts CRUD, paging and filters through the real app, database and broker."""

from __future__ import annotations

import uuid

import pytest

from shared.http.auth import endpoints_without_roles
from tests.support import wait_for

pytestmark = pytest.mark.integration


def _ext() -> str:
    return f"ext-{uuid.uuid4().hex[:12]}"


def test_every_endpoint_declares_roles(contacts):
    assert endpoints_without_roles(contacts.app) == []


def test_create_normalises_and_publishes_upserted(contacts, probe):
    seen = probe("contact.upserted")
    ext = _ext()
    response = contacts.post("/contacts", role="marketer", json={
        "external_id": ext, "email": "Jane.Doe@EXAMPLE.com", "phone": "020 7946 0018", "phone_region": "gb",
        "first_name": "Jane", "last_name": "Doe", "locale": "en_gb", "time_zone": "Europe/London",
        "attributes": {"tier": "platinum", "balance": 12000}})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["email"] == "Jane.Doe@example.com"
    assert body["phone"] == "+442079460018"
    assert body["locale"] == "en-GB"
    uuid.UUID(body["id"])
    messages = wait_for(lambda: [m for m in seen.drain() if m["payload"]["contact_id"] == body["id"]],
                        message="contact.upserted on the broker")
    assert messages[0]["payload"]["attributes"] == {"tier": "platinum", "balance": 12000}
    assert messages[0]["key"] == body["id"]

    again = contacts.post("/contacts", role="ingest", json={"external_id": ext})
    assert again.status_code == 409 and "external_id" in again.json["errors"]


def test_update_merges_attributes_and_roles_are_enforced(contacts):
    created = contacts.post("/contacts", role="ingest", json={
        "external_id": _ext(), "phone": "+4915112345678", "attributes": {"tier": "gold", "x": 1}}).json
    assert contacts.patch(f"/contacts/{created['id']}", role="agent", json={"first_name": "A"}).status_code == 403
    updated = contacts.patch(f"/contacts/{created['id']}", role="marketer",
                             json={"first_name": "Ann", "attributes": {"tier": "platinum", "x": None}})
    assert updated.status_code == 200, updated.json
    assert updated.json["attributes"] == {"tier": "platinum"}
    assert updated.json["first_name"] == "Ann"
    assert contacts.get(f"/contacts/{created['id']}", role="agent").json["first_name"] == "Ann"
    assert contacts.get(f"/contacts/{uuid.uuid4()}", role="agent").status_code == 404


def test_list_paginates_and_filters(contacts):
    marker = uuid.uuid4().hex[:8]
    ids = [contacts.post("/contacts", role="ingest", json={
        "external_id": _ext(), "email": f"p{i}-{marker}@example.org",
        "attributes": {"batch": marker, "n": i}}).json["id"] for i in range(7)]
    pages, cursor = [], None
    while True:
        query = {"where": f"batch == '{marker}'", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = contacts.get("/contacts", role="marketer", query_string=query).json
        pages.append([c["id"] for c in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == ids  # creation order
    by_email = contacts.get("/contacts", role="agent", query_string={"email": f"P3-{marker}@EXAMPLE.org"}).json
    assert by_email["items"] == []  # the local part keeps its case; only the domain is lowercased
    by_email = contacts.get("/contacts", role="agent", query_string={"email": f"p3-{marker}@EXAMPLE.org"}).json
    assert [c["id"] for c in by_email["items"]] == [ids[3]]
    high = contacts.get("/contacts", role="agent", query_string={"where": f"batch == '{marker}' and n >= 5"}).json
    assert [c["id"] for c in high["items"]] == ids[5:]
