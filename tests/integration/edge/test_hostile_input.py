"""Hostile and careless input at the shared HTTP edge of all four services: a 4xx problem, never a 5xx."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.http.guard import MAX_TARGET_BYTES

pytestmark = pytest.mark.integration

# Per service, an endpoint of its own that takes a JSON body: (method, path, role, a string field, a valid body).
BODY_ENDPOINTS = {
    "contacts": ("POST", "/contacts", "ingest", "external_id", {"external_id": "x"}),
    "campaigns": ("POST", "/campaigns", "marketer", "name", {"name": "x"}),
    "channels": ("POST", "/dry-run", "marketer", "contact_id",
                 {"contact_id": "c-1", "channel": "email", "category": "marketing"}),
    "scheduler": ("POST", "/owners/o-1/pause", "operator", "reason", {"reason": "x"}),
}
# Per service, a listing that takes a string query parameter: (path, role, parameter).
QUERY_ENDPOINTS = {
    "contacts": ("/contacts", "marketer", "external_id"),
    "campaigns": ("/campaigns", "marketer", "after"),
    "channels": ("/decisions", "marketer", "contact_id"),
    "scheduler": ("/entries", "operator", "owner"),
}
# Per service, a path with a string id: (method, path template, role).
ID_PATHS = {
    "contacts": ("GET", "/contacts/{}", "marketer"),
    "campaigns": ("GET", "/campaigns/{}", "marketer"),
    "channels": ("GET", "/contacts/{}/offers", "agent"),
    "scheduler": ("POST", "/schedules/{}/trigger", "operator"),
}


def problem(response, status: int) -> dict:
    """Assert an RFC 9457 problem body with `status`; return it."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


def send_raw(service, data: bytes | str, content_type: str = "application/json"):
    """Send a raw body to the service's own JSON endpoint with a key of the right role."""
    method, path, role, _, _ = BODY_ENDPOINTS[service.definition.name]
    return service.request(method, path, role=role, data=data, content_type=content_type)


@pytest.mark.parametrize("depth", [33, 100_000])
def test_deep_nesting_is_a_400_saying_where(service, depth):
    _, _, _, field, _ = BODY_ENDPOINTS[service.definition.name]
    body = f'{{"{field}": {"[" * depth}"x"{"]" * depth}}}'
    found = problem(send_raw(service, body), 400)
    assert "nested deeper than 32 levels at character" in found["detail"]


def test_nesting_within_the_limit_is_read(service):
    _, _, _, field, _ = BODY_ENDPOINTS[service.definition.name]
    body = f'{{"{field}": {"[" * 31}"x"{"]" * 31}}}'
    answer = send_raw(service, body)
    assert answer.status_code == 422, answer.get_json()  # read, then refused by the schema: not a list
    assert field in answer.get_json()["errors"]


@pytest.mark.parametrize(("raw", "needle"), [
    (b'{"a": ', "invalid JSON"),
    (b"", "empty"),
    (b'{"a": "\xff\xfe"}', "not valid UTF-8"),
    (b'{"a": NaN}', "NaN"),
    (b'{"a": -Infinity}', "Infinity"),
    (b'{"a": "\x00"}', "invalid JSON"),  # a raw control character inside a string is not JSON
    (b'{"a": 1' + b"0" * 5000 + b"}", "invalid JSON"),
])
def test_unreadable_json_is_a_400(service, raw, needle):
    assert needle in problem(send_raw(service, raw), 400)["detail"]


@pytest.mark.parametrize(("value", "reason"), [
    ("a\u0000b", "U+0000"), ("tab\tok\u0007bell", "U+0007"), ("\u001b[31m", "U+001B"), ("x\ud800y", "surrogate"),
])
def test_control_characters_and_lone_surrogates_are_a_422_naming_the_field(service, value, reason):
    _, _, _, field, valid = BODY_ENDPOINTS[service.definition.name]
    found = problem(send_raw(service, json.dumps({**valid, field: value})), 422)
    assert reason in found["errors"][field][0]


def test_a_control_character_in_a_field_name_is_named(service):
    _, _, _, _, valid = BODY_ENDPOINTS[service.definition.name]
    found = problem(send_raw(service, json.dumps({**valid, "bad\u0000key": 1})), 422)
    assert found["errors"] == {"bad\\x00key": ["field name contains a control character (U+0000 at position 3)"]}


@pytest.mark.parametrize("number", ["9223372036854775808", "-9223372036854775809", "1" * 40, "1e400"])
def test_numbers_beyond_64_bits_are_a_422_naming_the_field(service, number):
    _, _, _, _, valid = BODY_ENDPOINTS[service.definition.name]
    raw = json.dumps(valid)[:-1] + f', "amount": {number}}}'
    found = problem(send_raw(service, raw), 422)
    assert "amount" in found["errors"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_of_another_media_type_is_a_415(service, content_type):
    _, _, _, _, valid = BODY_ENDPOINTS[service.definition.name]
    answer = send_raw(service, json.dumps(valid), content_type)
    found = problem(answer, 415)
    assert "application/json" in found["detail"] and answer.headers["Accept-Post"] == "application/json"


def test_json_with_a_json_suffix_media_type_is_read(service):
    _, _, _, field, _ = BODY_ENDPOINTS[service.definition.name]
    answer = send_raw(service, json.dumps({field: 5}), "application/merge-patch+json")
    assert answer.status_code == 422 and field in answer.get_json()["errors"]  # read, then refused by the schema


def test_the_shared_key_endpoint_is_guarded_too(service):
    answer = service.post("/api-keys", data='{"name": "n", "role": "agent"}', content_type="text/plain")
    problem(answer, 415)
    found = problem(service.post("/api-keys", json={"name": "a\u0000", "role": "agent"}), 422)
    assert "name" in found["errors"]


@pytest.mark.parametrize(("raw_value", "reason"), [("a%00b", "U+0000"), ("%1B", "U+001B"), ("%ff%fe", "UTF-8"),
                                                   ("%ED%A0%80", "UTF-8")])
def test_bad_query_parameters_are_a_422_naming_the_parameter(service, raw_value, reason):
    path, role, parameter = QUERY_ENDPOINTS[service.definition.name]
    found = problem(service.get(f"{path}?{parameter}={raw_value}", role=role), 422)
    assert reason in found["errors"][parameter][0]


@pytest.mark.parametrize("segment", ["%00", "a%07b", "%ff"])
def test_a_path_with_control_characters_or_bad_utf8_is_a_404(service, segment):
    method, template, role = ID_PATHS[service.definition.name]
    problem(service.request(method, template.format(segment), role=role), 404)


def test_a_control_character_in_the_key_header_is_a_401(service):
    problem(service.get("/api-keys", role=None, headers={"X-API-Key": "tp_\x00_x"}), 401)


def test_an_overlong_request_target_is_a_414_problem(service):
    path, role, parameter = QUERY_ENDPOINTS[service.definition.name]
    found = problem(service.get(f"{path}?{parameter}={'a' * MAX_TARGET_BYTES}", role=role), 414)
    assert str(MAX_TARGET_BYTES) in found["detail"]


@pytest.mark.parametrize(("method", "path"), [("POST", "/tasks/{}/claim"), ("POST", "/tasks/{}/complete"),
                                              ("POST", "/offers/{}/accept"), ("POST", "/offers/{}/dismiss")])
@pytest.mark.parametrize("number", ["9223372036854775808", "1" * 60])
def test_path_ids_beyond_64_bits_are_a_404(edge_services, method, path, number):
    answer = edge_services["channels"].request(method, path.format(number), role="agent", json={"outcome": "done"})
    problem(answer, 404)


def test_the_largest_64_bit_path_id_reaches_the_view(edge_services):
    answer = edge_services["channels"].post(f"/offers/{2**63 - 1}/accept", role="agent")
    assert f"offer {2**63 - 1} is not active" in problem(answer, 409)["detail"]


def long_filter(length: int = 4000) -> str:
    """A valid filter of exactly `length` characters (the documented maximum by default)."""
    clauses = ["tier == 'gold'"]
    while len(" or ".join(clauses)) + len(" or country in ['NL', 'DE']") <= length:
        clauses.append("country in ['NL', 'DE']")
    text = " or ".join(clauses)
    return text + " " * (length - len(text))


def test_a_where_filter_of_4000_characters_is_answered(edge_services):
    where = long_filter()
    assert len(where) == 4000
    answer = edge_services["contacts"].get("/contacts", role="marketer", query_string={"where": where})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]


class TestEventBatch:
    """POST /events rejects a hostile item with its index and reason; the rest of the batch goes in."""

    def test_items_are_rejected_one_by_one(self, edge_services):
        contacts = edge_services["contacts"]
        cid = contacts.post("/contacts", role="ingest", json={"external_id": f"h-{uuid.uuid4().hex[:8]}"}).json["id"]
        base = {"contact_id": cid, "type": "clicked", "occurred_at": "2024-01-01T00:00:00Z"}
        items = [{**base, "event_id": f"ok-{uuid.uuid4().hex}"},
                 {**base, "event_id": f"nul-{uuid.uuid4().hex}", "data": {"note": "a\u0000b"}},
                 {**base, "event_id": "id\u0000", "data": {}},
                 {**base, "event_id": f"big-{uuid.uuid4().hex}", "data": {"amount": 2**64}},
                 {**base, "event_id": f"sur-{uuid.uuid4().hex}", "data": {"k\ud800": 1}}]
        answer = contacts.post("/events", role="ingest", data=json.dumps(items), content_type="application/json")
        assert answer.status_code == 202, answer.get_json()
        results = answer.get_json()["results"]
        assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "rejected", "rejected"]
        assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
        assert "U+0000" in results[1]["reason"]["data.note"][0] and results[1]["event_id"] == items[1]["event_id"]
        assert "event_id" in results[2]["reason"] and results[2]["event_id"] is None
        assert "64 bits" in results[3]["reason"]["data.amount"][0]
        assert "surrogate" in results[4]["reason"]["data.k\\ud800"][0]

    def test_an_unreadable_batch_is_refused_whole(self, edge_services):
        contacts = edge_services["contacts"]
        problem(contacts.post("/events", role="ingest", data="[" * 50 + "]" * 50, content_type="application/json"),
                400)
        problem(contacts.post("/events", role="ingest", data="[]", content_type="text/plain"), 415)
