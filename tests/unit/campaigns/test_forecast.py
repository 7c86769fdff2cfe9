"""Campaign forecasts on fakes: which step is forecast, chunking, summing, and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.campaigns.domain.forecast import Totals, first_send_step
from services.campaigns.gate_forecast import GateUnavailable
from services.campaigns.handlers.forecast import forecast_segment, forecast_target
from services.campaigns.segments import InMemorySegmentSource
from services.channels.domain import CapacityRule, FrequencyCap, PolicyRules
from services.channels.handlers.forecast import forecast as channels_forecast
from shared.errors import Conflict, NotFound, Unavailable
from tests.unit.campaigns.fakes import FakeUnitOfWork
from tests.unit.channels.fakes import FakeUnitOfWork as FakeChannels

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TEMPLATE = {"subject": "Hi", "body": "Hello"}


def definition(steps: list[dict], **entry) -> dict:
    return {"name": "n", "category": "marketing", "priority": 7, "topic": "loans",
            "entry": {"type": "segment", "segment_id": "seg", "schedule": {"at": "2026-03-05T09:00:00+00:00"},
                      **entry},
            "steps": steps}


class ChannelsGate:
    """The channels service's own forecast handler on its fakes, one call per chunk."""

    def __init__(self, rules: PolicyRules) -> None:
        self.uow = FakeChannels(rules)
        self.calls: list[dict] = []

    def forecast(self, message, contacts, at, capacity_taken):
        self.calls.append({"message": message, "size": len(contacts), "at": at, "taken": dict(capacity_taken)})
        return channels_forecast(self.uow, message, contacts, at, capacity_taken)


class DownGate:
    def forecast(self, message, contacts, at, capacity_taken):
        raise GateUnavailable("connection refused")


def test_the_first_send_step_is_the_nearest_to_the_start():
    steps = [{"id": "w", "type": "wait", "duration": "1d", "next": "b"},
             {"id": "b", "type": "branch", "branches": [{"condition": "contact.tier = 'gold'", "next": "deep"}],
              "else": "sms"},
             {"id": "deep", "type": "wait", "duration": "1d", "next": "call"},
             {"id": "call", "type": "send", "channel": "call", "template": TEMPLATE},
             {"id": "sms", "type": "send", "channel": "sms", "template": TEMPLATE, "priority": 30,
              "expires_after": "2h"}]
    step = first_send_step(definition(steps))
    assert (step.step_id, step.channel, step.category, step.priority, step.topic) == ("sms", "sms", "marketing", 30,
                                                                                       "loans")
    assert step.message("camp", NOW)["expires_at"] == (NOW + timedelta(hours=2)).isoformat()
    started_late = first_send_step(definition(steps, start_step="deep"))
    assert (started_late.step_id, started_late.priority) == ("call", 7)  # the campaign's priority
    assert first_send_step(definition([{"id": "w", "type": "wait", "duration": "1d"}])) is None


def test_the_target_is_the_segment_and_its_first_send_or_a_refusal():
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("seg", definition([{"id": "m", "type": "send", "channel": "email",
                                                   "template": TEMPLATE}]), status="draft")
    uow.campaigns.add_campaign("evt", {**definition([{"id": "m", "type": "send", "channel": "email",
                                                      "template": TEMPLATE}]),
                                       "entry": {"type": "event", "event_type": "signup"}})
    uow.campaigns.add_campaign("mute", definition([{"id": "w", "type": "wait", "duration": "1d"}]))
    segment_id, step = forecast_target(uow, "seg")
    assert (segment_id, step.step_id) == ("seg", "m")
    with pytest.raises(NotFound):
        forecast_target(uow, "nope")
    with pytest.raises(Conflict, match="segment"):
        forecast_target(uow, "evt")
    with pytest.raises(Conflict, match="no send step"):
        forecast_target(uow, "mute")


def test_members_are_forecast_in_chunks_that_pass_capacity_on_and_the_counts_add_up():
    members = [{"contact_id": f"c{i:03d}", "time_zone": "Europe/Amsterdam" if i % 2 else ""} for i in range(25)]
    source = InMemorySegmentSource({"seg": members})
    rules = PolicyRules(caps=(FrequencyCap("weekly", 1, timedelta(days=7)),),
                        capacity=(CapacityRule("calls", "call", 12, "day", "Europe/Amsterdam"),))
    gate = ChannelsGate(rules)
    gate.uow.ledger.touches.append({"contact_id": "c000", "channel": "sms", "category": "marketing",
                                    "campaign_id": None, "topic": None, "at": NOW - timedelta(days=1),
                                    "state": "sent", "request_id": "r0"})
    step = first_send_step(definition([{"id": "call", "type": "send", "channel": "call", "template": TEMPLATE}]))
    answer = forecast_segment("camp", "seg", step, source, gate, NOW, chunk=10)
    assert [c["size"] for c in gate.calls] == [10, 10, 5]
    assert [c["taken"] for c in gate.calls] == [{}, {"calls": 9}, {"calls": 12}]  # c000 is capped, not counted
    assert {c["at"] for c in gate.calls} == {NOW}
    assert answer["members"] == 25
    assert answer["by_outcome"] == {"send": 12, "deferred": 12, "suppressed": 0, "capped": 1, "expired": 0,
                                    "duplicate": 0}
    assert answer["by_rule"] == [
        {"outcome": "send", "reason": "send", "rule_id": None, "count": 12},
        {"outcome": "deferred", "reason": "capacity", "rule_id": "calls", "count": 12},
        {"outcome": "capped", "reason": "cap:weekly", "rule_id": "weekly", "count": 1},
    ]
    assert answer["step"] == {"step_id": "call", "channel": "call", "category": "marketing", "priority": 7,
                              "topic": "loans"}
    assert answer["evaluated_at"] == NOW and answer["elapsed_ms"] >= 0
    assert gate.uow.ledger.capacity.used == {} and len(gate.uow.ledger.touches) == 1  # nothing taken


def test_an_empty_segment_asks_nothing():
    gate = ChannelsGate(PolicyRules())
    step = first_send_step(definition([{"id": "m", "type": "send", "channel": "email", "template": TEMPLATE}]))
    answer = forecast_segment("camp", "seg", step, InMemorySegmentSource({"seg": []}), gate, NOW)
    assert answer["members"] == 0 and gate.calls == [] and sum(answer["by_outcome"].values()) == 0


def test_a_service_that_does_not_answer_is_unavailable():
    step = first_send_step(definition([{"id": "m", "type": "send", "channel": "email", "template": TEMPLATE}]))
    source = InMemorySegmentSource({"seg": [{"contact_id": "c1"}]})
    with pytest.raises(Unavailable, match="channels"):
        forecast_segment("camp", "seg", step, source, DownGate(), NOW)
    with pytest.raises(Unavailable, match="contacts"):
        forecast_segment("camp", "other", step, source, ChannelsGate(PolicyRules()), NOW)


def test_totals_keep_the_last_capacity_taken_and_sum_rules():
    totals = Totals()
    totals.add({"evaluated": 2, "by_rule": [{"outcome": "send", "reason": "send", "rule_id": None, "count": 2}],
                "capacity_taken": {"r": 2}})
    totals.add({"evaluated": 1, "by_rule": [{"outcome": "send", "reason": "send", "rule_id": None, "count": 1}],
                "capacity_taken": {"r": 3}})
    assert totals.evaluated == 3 and totals.capacity_taken == {"r": 3}
    assert totals.rules() == [{"outcome": "send", "reason": "send", "rule_id": None, "count": 3}]
