"""`planned_sends` on real PostgreSQL (repository/planned.py, migration 0004): the plans the look-ahead rule
reads, their end, cancellation by plan and by campaign, newer facts winning, pruning; and through a running
channels worker, `send.planned` then a lower-priority request: capped, naming the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.channels.repository import decisions
from services.channels.repository.planned import PlannedSends
from services.channels.service import build_definition
from shared.db.engine import make_engine
from shared.messaging import Message
from tests.integration.channels.conftest import NO_LIMITS_POLICY, request_message
from tests.support import fresh_database, wait_for

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine():
    engine = make_engine(fresh_database("channels_planned", build_definition().migrations_dir))
    yield engine
    engine.dispose()


def plan(plan_id: str, contact_id: str = "c1", campaign_id: str = "drip", due_in: timedelta = timedelta(days=1),
         changed_at: datetime = NOW, **fields) -> dict:
    return {"plan_id": plan_id, "contact_id": contact_id, "channel": "email", "category": "marketing",
            "priority": 80, "due_at": NOW + due_in, "campaign_id": campaign_id, "step_id": "send-2",
            "occurrence": plan_id, "changed_at": changed_at, **fields}


def test_plans_are_read_ended_cancelled_and_pruned_and_newer_facts_win(engine):
    with engine.begin() as conn:
        planned = PlannedSends(conn)
        planned.plan([plan("p1"), plan("p2"), plan("p3", campaign_id="other"), plan("p4", contact_id="c2"),
                      plan("old", due_in=-timedelta(hours=2))])
        found = planned.of_contacts(["c1"], NOW - timedelta(hours=1))
        assert sorted(p.plan_id for p in found["c1"]) == ["p1", "p2", "p3"]
        assert found["c1"][0].step_key == ("drip", "send-2", "c1", found["c1"][0].plan_id)

        planned.end(["p1"], NOW + timedelta(minutes=1))
        planned.plan([plan("p1", changed_at=NOW)])  # the announcement redelivered: older than its end
        planned.cancel(NOW + timedelta(minutes=1), campaign_id="other")
        planned.cancel(NOW + timedelta(minutes=1), plan_id="never-seen")  # remembered as ended
        planned.plan([plan("never-seen", changed_at=NOW)])
        assert [p.plan_id for p in planned.of_contacts(["c1"], NOW)["c1"]] == ["p2"]

        planned.plan([plan("p3", campaign_id="other", changed_at=NOW + timedelta(minutes=5))])  # resumed
        assert sorted(p.plan_id for p in planned.of_contacts(["c1"], NOW)["c1"]) == ["p2", "p3"]

        assert planned.prune(NOW - timedelta(hours=1)) == 1  # "old"
        planned.forget_contact("c2")
        assert planned.of_contacts(["c2"], NOW) == {}


def test_a_worker_caps_a_lower_priority_request_against_an_announced_plan(channels_env, smtp_server, gateway):
    policy = {**NO_LIMITS_POLICY, "caps": [{"id": "weekly", "limit": 1, "window_seconds": 7 * 86400,
                                            "scope": "category", "scope_value": "marketing"}]}
    env = channels_env(adapters={"email": {"adapter": "smtp", "port": smtp_server.port}},
                       policy=policy)
    now = datetime.now(UTC)
    env.publish([Message("send.planned", {
        "plan_id": "plan:e1:send-2:1", "contact_id": "c-la", "channel": "email", "category": "marketing",
        "priority": 80, "due_at": (now + timedelta(days=1)).isoformat(), "campaign_id": "drip",
        "step_id": "send-2", "occurrence": "1", "planned_at": now.isoformat()}, key="c-la")])

    def known() -> bool:
        with env.harness.engine.connect() as conn:
            return bool(PlannedSends(conn).of_contacts(["c-la"], now))

    wait_for(known, timeout=30, interval=0.1, message="the plan to be kept")
    env.publish([request_message("low-1", "c-la", priority=10)])

    def decided():
        with env.harness.engine.connect() as conn:
            return conn.execute(select(decisions).where(decisions.c.request_id == "low-1")).first()

    row = wait_for(decided, timeout=30, interval=0.1, message="the low request decided")
    assert (row.outcome, row.reason, row.rule_id, row.yielded_to) == ("capped", "look_ahead:weekly", "weekly",
                                                                      "plan:e1:send-2:1")
