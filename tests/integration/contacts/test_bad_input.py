"""Malformed input at every endpoint: always a 4xx problem body naming the problem, never a 500."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ids(contacts):
    """A live contact and a segment to aim the requests at."""
    cid = contacts.post("/contacts", role="ingest", json={"external_id": f"bad-{uuid.uuid4().hex[:8]}"}).json["id"]
    sid = contacts.post("/segments", role="marketer",
                        json={"name": f"seg-{uuid.uuid4().hex[:8]}", "definition": "tier == 'gold'"}).json["id"]
    return {"cid": cid, "sid": sid}


# (method, path, kwargs, expected status, a word the problem body must contain)
CASES = [
    ("POST", "/contacts", {"data": "{not json", "content_type": "application/json"}, 400, "JSON"),
    ("POST", "/contacts", {"json": {"surprise": 1}}, 422, "surprise"),
    ("POST", "/contacts", {"json": {"email": 5}}, 422, "email"),
    ("POST", "/contacts", {"json": {"email": "no-at-sign"}}, 422, "email"),
    ("POST", "/contacts", {"json": {"phone": "12345"}}, 422, "phone"),
    ("POST", "/contacts", {"json": {"phone": "+44 12"}}, 422, "phone"),
    ("POST", "/contacts", {"json": {"phone": "020 7946 0018", "phone_region": "ZZ"}}, 422, "phone_region"),
    ("POST", "/contacts", {"json": {"time_zone": "Mars/Olympus"}}, 422, "time_zone"),
    ("POST", "/contacts", {"json": {"time_zone": "../../etc/passwd"}}, 422, "time_zone"),
    ("POST", "/contacts", {"json": {"locale": "english please"}}, 422, "locale"),
    ("POST", "/contacts", {"json": {"attributes": [1, 2]}}, 422, "attributes"),
    ("POST", "/contacts", {"json": {"attributes": {"email": "x"}}}, 422, "attributes"),
    ("POST", "/contacts", {"json": {"attributes": {"bad key": 1}}}, 422, "attributes"),
    ("POST", "/contacts", {"json": {"attributes": {"a": {"b": {"c": {"d": {"e": 1}}}}}}}, 422, "attributes"),
    ("POST", "/contacts", {"json": {"attributes": {f"k{i}": i for i in range(101)}}}, 422, "attributes"),
    ("POST", "/contacts", {"json": {"external_id": "x" * 129}}, 422, "external_id"),
    ("POST", "/contacts", {"json": [1, 2]}, 422, "Validation"),
    ("POST", "/contacts", {"data": "a=b", "content_type": "application/x-www-form-urlencoded"}, 4, ""),
    ("POST", "/contacts", {"json": {"first_name": "x" * 2_000_000}}, 413, "Too Large"),
    ("GET", "/contacts", {"query_string": {"limit": 501}}, 422, "limit"),
    ("GET", "/contacts", {"query_string": {"limit": "many"}}, 422, "limit"),
    ("GET", "/contacts", {"query_string": {"cursor": "garbage!"}}, 400, "cursor"),
    ("GET", "/contacts", {"query_string": {"cursor": "eyJ4IjoxfQ"}}, 400, "cursor"),
    ("GET", "/contacts", {"query_string": {"where": "tier = 'gold'"}}, 422, "position 5"),
    ("GET", "/contacts", {"query_string": {"where": "event.amount > 5"}}, 422, "where"),
    ("GET", "/contacts", {"query_string": {"where": "(" * 100 + "a == 1"}}, 422, "where"),
    ("GET", "/contacts", {"query_string": {"email": "nope"}}, 422, "email"),
    ("GET", "/contacts", {"query_string": {"unknown": "1"}}, 422, "unknown"),
    ("GET", "/contacts/not-a-uuid", {}, 404, "not-a-uuid"),
    ("GET", "/contacts/" + "x" * 300, {}, 404, "Not Found"),
    ("PATCH", "/contacts/{cid}", {"json": {"time_zone": "Nowhere/City"}}, 422, "time_zone"),
    ("PATCH", "/contacts/{cid}", {"json": {"id": "mine"}}, 422, "id"),
    ("PUT", "/contacts/{cid}/consent/email", {"json": {"status": "maybe"}}, 422, "status"),
    ("PUT", "/contacts/{cid}/consent/email", {"json": {}}, 422, "status"),
    ("PUT", "/contacts/{cid}/consent/E-Mail", {"json": {"status": "granted"}}, 422, "channel"),
    ("POST", "/contacts/{cid}/suppressions", {"json": {"scope": "global", "value": "x", "reason": "legal"}}, 422,
     "value"),
    ("POST", "/contacts/{cid}/suppressions", {"json": {"scope": "channel", "reason": "stop"}}, 422, "value"),
    ("POST", "/contacts/{cid}/suppressions", {"json": {"scope": "global", "reason": "because"}}, 422, "reason"),
    ("POST", "/contacts/{cid}/suppressions",
     {"json": {"scope": "global", "reason": "legal", "expires_at": "2030-01-01T00:00:00"}}, 422, "expires_at"),
    ("POST", "/contacts/{cid}/suppressions",
     {"json": {"scope": "global", "reason": "legal", "expires_at": "2001-01-01T00:00:00Z"}}, 422, "expires_at"),
    ("DELETE", "/contacts/{cid}/suppressions/nope", {}, 404, "nope"),
    ("GET", "/contacts/{cid}/timeline", {"query_string": {"cursor": "eyJhdCI6IngiLCJpZCI6MX0"}}, 400, "cursor"),
    ("POST", "/events", {"data": "[{", "content_type": "application/json"}, 400, "JSON"),
    ("POST", "/events", {"json": "text"}, 422, "object or list"),
    ("POST", "/events", {"json": []}, 422, "1 to 1000"),
    ("POST", "/events", {"data": "x", "content_type": "text/plain"}, 415, "Unsupported"),
    ("POST", "/segments", {"json": {"name": "x", "definition": "did('x', within='1y')"}}, 422, "position"),
    ("POST", "/segments", {"json": {"name": "x", "definition": "tier == "}}, 422, "definition"),
    ("POST", "/segments", {"json": {"name": "x"}}, 422, "definition"),
    ("POST", "/segments", {"json": {"name": "", "definition": "a == 1"}}, 422, "name"),
    ("GET", "/segments/{sid}/members", {"query_string": {"limit": 0}}, 422, "limit"),
    ("GET", "/segments/nope/count", {}, 404, "nope"),
    ("POST", "/imports", {"data": b"a,b\n", "content_type": "application/octet-stream"}, 422, "format"),
    ("POST", "/imports", {"query_string": {"format": "xls"}, "data": b"x"}, 422, "format"),
    ("POST", "/imports", {"query_string": {"format": "csv", "phone_region": "QQ"}, "data": b"x"}, 422,
     "phone_region"),
    ("POST", "/imports", {"data": {}, "content_type": "multipart/form-data"}, 422, "file"),
    ("GET", "/imports/nope", {}, 404, "nope"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "word"), CASES,
                         ids=[f"{c[0]} {c[1][:30]} {c[3]}" for c in CASES])
def test_malformed_input_is_a_4xx_problem(contacts, ids, method, path, kwargs, status, word):
    response = contacts.request(method, path.format(**ids), role="operator", **kwargs)
    if status == 4:
        assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:500]
    else:
        assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    assert word in response.get_data(as_text=True)


def test_event_items_are_rejected_one_by_one(contacts, ids):
    items = [5, {"event_id": "x", "contact_id": ids["cid"], "type": "ok", "occurred_at": "yesterday"},
             {"event_id": "y", "type": "ok", "occurred_at": "2024-01-01T00:00:00Z"},
             {"event_id": "z", "contact_id": ids["cid"], "type": "ok", "occurred_at": "2024-01-01T00:00:00Z",
              "data": [1], "more": True}]
    response = contacts.post("/events", role="ingest", json=items)
    assert response.status_code == 202
    reasons = [r["reason"] for r in response.json["results"]]
    assert [r["status"] for r in response.json["results"]] == ["rejected"] * 4
    assert "_schema" in reasons[0] and "occurred_at" in reasons[1] and "contact_id" in reasons[2]
    assert set(reasons[3]) == {"data", "more"}
    too_many = [{"event_id": str(i), "contact_id": ids["cid"], "type": "t", "occurred_at": "2024-01-01T00:00:00Z"}
                for i in range(1001)]
    assert contacts.post("/events", role="ingest", json=too_many).status_code in (413, 422)


def test_no_key_and_wrong_role(contacts, ids):
    assert contacts.get("/contacts", role=None).status_code == 401
    assert contacts.post("/contacts", role="agent", json={}).status_code == 403
    assert contacts.post("/imports", role="agent", data=b"x").status_code == 403
    assert contacts.post(f"/contacts/{ids['cid']}/erase", role="ingest").status_code == 403
