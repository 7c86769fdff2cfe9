"""The gate and delivery end to end on the real broker and database: quiet hours, duplicates,
suppression between decision and delivery, retries and dead letters, the suppression delay bound."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.channels.repository import TABLES, deliveries, suppressions, touches
from shared.messaging import UnitOfWorkFactory
from tests.integration.channels.conftest import Clock, fact_message, request_message
from tests.support import wait_for

pytestmark = pytest.mark.integration

QUIET = {"caps": [], "min_marketing_gap_seconds": None, "opt_in_channels": [],
         "quiet_hours": {"email": [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "21:00"}]},
         "control_group": None, "capacity": []}
OPEN = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [],
        "control_group": None, "capacity": []}


def _of(env, message_type: str, request_id: str):
    return [m for m in env.outcomes() if m.type == message_type and m.payload["request_id"] == request_id]


def _job(env, request_id: str):
    with env.harness.engine.connect() as conn:
        return conn.execute(select(deliveries).where(deliveries.c.request_id == request_id)).first()


def test_quiet_hours_defer_then_send_at_the_window_with_personalised_email(channels_env, smtp_server):
    clock = Clock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))  # 22:00 the day before in New York
    env = channels_env(adapters={"email": {"adapter": "smtp", "port": smtp_server.port, "sender": "news@tp.test"}},
                       policy=QUIET, clock=clock)
    env.publish([fact_message("contact.upserted", {
        "contact_id": "jane", "email": "jane@example.test", "first_name": "Jane", "last_name": "Doe",
        "time_zone": "America/New_York", "updated_at": "2026-11-01T00:00:00+00:00"})])
    wait_for(lambda: _profile_copied(env), message="profile copied")
    env.publish([request_message("q1", "jane", recipient={"email": "old@example.test"},
                                 content={"subject": "Hello $first_name", "body": "Dear $first_name $last_name, hi"}),
                 request_message("t1", "jane", category="transactional", content={"subject": "Receipt",
                                                                                  "body": "Thanks $first_name"})])
    [deferred] = wait_for(lambda: _of(env, "message.deferred", "q1"), message="message.deferred")
    assert deferred.payload["defer_until"] == "2026-11-23T13:00:00+00:00"  # 08:00 in New York
    assert deferred.payload["request"]["deferrals"] == 1
    wait_for(lambda: _of(env, "message.sent", "t1"), message="the transactional message sent at once")

    env.publish([request_message("q1", "jane")])  # a redelivery of the original changes nothing
    clock.set(datetime.fromisoformat(deferred.payload["defer_until"]))
    env.publish([fact_message("message.requested", deferred.payload["request"])])  # as the scheduler would
    wait_for(lambda: _of(env, "message.sent", "q1"), message="sent at the window's start")
    decisions = env.harness.get("/decisions?request_id=q1", role="agent").get_json()
    assert [d["outcome"] for d in decisions] == ["send", "deferred"]
    assert decisions[0]["delivery"]["state"] == "sent" and decisions[1]["reason"] == "quiet_hours"

    by_subject = {e.original_content.decode().split("Subject: ")[1].split("\r\n")[0]: e
                  for e in smtp_server.envelopes}
    mail = by_subject["Hello Jane"]
    text = mail.original_content.decode()
    assert mail.rcpt_tos == ["jane@example.test"]  # the contact copy beats what the requester knew
    assert "From: news@tp.test" in text and "To: Jane Doe <jane@example.test>" in text
    assert "Dear Jane Doe, hi" in text and "Message-ID: <q1@touchpoint>" in text
    assert len(_of(env, "message.deferred", "q1")) == 1


def _profile_copied(env) -> bool:
    from services.channels.repository import contact_policy

    with env.harness.engine.connect() as conn:
        return conn.execute(select(contact_policy.c.email).where(contact_policy.c.contact_id == "jane")).scalar()


def test_one_send_per_campaign_step_occurrence(channels_env):
    env = channels_env(adapters={"web": {"adapter": "web_offers"}}, policy=OPEN)
    same = {"campaign_id": "camp", "step_id": "s1", "occurrence": "2026-11-23"}
    env.publish([request_message("a", "c1", "web", **same), request_message("b", "c1", "web", **same)])
    wait_for(lambda: len(env.harness.get("/decisions?contact_id=c1").get_json()) == 2, message="both decided")
    outcomes = sorted(d["outcome"] for d in env.harness.get("/decisions?campaign_id=camp").get_json())
    assert outcomes == ["duplicate", "send"]
    offers = wait_for(lambda: env.harness.get("/contacts/c1/offers", role="channel_owner").get_json(),
                      message="the offer on the page")
    assert len(offers) == 1


def test_a_suppression_arriving_after_the_decision_cancels_the_send(channels_env, smtp_server):
    env = channels_env(adapters={"email": {"adapter": "smtp", "port": smtp_server.port}}, policy=OPEN, start=False)
    env.start_worker(background=False)  # gate and relay, but no delivery yet
    env.publish([request_message("late", "c2")])
    wait_for(lambda: _job(env, "late"), message="the send job")
    env.publish([fact_message("contact.suppression.changed", {
        "contact_id": "c2", "suppression_id": "u1", "scope": "channel", "value": "email",
        "reason": "unsubscribed", "active": True, "changed_at": datetime.now(UTC).isoformat()})])
    wait_for(lambda: _suppressed(env, "c2"), message="suppression copied")
    env.start_worker(consumers=False, relay=False)  # now the delivery workers
    wait_for(lambda: _job(env, "late").state == "cancelled", message="send cancelled")
    [cancelled] = wait_for(lambda: _of(env, "message.suppressed", "late"), message="message.suppressed")
    assert cancelled.payload["reason"].startswith("at_delivery:suppressed:channel")
    assert smtp_server.envelopes == []
    with env.harness.engine.connect() as conn:
        assert conn.execute(select(touches.c.state).where(touches.c.request_id == "late")).scalar() == "cancelled"


def _suppressed(env, contact_id: str) -> bool:
    with env.harness.engine.connect() as conn:
        return conn.execute(select(suppressions).where(suppressions.c.contact_id == contact_id)).first() is not None


def test_failing_sends_retry_then_land_in_dead_letters_and_release_the_touch(channels_env, gateway):
    sms = {"adapter": "sms_gateway", "url": gateway.url, "max_attempts": 3, "backoff_seconds": 0.05}
    env = channels_env(adapters={"sms": sms}, policy=OPEN)
    gateway.statuses = [503, 500, 502, 503]
    env.publish([request_message("s1", "c3", "sms")])
    wait_for(lambda: getattr(_job(env, "s1"), "state", None) == "dead", message="dead after 3 attempts")
    assert _job(env, "s1").attempts == 3
    [failed] = wait_for(lambda: _of(env, "message.failed", "s1"), message="message.failed")
    assert failed.payload["reason"] == "delivery:dead"
    dead = env.harness.get("/deliveries?state=dead").get_json()
    assert [d["request_id"] for d in dead] == ["s1"]
    env.publish([request_message("s2", "c3", "sms")])  # one 503 left, then the gateway recovers
    wait_for(lambda: _of(env, "message.sent", "s2"), message="sent after a retry")
    assert _job(env, "s2").attempts == 2 and _job(env, "s2").provider_id.startswith("gw-")
    assert gateway.bodies()[-1]["to"] == "+15550001111"
    with env.harness.engine.connect() as conn:
        states = dict(conn.execute(select(touches.c.request_id, touches.c.state)).all())
    assert states == {"s1": "failed", "s2": "sent"}


def test_suppression_reaches_the_gate_within_relay_hop_and_linger(channels_env):
    """Measures (and prints) the delay from an upstream outbox commit to the suppression applied here."""
    env = channels_env(policy=OPEN)
    uow = UnitOfWorkFactory(env.harness.engine, TABLES, "contacts-stand-in")
    delays = []
    for i in range(15):
        with uow() as work:  # the contacts service's outbox write, played by this database's outbox
            work.publish("contact.suppression.changed", {
                "contact_id": f"lat{i}", "suppression_id": "x", "scope": "global", "value": None,
                "reason": "unsubscribed", "active": True, "changed_at": datetime.now(UTC).isoformat()},
                key=f"lat{i}")
        committed = time.perf_counter()
        wait_for(lambda i=i: _suppressed(env, f"lat{i}"), interval=0.002, message="suppression applied")
        delays.append(time.perf_counter() - committed)
    print(f"\nsuppression commit -> applied at the gate: median {statistics.median(delays) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms over {len(delays)} samples")
