"""The five invariants of the dispatch gate with several workers in parallel and every message redelivered.

Real RabbitMQ (sharded consistent-hash queue, 8 shards), real PostgreSQL, real SMTP server, a
stand-in SMS gateway over HTTP, the internal call and web adapters.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from services.channels.repository import decisions, deliveries, suppressions, touches
from tests.integration.channels.conftest import NO_LIMITS_POLICY, fact_message, request_message
from tests.support import wait_for

# Five channels workers of up to 18 database connections each: run alone, not beside another test process.
pytestmark = [pytest.mark.integration, pytest.mark.alone]

# 250 contacts (10,000 requests, each delivered twice) keep the suite in budget; CHANNELS_TEST_CONTACTS=2000
# searches harder before a change to the gate.
CONTACTS = int(os.environ.get("CHANNELS_TEST_CONTACTS", "250"))
PER_CONTACT = 20
CHANNELS = ("email", "sms", "call", "web")


def _adapters(smtp_server, gateway) -> dict:
    return {"email": {"adapter": "smtp", "port": smtp_server.port, "rate_limit_per_second": 5000},
            "sms": {"adapter": "sms_gateway", "url": gateway.url, "rate_limit_per_second": 5000},
            "call": {"adapter": "call_center"}, "web": {"adapter": "web_offers"}}


def _requests(contact: str, first: int, last: int, tag: str) -> list:
    """Requests number first..last-1 of a contact, each published twice (same envelope / a new one)."""
    out = []
    for k in range(first, last):
        message = request_message(f"{tag}-{contact}-{k}", contact, CHANNELS[k % 4], campaign_id=f"camp{k % 4}",
                                  step_id=f"step{k}", occurrence="1", priority=k % 3)
        again = message if k % 2 else request_message(**{**_kw(message), "message_id": str(uuid.uuid4())})
        out.extend([message, again])
    return out


def _kw(message) -> dict:
    p = dict(message.payload)
    return {"request_id": p.pop("request_id"), "contact_id": p.pop("contact_id"), "channel": p.pop("channel"),
            "category": p.pop("category"), **p}


def test_caps_suppression_idempotency_and_outcomes_hold_across_parallel_workers(channels_env, smtp_server,
                                                                               gateway):
    env = channels_env(adapters=_adapters(smtp_server, gateway), policy=NO_LIMITS_POLICY, start=False)
    for consume in ("0,1", "2,3", "4,5", "6,7"):
        env.start_worker(consume)
    env.start_worker("1,2,5,6", background=False)  # an extra consumer on overlapping shards
    contacts = [f"c{i:05d}" for i in range(CONTACTS)]
    suppressed = set(contacts[::10])
    tag = uuid.uuid4().hex[:6]
    started = time.perf_counter()

    env.publish(m for c in contacts for m in _requests(c, 0, PER_CONTACT // 2, tag))
    now = datetime.now(UTC).isoformat()
    env.publish(fact_message("contact.suppression.changed", {
        "contact_id": c, "suppression_id": f"unsub-{c}", "scope": "global", "value": None,
        "reason": "unsubscribed", "active": True, "changed_at": now}) for c in sorted(suppressed))

    def suppressions_applied() -> bool:
        with env.harness.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(suppressions)).scalar_one() == len(suppressed)

    wait_for(suppressions_applied, timeout=60, message="suppressions copied")
    with env.harness.engine.connect() as conn:
        applied_by = conn.execute(text("SELECT now()")).scalar_one()
    env.publish(m for c in contacts for m in _requests(c, PER_CONTACT // 2, PER_CONTACT, tag))

    total = CONTACTS * PER_CONTACT

    def all_decided_and_delivered() -> bool:
        with env.harness.engine.connect() as conn:
            decided = conn.execute(select(func.count()).select_from(decisions)).scalar_one()
            open_jobs = conn.execute(select(func.count()).select_from(deliveries)
                                     .where(deliveries.c.state.in_(("pending", "sending")))).scalar_one()
        return decided == total and open_jobs == 0

    wait_for(all_decided_and_delivered, timeout=240, interval=0.25, message="every request decided and delivered")
    elapsed = time.perf_counter() - started
    print(f"\n{total} requests ({2 * total} deliveries of message.requested) for {CONTACTS} contacts "
          f"decided and delivered by 5 workers in {elapsed:.1f}s")

    with env.harness.engine.connect() as conn:
        live = Counter(r.contact_id for r in conn.execute(
            select(touches.c.contact_id).where(touches.c.state.in_(("reserved", "sent")))))
        outcomes = Counter((r.contact_id, r.outcome) for r in conn.execute(
            select(decisions.c.contact_id, decisions.c.outcome)))
        per_request = conn.execute(select(decisions.c.request_id, func.count()).group_by(decisions.c.request_id)
                                   .having(func.count() > 1)).all()
        late_sends = conn.execute(select(func.count()).select_from(decisions).where(
            decisions.c.contact_id.in_(suppressed), decisions.c.outcome == "send",
            decisions.c.decided_at > applied_by)).scalar_one()
        sent_after = conn.execute(select(func.count()).select_from(deliveries).where(
            deliveries.c.contact_id.in_(suppressed), deliveries.c.state == "sent",
            deliveries.c.request["request_id"].astext.like(f"{tag}-%-1_"))).scalar_one()
        step_dupes = conn.execute(text(
            "SELECT count(*) FROM (SELECT 1 FROM touches WHERE state IN ('reserved','sent') "
            "GROUP BY campaign_id, step_id, contact_id, occurrence HAVING count(*) > 1) d")).scalar_one()

    # 1. caps: no contact over 3 touches in the window, across all channels; the rest capped
    for contact in contacts:
        if contact in suppressed:
            assert live[contact] <= 3
            continue
        assert live[contact] == 3, contact
        assert outcomes[(contact, "send")] == 3 and outcomes[(contact, "capped")] == 17, contact
    # 2. after the suppression reached the gate, no decision and no delivery sent to those contacts
    assert late_sends == 0
    assert sent_after == 0
    for contact in suppressed:
        assert outcomes[(contact, "suppressed")] >= PER_CONTACT // 2
    # 3. redelivered requests decided once; one live touch per (campaign, step, contact, occurrence)
    assert per_request == []
    assert step_dupes == 0
    # 4. every request has a recorded outcome, and an announced one
    outcome_ids = wait_for(lambda: _announced(env, total), timeout=60, message="every outcome announced")
    assert len(outcome_ids) == total


def _announced(env, total: int) -> set[str] | None:
    final = {"message.sent", "message.capped", "message.suppressed", "message.failed", "message.expired"}
    ids = {m.payload["request_id"] for m in env.outcomes() if m.type in final}
    return ids if len(ids) >= total else None
