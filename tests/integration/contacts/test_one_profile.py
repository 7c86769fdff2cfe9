"""One person, one profile: live contacts are unique by email and by phone, in the database."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select, text

from services.contacts.repository import contacts as contacts_table
from services.contacts.service import DEFINITION
from shared.db.engine import drop_database, make_engine
from shared.db.migrate import migrate
from tests.support import fresh_database, wait_for

pytestmark = pytest.mark.integration


def _email() -> str:
    return f"one-{uuid.uuid4().hex[:10]}@example.com"


def test_a_taken_email_or_phone_answers_409_naming_the_field_and_the_holder(contacts):
    email, phone = _email(), f"+49151{uuid.uuid4().int % 10**8:08d}"
    first = contacts.post("/contacts", role="ingest", json={"email": email, "phone": phone})
    assert first.status_code == 201, first.json
    holder = first.json["id"]

    by_email = contacts.post("/contacts", role="ingest", json={"email": email.replace("example.com", "EXAMPLE.com")})
    assert by_email.status_code == 409, by_email.json
    assert by_email.json["errors"] == {"email": [f"already used by contact {holder}"]}
    by_phone = contacts.post("/contacts", role="marketer", json={"email": _email(), "phone": phone})
    assert by_phone.status_code == 409 and list(by_phone.json["errors"]) == ["phone"]
    assert holder in by_phone.json["detail"]

    other = contacts.post("/contacts", role="ingest", json={"email": _email()}).json
    patched = contacts.patch(f"/contacts/{other['id']}", role="marketer", json={"email": email})
    assert patched.status_code == 409 and patched.json["errors"] == {"email": [f"already used by contact {holder}"]}
    # its own values are no conflict
    assert contacts.patch(f"/contacts/{holder}", role="marketer", json={"email": email}).status_code == 200

    # an erased contact holds nothing: the address can be given to a new profile
    assert contacts.post(f"/contacts/{holder}/erase", role="operator").status_code == 200
    assert contacts.post("/contacts", role="ingest", json={"email": email, "phone": phone}).status_code == 201


def test_concurrent_creates_of_one_person_make_one_row(contacts):
    """Both requests pass every check before either inserts: the unique index decides."""
    for _ in range(5):
        email = _email()
        start = threading.Barrier(2)
        statuses: list[int] = []

        def create(external_id: str, email: str = email, start: threading.Barrier = start,
                   statuses: list[int] = statuses) -> None:
            start.wait()
            statuses.append(contacts.post("/contacts", role="ingest",
                                          json={"external_id": external_id, "email": email}).status_code)

        threads = [threading.Thread(target=create, args=(f"race-{uuid.uuid4().hex[:8]}",)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [201, 409]
        with contacts.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(contacts_table)
                                .where(contacts_table.c.email == email)).scalar_one() == 1


def test_the_migration_refuses_existing_duplicates_and_lists_them():
    url = fresh_database("contacts_dupes")
    try:
        migrate(DEFINITION.migrations_dir, url, "0005")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO contacts (id, email, phone) VALUES "
                              "('a1', 'dup@example.com', '+4930111'), ('a2', 'dup@example.com', NULL), "
                              "('a3', NULL, '+4930111'), ('a4', 'solo@example.com', NULL)"))
        engine.dispose()
        with pytest.raises(RuntimeError) as refused:
            migrate(DEFINITION.migrations_dir, url)
        message = str(refused.value)
        assert "email dup@example.com: contacts a1, a2" in message
        assert "phone +4930111: contacts a1, a3" in message and "solo@example.com" not in message
    finally:
        drop_database(url)


def test_merge_through_the_api_folds_the_duplicate_and_routes_later_traffic_to_the_survivor(contacts, probe):
    seen = probe("contact.merged")
    tag = uuid.uuid4().hex[:8]
    survivor = contacts.post("/contacts", role="ingest", json={"external_id": f"crm-{tag}", "email": _email(),
                                                               "attributes": {"tier": "gold"}}).json
    duplicate = contacts.post("/contacts", role="ingest", json={"external_id": f"web-{tag}", "email": _email(),
                                                                "attributes": {"tier": "silver", "city": "Bonn"}}).json
    assert contacts.put(f"/contacts/{duplicate['id']}/consent/email", role="marketer",
                        json={"status": "denied", "source": "agent"}).status_code == 200
    path = f"/contacts/{survivor['id']}/merge"
    assert contacts.post(path, role="agent", json={"duplicate_id": duplicate["id"]}).status_code == 403
    merged = contacts.post(path, role="marketer", json={"duplicate_id": duplicate["id"]})
    assert merged.status_code == 200, merged.json
    assert merged.json["merged"] is True and merged.json["contact"]["attributes"] == {"tier": "gold", "city": "Bonn"}
    again = contacts.post(path, role="marketer", json={"duplicate_id": duplicate["id"]})
    assert again.status_code == 200 and again.json["merged"] is False

    tomb = contacts.get(f"/contacts/{duplicate['id']}", role="agent").json
    assert tomb["merged_into"] == survivor["id"]
    assert contacts.get(f"/contacts/{survivor['id']}/consent", role="agent").json["current"][0]["status"] == "denied"
    assert contacts.patch(f"/contacts/{duplicate['id']}", role="marketer", json={"first_name": "X"}).status_code == 409
    refused = contacts.post(f"/contacts/{duplicate['id']}/merge", role="marketer", json={"duplicate_id": survivor["id"]})
    assert refused.status_code == 409
    assert contacts.post(path, role="marketer", json={"duplicate_id": survivor["id"]}).status_code == 422
    assert contacts.post(path, role="marketer", json={}).status_code == 422

    # an event and an import row addressed to the duplicate land on the survivor
    events = contacts.post("/events", role="ingest", json={"event_id": f"ev-{tag}", "external_id": f"web-{tag}",
                                                           "type": "login", "occurred_at": "2026-12-01T10:00:00Z"})
    assert events.json["results"][0]["contact_id"] == survivor["id"], events.json
    job = contacts.post("/imports", role="ingest", data=f"external_id,last_name\nweb-{tag},Imported\n".encode(),
                        content_type="text/csv").json
    wait_for(lambda: contacts.get(f"/imports/{job['id']}", role="ingest").json["status"] == "done",
             message="the import")
    assert contacts.get(f"/contacts/{survivor['id']}", role="agent").json["last_name"] == "Imported"
    message = wait_for(lambda: seen.drain(), message="contact.merged")[0]
    assert message["payload"]["contact_id"] == survivor["id"] and message["payload"]["duplicate_id"] == duplicate["id"]
