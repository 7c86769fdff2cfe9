"""Bulk import through the API and the worker's import runner: dedup, rejections, report, outbox."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from tests.support import wait_for

pytestmark = pytest.mark.integration


def _wait_done(contacts, job_id: str) -> dict:
    def finished():
        job = contacts.get(f"/imports/{job_id}", role="ingest").json
        return job if job["status"] in ("done", "failed") else None

    return wait_for(finished, timeout=30, message=f"import {job_id}")


def test_csv_with_duplicates_and_bad_rows_gives_the_right_report(contacts, probe):
    tag = uuid.uuid4().hex[:8]
    existing = contacts.post("/contacts", role="ingest", json={"email": f"old-{tag}@example.com",
                                                               "attributes": {"keep": "yes"}}).json
    seen = probe("contact.upserted")
    csv_text = "\n".join([
        "external_id,email,phone,first_name,time_zone,tier",
        f"A-{tag},a-{tag}@example.com,+442079460001,Ann,Europe/London,gold",        # 1 created
        f"B-{tag},b-{tag}@example.com,,Bob,,silver",                                 # 2 created
        f"A-{tag},,,Annie,,platinum",                                                # 3 duplicate of 1 by external_id
        f",b-{tag}@EXAMPLE.COM,,,,",                                                 # 4 duplicate of 2 by email
        f"C-{tag},not-an-email,,Carl,,",                                             # 5 rejected: email
        f"D-{tag},,,Dora,Mars/Olympus,",                                             # 6 rejected: time zone
        ",,,Nobody,,",                                                               # 7 rejected: no key
        f",old-{tag}@example.com,,Olga,,bronze",                                     # 8 updates the API contact
        f"E-{tag},,+442079460001,Eve,,",                                             # 9 rejected: A's phone
        "",
        f"F-{tag},f-{tag}@example.com,12345,,,",                                     # 10 rejected: phone not intl
    ]) + "\n"
    response = contacts.post("/imports", role="ingest", data=csv_text.encode(), content_type="text/csv")
    assert response.status_code == 202, response.json
    job = _wait_done(contacts, response.json["id"])
    assert job["status"] == "done", job
    assert (job["rows_processed"], job["created"], job["updated"], job["rejected"]) == (10, 2, 3, 5)
    first = contacts.get(f"/imports/{job['id']}/rejections", role="marketer", query_string={"limit": 3}).json
    second = contacts.get(f"/imports/{job['id']}/rejections", role="marketer",
                          query_string={"limit": 3, "cursor": first["next_cursor"]}).json
    assert second["next_cursor"] is None
    reasons = {r["row"]: r["reason"] for r in first["items"] + second["items"]}
    assert sorted(reasons) == [5, 6, 7, 9, 10]
    assert reasons[5].startswith("email:") and reasons[6].startswith("time_zone:")
    assert "external_id, email, phone" in reasons[7] and reasons[10].startswith("phone:")
    assert reasons[9].startswith("phone: already used by contact ") and f"(external_id A-{tag})" in reasons[9]

    a = contacts.get("/contacts", role="marketer", query_string={"external_id": f"A-{tag}"}).json["items"]
    assert len(a) == 1 and a[0]["first_name"] == "Annie" and a[0]["attributes"] == {"tier": "platinum"}
    assert a[0]["phone"] == "+442079460001" and a[0]["time_zone"] == "Europe/London"
    b = contacts.get("/contacts", role="marketer", query_string={"email": f"b-{tag}@example.com"}).json["items"]
    assert len(b) == 1 and b[0]["external_id"] == f"B-{tag}"
    old = contacts.get(f"/contacts/{existing['id']}", role="marketer").json
    assert old["first_name"] == "Olga" and old["attributes"] == {"keep": "yes", "tier": "bronze"}
    in_file = contacts.get("/contacts", role="marketer",
                           query_string={"where": f"tier in ['gold','silver','platinum','bronze'] "
                                                  f"or external_id == 'E-{tag}'", "limit": 500}).json["items"]
    assert len([c for c in in_file if tag in (c["external_id"] or "") + (c["email"] or "")]) == 3
    # Three contacts were created or changed: each is announced (A and B twice in one chunk: once).
    wait_for(lambda: len({m["payload"]["contact_id"] for m in seen.drain()}) >= 3, message="upserted events")
    assert existing["id"] in {m["payload"]["contact_id"] for m in seen.drain()}


def test_json_lines_import_with_multipart_upload(contacts):
    tag = uuid.uuid4().hex[:8]
    lines = [
        {"external_id": f"J1-{tag}", "email": f"j1-{tag}@example.com", "attributes": {"tier": "gold"}},
        {"external_id": f"J1-{tag}", "locale": "de-de"},
        {"external_id": f"J2-{tag}", "surprise": 1},
        "not json",
        {"external_id": f"J3-{tag}", "phone": "030 12345678"},
    ]
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode()
    response = contacts.post("/imports", role="marketer", query_string={"phone_region": "de"},
                             data={"file": (io.BytesIO(body), "people.jsonl")}, content_type="multipart/form-data")
    assert response.status_code == 202, response.json
    job = _wait_done(contacts, response.json["id"])
    assert (job["status"], job["created"], job["updated"], job["rejected"]) == ("done", 2, 1, 2)
    reasons = contacts.get(f"/imports/{job['id']}/rejections", role="ingest").json["items"]
    assert [r["row"] for r in reasons] == [3, 4] and "surprise" in reasons[0]["reason"]
    j3 = contacts.get("/contacts", role="marketer", query_string={"external_id": f"J3-{tag}"}).json["items"][0]
    assert j3["phone"] == "+493012345678"


def test_a_file_without_a_usable_header_fails_the_job(contacts):
    response = contacts.post("/imports", role="ingest", query_string={"format": "csv"},
                             data=b"name;mail\nx;y\n", content_type="application/octet-stream")
    job = _wait_done(contacts, response.json["id"])
    assert job["status"] == "failed" and "column" in job["error"]
