"""GET /tasks: keyset paging through X-Next-Cursor, and the contact / campaign / mine filters."""

from __future__ import annotations

import pytest

from services.channels.adapters.base import AdapterContext, Recipient, RenderedMessage
from services.channels.adapters.internal import CallCenterAdapter
from services.channels.service import build_definition
from tests.support import ServiceHarness, unique_namespace

pytestmark = pytest.mark.integration


@pytest.fixture
def api(auth_database_url, api_keys, amqp_url):
    harness = ServiceHarness(build_definition(), unique_namespace("tpchtask"), auth_database_url, api_keys,
                             amqp_url=amqp_url, database_name="channels_tasks")
    yield harness
    harness.close()


def _task(adapter: CallCenterAdapter, request_id: str, contact_id: str, campaign_id: str, priority: int) -> None:
    message = RenderedMessage(request_id, contact_id, "call", "service", {"script": "call"},
                              Recipient(phone="+15550001", first_name="Al"), campaign_id=campaign_id,
                              priority=priority)
    assert adapter.send(message).status == "sent"


def test_pages_follow_the_cursor_in_priority_order_without_gaps_or_repeats(api):
    adapter = CallCenterAdapter("call", {}, AdapterContext(api.settings, api.engine))
    for index in range(7):
        _task(adapter, f"r{index}", f"c{index % 2}", "camp-a" if index < 4 else "camp-b", priority=index % 3)
    seen, cursor, pages = [], None, 0
    while True:
        answer = api.get("/tasks", role="agent", query_string={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200
        seen.extend(answer.get_json())
        pages += 1
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        assert 'rel="next"' in answer.headers["Link"]
    assert pages == 3 and len(seen) == 7 and len({t["id"] for t in seen}) == 7
    assert [t["priority"] for t in seen] == sorted((t["priority"] for t in seen), reverse=True)

    by_contact = api.get("/tasks", role="agent", query_string={"contact_id": "c1"}).get_json()
    assert {t["request_id"] for t in by_contact} == {"r1", "r3", "r5"}
    by_campaign = api.get("/tasks", role="agent", query_string={"campaign_id": "camp-b"}).get_json()
    assert {t["request_id"] for t in by_campaign} == {"r4", "r5", "r6"}


def test_mine_lists_only_the_tasks_the_callers_key_claimed(api):
    adapter = CallCenterAdapter("call", {}, AdapterContext(api.settings, api.engine))
    for index in range(3):
        _task(adapter, f"m{index}", "c", "camp", priority=1)
    ids = [t["id"] for t in api.get("/tasks", role="agent").get_json()]
    assert api.post(f"/tasks/{ids[0]}/claim", role="agent").status_code == 200
    assert api.post(f"/tasks/{ids[1]}/claim", role="operator").status_code == 200
    mine = api.get("/tasks", role="agent", query_string={"status": "claimed", "mine": "true"}).get_json()
    assert [t["id"] for t in mine] == [ids[0]]
    assert [t["id"] for t in api.get("/tasks", role="agent").get_json()] == [ids[2]]  # claimed ones are not offered


@pytest.mark.parametrize("query", [{"cursor": "not-a-cursor"}, {"mine": "perhaps"}, {"contact_id": ""},
                                   {"cursor": "bm9wZQ=="}])
def test_bad_paging_input_is_a_problem_naming_the_field(api, query):
    answer = api.get("/tasks", role="agent", query_string=query)
    assert answer.status_code in (400, 422)
    assert answer.content_type.startswith("application/problem+json")
    assert next(iter(query)) in answer.get_json()["errors"]
