"""One person, one profile: live contacts are unique by email and by phone, in the database."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select, text

from services.contacts.handlers.imports import get_job, queue_job, rejections_page
from services.contacts.importer import ImportRunner
from services.contacts.repository import contacts as contacts_table
from services.contacts.repository.imports import ImportJobs
from services.contacts.service import DEFINITION
from services.contacts.unit_of_work import ContactsUnitOfWorkFactory
from shared.config import Settings
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


@pytest.fixture(scope="module")
def import_database():
    """A contacts database of its own with no worker: the test's two import runners are the only ones."""
    url = fresh_database("contacts_import_race", DEFINITION.migrations_dir)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()
    drop_database(url)


def _race_imports(url: str, engine, tmp_path, files: list[str], monkeypatch, split: bool = False) -> list[dict]:
    """Run one import per file in two runners at once, each chunk's first lookup held at a barrier
    until the other's has been made too, so both plan before either inserts; the jobs as reported.

    `split` writes each chunk's first upsert as two statements, its first row, then (once both chunks
    have written theirs) the rest: the interleaving one INSERT of many rows may meet under load."""
    settings = Settings(service="contacts", database_url=url, extra={"import_processes": "1"})
    uows = ContactsUnitOfWorkFactory(engine, "contacts")
    jobs = []
    for n, content in enumerate(files):
        path = tmp_path / f"race-{n}-{uuid.uuid4().hex[:12]}.csv"  # the stem is the job id
        path.write_text(content)
        with uows() as uow:
            jobs.append(queue_job(uow, path, path.stat().st_size, "csv", None)["id"])
    runners = [ImportRunner(settings, engine) for _ in files]
    claimed = [runner.claim() for runner in runners]
    assert sorted(job.id for job in claimed) == sorted(jobs)

    both_looked = threading.Barrier(len(files), timeout=30)
    looked = threading.local()
    lookup = ImportJobs.known_contacts

    def held_lookup(self, *args, **kwargs):
        rows = lookup(self, *args, **kwargs)
        if not getattr(looked, "once", False):  # only the first attempt: the retry must see the winner
            looked.once = True
            both_looked.wait()
        return rows

    monkeypatch.setattr(ImportJobs, "known_contacts", held_lookup)
    both_wrote, upsert = threading.Barrier(len(files), timeout=30), ImportJobs.upsert_contacts

    def split_upsert(self, upserts, stamp):
        if getattr(looked, "split", False):
            return upsert(self, upserts, stamp)
        looked.split = True
        head, *tail = upserts
        rows = list(upsert(self, {head: upserts[head]}, stamp))
        both_wrote.wait()
        return rows + list(upsert(self, {key: upserts[key] for key in tail}, stamp))

    if split:
        monkeypatch.setattr(ImportJobs, "upsert_contacts", split_upsert)
    threads = [threading.Thread(target=runner.process, args=(job,)) for runner, job in zip(runners, claimed, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    with uows() as uow:
        return [get_job(uow, job_id) for job_id in jobs]


def _live(engine, email: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(contacts_table).where(
            contacts_table.c.email == email, contacts_table.c.merged_into.is_(None),
            contacts_table.c.erased_at.is_(None))).scalar_one()


def test_two_concurrent_imports_of_the_same_new_email_make_one_contact_the_loser_updates_it(
        import_database, tmp_path, monkeypatch):
    """Both chunks look up before either inserts; the unique index fails the loser's chunk, whose one
    retry sees the winner and updates it (docs/contacts.md "One profile per person")."""
    url, engine = import_database
    email = _email()
    jobs = _race_imports(url, engine, tmp_path, [f"email,first_name\n{email},Ann\n",
                                                 f"email,last_name\n{email},Lee\n"], monkeypatch)
    assert [job["status"] for job in jobs] == ["done", "done"], jobs
    assert sorted((job["created"], job["updated"], job["rejected"]) for job in jobs) == [(0, 1, 0), (1, 0, 0)]
    assert _live(engine, email) == 1
    with engine.connect() as conn:
        row = conn.execute(select(contacts_table).where(contacts_table.c.email == email)).one()
    assert (row.first_name, row.last_name) == ("Ann", "Lee")  # both rows landed on the one profile


def test_two_concurrent_imports_of_one_email_for_two_external_ids_report_the_conflict(
        import_database, tmp_path, monkeypatch):
    """Two people (two external ids) claiming one new address: one gets it, the other's row is
    rejected naming the holder; both jobs finish."""
    url, engine = import_database
    email, tag = _email(), uuid.uuid4().hex[:8]
    jobs = _race_imports(url, engine, tmp_path, [f"external_id,email\nA-{tag},{email}\n",
                                                 f"external_id,email\nB-{tag},{email}\n"], monkeypatch)
    assert [job["status"] for job in jobs] == ["done", "done"], jobs
    assert sorted((job["created"], job["updated"], job["rejected"]) for job in jobs) == [(0, 0, 1), (1, 0, 0)]
    assert _live(engine, email) == 1
    with engine.connect() as conn:
        holder = conn.execute(select(contacts_table.c.id).where(contacts_table.c.email == email)).scalar_one()
    loser = next(job for job in jobs if job["rejected"])
    with ContactsUnitOfWorkFactory(engine, "contacts")() as uow:
        [rejection] = rejections_page(uow, loser["id"], 10, None)["items"]
    assert rejection["row"] == 1 and rejection["reason"].startswith(f"email: already used by contact {holder}")


def test_two_concurrent_imports_of_two_new_emails_in_opposite_orders_both_finish(
        import_database, tmp_path, monkeypatch):
    """Each chunk inserts first the address the other inserts second: they wait on each other's index
    entries, PostgreSQL aborts one (deadlock), whose chunk must be retried, not leave the job stuck
    `running` until another worker takes it over two minutes later."""
    url, engine = import_database
    first, second = _email(), _email()
    jobs = _race_imports(url, engine, tmp_path, [f"email\n{first}\n{second}\n", f"email\n{second}\n{first}\n"],
                         monkeypatch, split=True)
    assert [job["status"] for job in jobs] == ["done", "done"], jobs
    assert sum(job["created"] for job in jobs) == 2 and sum(job["updated"] for job in jobs) == 2
    assert _live(engine, first) == 1 and _live(engine, second) == 1
