"""The channels HTTP API on the real database: roles, validation, policy, dry run, tasks, offers, webhooks."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text, update

from services.channels.adapters.base import AdapterContext, Recipient, RenderedMessage
from services.channels.adapters.internal import CallCenterAdapter, WebOffersAdapter
from services.channels.handlers.call_center import expire_tasks
from services.channels.repository import TABLES, call_tasks, contact_policy, deliveries, suppressions
from services.channels.service import build_definition
from services.channels.signing import SIGNATURE_HEADER, sign
from services.channels.unit_of_work import ChannelsUnitOfWorkFactory
from shared.http.auth import endpoints_without_roles
from tests.support import ServiceHarness, unique_namespace

pytestmark = pytest.mark.integration
SECRET = "test-webhook-secret"  # ServiceHarness's webhook secret


@pytest.fixture
def api(auth_database_url, api_keys, amqp_url):
    harness = ServiceHarness(build_definition(), unique_namespace("tpchapi"), auth_database_url, api_keys,
                             amqp_url=amqp_url, database_name="channels_api")
    yield harness
    harness.close()


def _outbox(harness, message_type: str) -> list[dict]:
    with harness.engine.connect() as conn:
        rows = conn.execute(select(TABLES.outbox.c.body).where(TABLES.outbox.c.message_type == message_type))
        return [json.loads(bytes(r.body))["payload"] for r in rows]


def _signed(harness, path: str, body: object, secret: str = SECRET, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    return harness.post(path, role=None, data=data, headers={SIGNATURE_HEADER: sign(secret, data),
                                                              "Content-Type": "application/json"})


def _message(request_id: str, contact_id: str, priority: int = 0) -> RenderedMessage:
    return RenderedMessage(request_id, contact_id, "call", "marketing", {"script": "offer"},
                           Recipient(phone="+15550001", first_name="Al"), campaign_id="camp", priority=priority)


def test_every_endpoint_declares_roles(api):
    assert endpoints_without_roles(api.app) == []


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/policy", b"{not json"),
    ("PUT", "/policy", {"caps": [], "surprise": 1}),
    ("PUT", "/policy", {"caps": [{"id": "x", "limit": "three", "window_seconds": 10}]}),
    ("PUT", "/policy", {"caps": [{"id": "x", "window_seconds": 10}]}),
    ("PUT", "/policy", {"caps": [{"id": "x", "limit": 1, "window_seconds": 10, "scope": "channel"}]}),
    ("PUT", "/policy", {"quiet_hours": {"email": [{"weekdays": [9], "start": "25:00", "end": "08:00"}]}}),
    ("POST", "/dry-run", b"[1, 2"),
    ("POST", "/dry-run", {"contact_id": "c", "channel": "email", "category": "marketing", "extra": True}),
    ("POST", "/dry-run", {"contact_id": 5, "channel": "email", "category": "spam"}),
    ("POST", "/dry-run", {"channel": "email"}),
    ("GET", "/decisions", None),
    ("GET", "/decisions?contact_id=c&limit=zero", None),
    ("GET", "/deliveries?state=lost", None),
    ("GET", "/tasks?status=whatever", None),
    ("POST", "/tasks/1/complete", {"outcome": "Bad Outcome!"}),
    ("POST", "/tasks/1/complete", {"notes": "missing outcome"}),
    ("POST", "/tasks/1/complete", b"nope"),
])
def test_malformed_requests_get_problem_bodies(api, method, path, body):
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, bytes) else {"json": body}
    answer = api.request(method, path, role="operator", **({} if body is None else kwargs))
    assert 400 <= answer.status_code < 500, answer.get_json()
    assert answer.mimetype == "application/problem+json"


@pytest.mark.parametrize("raw", [b"{bad", b"[]", b'{"type": "bounce"}', b'{"type": "x", "email": "a@b.c"}',
                                 b'{"type": "bounce", "email": "a@b.c", "more": 1}'])
def test_malformed_signed_webhooks_get_4xx(api, raw):
    answer = _signed(api, "/webhooks/email", None, raw=raw)
    assert 400 <= answer.status_code < 500 and answer.mimetype == "application/problem+json"


def test_webhooks_need_a_valid_signature_not_a_key(api):
    body = {"type": "bounce", "email": "x@example.test"}
    assert _signed(api, "/webhooks/email", body, secret="wrong").status_code == 401
    assert api.post("/webhooks/email", role=None, json=body).status_code == 401
    assert api.post("/webhooks/email", role="operator", json=body).status_code == 401  # a key is no signature
    assert api.post("/webhooks/sms/inbound", role=None, json={"from": "+1555", "text": "STOP"}).status_code == 401


def test_bounce_and_stop_become_suppressions_here_and_upstream(api):
    with api.engine.begin() as conn:
        conn.execute(insert(contact_policy), [{"contact_id": "b1", "email": "b1@example.test", "phone": "+15550009"}])
    answer = _signed(api, "/webhooks/email", {"type": "bounce", "email": "b1@example.test"})
    assert answer.status_code == 202, answer.get_json()
    assert _signed(api, "/webhooks/sms/inbound", {"from": "+15550009", "text": " Stop "}).status_code == 202
    with api.engine.connect() as conn:
        rows = {(r.scope, r.value, r.reason) for r in conn.execute(select(suppressions))}
    assert rows == {("channel", "email", "bounced"), ("channel", "sms", "stop")}
    asked = [p["data"] for p in _outbox(api, "interaction.recorded")]
    assert {(d["scope"], d["value"], d["reason"]) for d in asked} == {("channel", "email", "bounced"),
                                                                       ("channel", "sms", "stop")}
    dry = api.post("/dry-run", role="marketer", json={"contact_id": "b1", "channel": "email",
                                                      "category": "transactional"}).get_json()
    assert dry["outcome"] == "suppressed" and dry["reason"] == "suppressed:channel:bounced"


def test_a_soft_bounce_is_noted_and_suppresses_nobody(api):
    with api.engine.begin() as conn:
        conn.execute(insert(contact_policy), [{"contact_id": "s1", "email": "s1@example.test"}])
        conn.execute(insert(deliveries).values(request_id="rs1", touch_id=1, contact_id="s1", channel="email",
                                               category="marketing", state="sent", next_attempt_at=text("now()")))
    answer = _signed(api, "/webhooks/email", {"type": "bounce", "bounce_type": "soft", "request_id": "rs1",
                                              "detail": "452 mailbox full"})
    assert answer.status_code == 202 and answer.get_json() == {"status": "accepted", "action": "noted",
                                                               "suppressed": [], "reason": None}
    assert _signed(api, "/webhooks/email", {"type": "bounce", "bounce_type": "soft",
                                            "email": "nobody@example.test"}).status_code == 404
    assert _signed(api, "/webhooks/email", {"type": "bounce", "bounce_type": "maybe",
                                            "email": "s1@example.test"}).status_code == 422
    with api.engine.connect() as conn:
        assert conn.execute(select(suppressions)).all() == []
        assert conn.execute(select(deliveries.c.detail)).scalar_one() == "soft bounce (452 mailbox full)"
    assert _outbox(api, "interaction.recorded") == [] and _outbox(api, "message.bounced") == []


def test_sms_receipts_update_the_delivery(api):
    with api.engine.begin() as conn:
        conn.execute(insert(deliveries).values(request_id="r9", touch_id=1, contact_id="c9", channel="sms",
                                               category="marketing", state="sent", next_attempt_at=text("now()"),
                                               provider_id="gw-9"))
    assert _signed(api, "/webhooks/sms/receipts", {"id": "gw-9", "status": "delivered"}).status_code == 202
    assert _signed(api, "/webhooks/sms/receipts", {"id": "gw-x", "status": "delivered"}).status_code == 404
    assert [p["outcome"] for p in _outbox(api, "message.delivered")] == ["delivered"]


def test_policy_defaults_roundtrip_and_roles(api):
    policy = api.get("/policy", role="marketer").get_json()
    assert [c["id"] for c in policy["caps"]] == ["marketing-weekly", "sms-daily"]
    assert policy["opt_in_channels"] == ["email", "sms"]
    new = {**policy, "caps": [{"id": "all", "limit": 5, "window_seconds": 86400, "scope": "all"}]}
    new.pop("version")
    assert api.put("/policy", role="marketer", json=new).status_code == 403
    saved = api.put("/policy", role="operator", json=new).get_json()
    assert saved["version"] == policy["version"] + 1 and saved["caps"][0]["limit"] == 5
    dry = api.post("/dry-run", role="agent", json={"contact_id": "nobody", "channel": "web",
                                                   "category": "marketing"}).get_json()
    assert dry["outcome"] == "send"


def test_call_tasks_priority_claim_race_complete_and_expiry(api):
    adapter = CallCenterAdapter("call", {}, AdapterContext(api.settings, api.engine))
    for rid, prio in (("low", 1), ("high", 9), ("mid", 5)):
        assert adapter.send(_message(rid, f"k-{rid}", prio)).status == "sent"
    tasks = api.get("/tasks?status=open", role="agent").get_json()
    assert [t["request_id"] for t in tasks] == ["high", "mid", "low"]
    assert api.get("/tasks", role="marketer").status_code == 403
    task_id = tasks[0]["id"]
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(
        api.post(f"/tasks/{task_id}/claim", role="agent").status_code)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409, 409, 409, 409, 409]
    assert api.post("/tasks/99999/claim", role="agent").status_code == 404
    done = api.post(f"/tasks/{task_id}/complete", role="agent", json={"outcome": "interested", "notes": "call back"})
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    [event] = _outbox(api, "interaction.recorded")
    assert event["type"] == "call_completed" and event["data"]["outcome"] == "interested"
    assert event["data"]["task_id"] == task_id and event["data"]["campaign_id"] == "camp"
    with api.engine.begin() as conn:
        conn.execute(update(call_tasks).where(call_tasks.c.request_id == "low").values(expires_at=text("now()")))
    with ChannelsUnitOfWorkFactory(api.engine)() as uow:
        assert expire_tasks(uow) == 1
    [expired] = _outbox(api, "message.expired")
    assert expired["request_id"] == "low" and expired["reason"] == "call_task_expired"


def test_offers_by_priority_accept_once_and_roles(api):
    adapter = WebOffersAdapter("web", {}, AdapterContext(api.settings, api.engine))
    adapter.send(_message("o-low", "w1", 1))
    adapter.send(_message("o-high", "w1", 7))
    adapter.send(_message("o-high", "w1", 7))  # a retried send creates no second offer
    offers = api.get("/contacts/w1/offers", role="channel_owner").get_json()
    assert [o["request_id"] for o in offers] == ["o-high", "o-low"]
    assert api.get("/contacts/w1/offers", role="marketer").status_code == 403
    assert api.post(f"/offers/{offers[0]['id']}/accept", role="channel_owner").status_code == 200
    assert api.post(f"/offers/{offers[0]['id']}/dismiss", role="channel_owner").status_code == 409
    assert api.post(f"/offers/{offers[1]['id']}/dismiss", role="agent").status_code == 200
    assert api.get("/contacts/w1/offers", role="channel_owner").get_json() == []
    assert sorted(p["type"] for p in _outbox(api, "interaction.recorded")) == ["offer_accepted", "offer_dismissed"]


def test_erasure_drops_personal_data_and_suppresses_for_good(api):
    from services.channels.handlers.contact_facts import handle_contact_facts
    from shared.messaging import Message

    facts = [Message(type="contact.upserted", key="e1", payload={
                 "contact_id": "e1", "email": "e1@example.test", "phone": "+15550003", "first_name": "Eve",
                 "last_name": None, "time_zone": "Europe/Berlin", "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}),
             Message(type="contact.erased", key="e1", payload={"contact_id": "e1",
                                                               "erased_at": datetime(2026, 1, 2, tzinfo=UTC)}),
             Message(type="contact.upserted", key="e1", payload={  # a late copy must not bring data back
                 "contact_id": "e1", "email": "e1@example.test", "phone": None, "first_name": "Eve",
                 "last_name": None, "time_zone": None, "updated_at": datetime(2026, 1, 3, tzinfo=UTC)})]
    with ChannelsUnitOfWorkFactory(api.engine)() as uow:
        handle_contact_facts(uow, facts)
    with api.engine.connect() as conn:
        profile = conn.execute(select(contact_policy).where(contact_policy.c.contact_id == "e1")).one()
        erased = conn.execute(select(suppressions.c.reason).where(suppressions.c.contact_id == "e1")).scalars().all()
    assert profile.erased and profile.email is None and profile.first_name is None and profile.time_zone is None
    assert erased == ["erased"]
    dry = api.post("/dry-run", json={"contact_id": "e1", "channel": "email", "category": "transactional"})
    assert dry.get_json()["reason"] == "suppressed:global:erased"
