"""The forecast use case (`handlers.forecast.forecast`) with in-memory fakes: counts, rules, nothing taken."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from services.channels.domain import (
    CapacityRule,
    ControlGroup,
    FrequencyCap,
    PolicyRules,
    QuietHours,
    SendWindow,
    Suppression,
)
from services.channels.handlers.forecast import forecast
from shared.control_group import in_control_group
from tests.unit.channels.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday, 13:00 in Amsterdam
EMAIL = {"channel": "email", "category": "marketing", "campaign_id": "camp", "step_id": "s1"}


def contacts(*ids: str, time_zone: str | None = None) -> list[dict]:
    return [{"contact_id": cid, "time_zone": time_zone} for cid in ids]


def test_each_contact_is_decided_by_decide_and_counted_by_outcome_and_rule():
    rules = PolicyRules(caps=(FrequencyCap("weekly", 1, timedelta(days=7)),))
    uow = FakeUnitOfWork(rules)
    uow.ledger.touches.append({"contact_id": "c2", "channel": "sms", "category": "marketing", "campaign_id": None,
                               "topic": None, "at": NOW - timedelta(days=1), "state": "sent", "request_id": "old"})
    uow.contacts.suppressions["c3"].append(Suppression("sup-1", "global", None, "unsubscribed"))
    uow.contacts.suppressions["c4"].append(Suppression("sup-2", "global", None, "unsubscribed"))
    answer = forecast(uow, EMAIL, contacts("c1", "c2", "c3", "c4"), NOW)
    assert answer["evaluated"] == 4
    assert answer["by_outcome"] == {"send": 1, "deferred": 0, "suppressed": 2, "capped": 1, "expired": 0,
                                    "duplicate": 0}
    # a suppression's rule_id is the contact's own record: the reason is what contacts share
    assert answer["by_rule"] == [
        {"outcome": "send", "reason": "send", "rule_id": None, "count": 1},
        {"outcome": "suppressed", "reason": "suppressed:global:unsubscribed", "rule_id": None, "count": 2},
        {"outcome": "capped", "reason": "cap:weekly", "rule_id": "weekly", "count": 1},
    ]
    assert answer["evaluated_at"] == NOW
    assert uow.ledger.touches[-1]["request_id"] == "old" and len(uow.ledger.touches) == 1  # nothing reserved
    assert uow.published == [] and uow.decisions.rows == [] and uow.contacts.locked == []


def test_quiet_hours_use_the_callers_time_zone_when_the_copy_has_none():
    rules = PolicyRules(quiet_hours=QuietHours({"email": (SendWindow(frozenset(range(7)), time(8), time(21)),)}))
    uow = FakeUnitOfWork(rules)
    answer = forecast(uow, EMAIL, contacts("c1") + contacts("c2", time_zone="Pacific/Auckland"), NOW)
    # 12:00 UTC is 13:00 in UTC-land but 01:00 the next day in Auckland: deferred to its morning
    assert answer["by_outcome"]["send"] == 1 and answer["by_outcome"]["deferred"] == 1
    assert {"outcome": "deferred", "reason": "quiet_hours", "rule_id": None, "count": 1} in answer["by_rule"]


def test_capacity_fills_within_the_forecast_and_across_chunks_without_taking_a_unit():
    calls = CapacityRule("calls-daily", "call", 3, "day", "Europe/Amsterdam")
    uow = FakeUnitOfWork(PolicyRules(capacity=(calls,)))
    uow.ledger.capacity.used[calls.key(NOW)] = 1  # one unit taken by the gate already
    message = {**EMAIL, "channel": "call"}
    first = forecast(uow, message, contacts("c1"), NOW)
    assert first["by_outcome"]["send"] == 1 and first["capacity_taken"] == {"calls-daily": 1}
    second = forecast(uow, message, contacts("c2", "c3", "c4"), NOW, first["capacity_taken"])
    assert second["by_outcome"]["send"] == 1 and second["by_outcome"]["deferred"] == 2
    assert {"outcome": "deferred", "reason": "capacity", "rule_id": "calls-daily", "count": 2} in second["by_rule"]
    assert second["capacity_taken"] == {"calls-daily": 2}
    assert uow.ledger.capacity.used == {calls.key(NOW): 1} and uow.ledger.capacity.held == []  # read, not held


def test_a_contact_listed_twice_sees_its_first_send_like_within_a_gate_batch():
    uow = FakeUnitOfWork(PolicyRules(caps=(FrequencyCap("daily", 1, timedelta(days=1)),)))
    answer = forecast(uow, EMAIL, contacts("c1", "c1"), NOW)
    assert answer["by_outcome"]["send"] == 1 and answer["by_outcome"]["duplicate"] == 1  # the same step twice
    plain = forecast(uow, {"channel": "email", "category": "marketing"}, contacts("c1", "c1"), NOW)
    assert plain["by_outcome"]["send"] == 1 and plain["by_outcome"]["capped"] == 1


def test_control_group_members_are_suppressed_and_service_messages_pass():
    group = ControlGroup(50, "s")
    ids = [f"c{i}" for i in range(40)]
    members = sum(in_control_group(cid, "s", 50) for cid in ids)
    uow = FakeUnitOfWork(PolicyRules(control_group=group))
    answer = forecast(uow, EMAIL, contacts(*ids), NOW)
    assert 0 < members < 40
    assert answer["by_outcome"]["suppressed"] == members and answer["by_outcome"]["send"] == 40 - members
    assert {"outcome": "suppressed", "reason": "control_group", "rule_id": "control_group",
            "count": members} in answer["by_rule"]
    service = forecast(uow, {**EMAIL, "category": "service"}, contacts(*ids), NOW)
    assert service["by_outcome"]["send"] == 40


def test_the_recent_touches_the_caps_count_come_from_the_ledger():
    uow = FakeUnitOfWork(PolicyRules(min_marketing_gap=timedelta(hours=4)))
    uow.ledger.touches.append({"contact_id": "c1", "channel": "email", "category": "marketing", "campaign_id": None,
                               "topic": None, "at": NOW - timedelta(hours=1), "state": "reserved",
                               "request_id": "r0"})
    answer = forecast(uow, EMAIL, contacts("c1", "c2"), NOW)
    assert {"outcome": "capped", "reason": "min_gap", "rule_id": "min_gap", "count": 1} in answer["by_rule"]
