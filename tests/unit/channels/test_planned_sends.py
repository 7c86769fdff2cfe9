"""Planned sends in the channels service (handlers/planned.py) with in-memory fakes: the plans campaigns
announces, the gate's look-ahead decision on them, the end of a plan, and the forecast's view."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from services.channels.domain import CapScope, FrequencyCap, PolicyRules, QuietHours, SendWindow
from services.channels.handlers.forecast import forecast
from services.channels.handlers.gate import decide_requests
from services.channels.handlers.planned import KEEP_AFTER_DUE, handle_plans
from shared.clock import FixedClock
from shared.messaging import Message
from tests.unit.channels.fakes import FakeUnitOfWork
from tests.unit.channels.test_gate_handler import request

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
WEEKLY = PolicyRules(caps=(FrequencyCap("weekly", 1, timedelta(days=7), CapScope.CATEGORY, "marketing"),))


def planned(plan_id: str = "plan:e1:send-2:1", at: datetime = NOW, **fields: Any) -> Message:
    return Message("send.planned", {"plan_id": plan_id, "contact_id": "c1", "channel": "email",
                                    "category": "marketing", "priority": 80, "due_at": NOW + timedelta(days=2),
                                    "campaign_id": "drip", "step_id": "send-2", "occurrence": "1",
                                    "planned_at": at, **fields})


def cancelled(at: datetime, **target: str) -> Message:
    return Message("send.plan_cancelled", {"plan_id": None, "campaign_id": None, "cancelled_at": at, **target})


def fake(rules: PolicyRules = WEEKLY) -> FakeUnitOfWork:
    uow = FakeUnitOfWork(rules)
    uow.clock = FixedClock(NOW)
    return uow


def test_a_low_priority_message_yields_to_the_plan_and_the_record_names_the_rule_and_the_plan():
    uow = fake()
    handle_plans(uow, [planned()])
    decide_requests(uow, [request("low", priority=10)], NOW)
    (row,) = uow.decisions.rows
    assert (row["outcome"], row["reason"], row["rule_id"], row["yielded_to"]) == (
        "capped", "look_ahead:weekly", "weekly", "plan:e1:send-2:1")
    (kind, payload, _), = uow.published
    assert kind == "message.capped" and "plan:e1:send-2:1" in payload["detail"]


def test_the_planned_message_is_sent_when_due_and_its_plan_ends():
    uow = fake()
    handle_plans(uow, [planned()])
    drip = request("drip-req", priority=80, campaign_id="drip", step_id="send-2", occurrence="1")
    decide_requests(uow, [drip], NOW + timedelta(days=2))
    assert uow.decisions.rows[0]["outcome"] == "send"
    assert uow.planned.rows["plan:e1:send-2:1"]["live"] is False


def test_a_cancelled_plan_holds_nothing_and_a_late_announcement_does_not_revive_it():
    uow = fake()
    handle_plans(uow, [planned(), cancelled(NOW + timedelta(minutes=1), plan_id="plan:e1:send-2:1"),
                       planned(at=NOW)])  # the same announcement redelivered after the cancellation
    decide_requests(uow, [request("low", priority=10)], NOW + timedelta(minutes=2))
    assert uow.decisions.rows[0]["outcome"] == "send"


def test_stopping_a_campaign_cancels_its_plans_and_a_resume_plans_them_again():
    uow = fake()
    handle_plans(uow, [planned(), cancelled(NOW + timedelta(minutes=1), campaign_id="drip")])
    assert not uow.planned.rows["plan:e1:send-2:1"]["live"]
    handle_plans(uow, [planned(at=NOW + timedelta(minutes=5))])  # resumed: announced anew
    assert uow.planned.rows["plan:e1:send-2:1"]["live"]


def test_plans_long_past_due_are_pruned():
    uow = fake()
    handle_plans(uow, [planned(due_at=NOW - KEEP_AFTER_DUE - timedelta(minutes=1)), planned("other")])
    assert list(uow.planned.rows) == ["other"]


def test_a_deferred_request_is_planned_for_its_return_and_holds_a_slot_meanwhile():
    morning = PolicyRules(caps=WEEKLY.caps, quiet_hours=QuietHours(
        {"email": (SendWindow(frozenset(range(7)), time(8), time(9)),)}))
    uow = fake(morning)
    decide_requests(uow, [request("high", priority=70)], NOW)  # 12:00 UTC: outside 08:00-09:00, deferred
    plan = uow.planned.rows["deferred:high"]
    assert (plan["live"], plan["priority"], plan["due_at"]) == (True, 70, datetime(2026, 3, 5, 8, 0, tzinfo=UTC))
    decide_requests(uow, [request("web-low", channel="web", priority=10)], NOW)  # no quiet hours on web
    assert uow.decisions.rows[-1]["reason"] == "look_ahead:weekly"
    decide_requests(uow, [request("high", priority=70, deferrals=1)], datetime(2026, 3, 5, 8, 0, tzinfo=UTC))
    assert uow.decisions.rows[-1]["outcome"] == "send" and not uow.planned.rows["deferred:high"]["live"]


def test_the_forecast_counts_the_yields_the_gate_would_make():
    uow = fake()
    handle_plans(uow, [planned()])
    answer = forecast(uow, {"channel": "email", "category": "marketing", "priority": 10},
                      [{"contact_id": "c1"}, {"contact_id": "c2"}], NOW)
    assert answer["by_outcome"]["send"] == 1 and answer["by_outcome"]["capped"] == 1
    assert {"outcome": "capped", "reason": "look_ahead:weekly", "rule_id": "weekly", "count": 1} in answer["by_rule"]
    assert uow.planned.rows["plan:e1:send-2:1"]["live"]  # a forecast ends nothing

