"""The gate's use case (`handlers.gate.decide_requests`) with in-memory fakes of its repositories."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from services.channels.domain import FrequencyCap, PolicyRules, QuietHours, SendWindow, Suppression
from services.channels.handlers.gate import decide_requests
from tests.unit.channels.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
ONE_A_DAY = PolicyRules(caps=(FrequencyCap("daily", 1, timedelta(days=1)),))


def request(request_id: str, contact_id: str = "c1", **fields: Any) -> dict[str, Any]:
    """A loaded `message.requested` payload."""
    return {"request_id": request_id, "contact_id": contact_id, "channel": fields.pop("channel", "email"),
            "category": fields.pop("category", "marketing"), "campaign_id": None, "campaign_version": None,
            "step_id": None, "occurrence": None, "topic": None, "priority": 0, "expires_at": None,
            "content": {"subject": "Hi"}, "recipient": None, "deferrals": 0, **fields}


def outcomes(uow: FakeUnitOfWork) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in uow.decisions.rows:
        found.setdefault(row["request_id"], []).append(row["outcome"])
    return found


def test_a_send_reserves_a_touch_and_a_job_and_publishes_nothing():
    uow = FakeUnitOfWork()
    decide_requests(uow, [request("r1")], NOW)
    assert outcomes(uow) == {"r1": ["send"]}
    assert [(t["request_id"], t["state"]) for t in uow.ledger.touches] == [("r1", "reserved")]
    assert [(j["request_id"], j["touch_id"]) for j in uow.jobs.jobs] == [("r1", 1)]
    assert uow.jobs.jobs[0]["request"]["request_id"] == "r1"  # stored in wire form for the worker
    assert uow.published == []
    assert uow.contacts.locked == [["c1"]]
    assert uow.rules.loads == 1


def test_one_batch_locks_its_contacts_once_in_id_order_and_loads_rules_once():
    uow = FakeUnitOfWork()
    decide_requests(uow, [request("r1", "c9"), request("r2", "c2"), request("r3", "c5")], NOW)
    assert uow.contacts.locked == [["c2", "c5", "c9"]]
    assert uow.rules.loads == 1
    assert sorted(outcomes(uow)) == ["r1", "r2", "r3"]


def test_redeliveries_are_neither_recorded_nor_announced_again():
    uow = FakeUnitOfWork(ONE_A_DAY)
    decide_requests(uow, [request("r1"), request("r1")], NOW)  # twice in one batch
    decide_requests(uow, [request("r1"), request("r2")], NOW)  # again in a later batch
    assert outcomes(uow) == {"r1": ["send"], "r2": ["capped"]}
    assert [m[0] for m in uow.published] == ["message.capped"]
    assert len(uow.ledger.touches) == 1


def test_a_second_request_for_a_live_step_occurrence_is_a_duplicate():
    step = {"campaign_id": "camp", "step_id": "s1", "occurrence": "1"}
    uow = FakeUnitOfWork()
    decide_requests(uow, [request("r1", **step), request("r2", **step)], NOW)
    decide_requests(uow, [request("r3", **step), request("r4", **{**step, "occurrence": "2"})], NOW)
    assert outcomes(uow) == {"r1": ["send"], "r2": ["duplicate"], "r3": ["duplicate"], "r4": ["send"]}
    assert [(m[0], m[1]["request_id"]) for m in uow.published] == [("message.duplicate", "r2"),
                                                                   ("message.duplicate", "r3")]
    assert uow.published[0][1]["reason"] == "duplicate:step_occurrence"


def test_a_released_touch_frees_its_step_occurrence():
    step = {"campaign_id": "camp", "step_id": "s1", "occurrence": "1"}
    uow = FakeUnitOfWork()
    decide_requests(uow, [request("r1", **step)], NOW)
    uow.ledger.release(touch_id=1)  # the send failed for good
    decide_requests(uow, [request("r2", **step)], NOW)
    assert outcomes(uow) == {"r1": ["send"], "r2": ["send"]}


def test_caps_count_touches_reserved_earlier_in_the_batch_higher_priority_first():
    uow = FakeUnitOfWork(ONE_A_DAY)
    decide_requests(uow, [request("low", priority=1), request("high", channel="sms", priority=9)], NOW)
    assert outcomes(uow) == {"high": ["send"], "low": ["capped"]}
    assert uow.published[0][1]["rule_id"] == "daily"


def test_a_deferral_carries_the_request_back_with_one_more_deferral_and_is_decided_again():
    morning = PolicyRules(quiet_hours=QuietHours({"email": (SendWindow(frozenset(range(7)), time(8), time(9)),)}))
    uow = FakeUnitOfWork(morning)
    uow.contacts.lock(["c1"])["c1"].time_zone = "Europe/Berlin"
    decide_requests(uow, [request("r1")], NOW)
    (kind, payload, key), = uow.published
    assert (kind, key) == ("message.deferred", "c1")
    assert payload["request"]["deferrals"] == 1
    assert payload["defer_until"] == "2026-03-05T07:00:00+00:00"
    decide_requests(uow, [request("r1")], NOW)  # a redelivery of the original: skipped
    decide_requests(uow, [request("r1", deferrals=1)], datetime(2026, 3, 5, 7, 0, tzinfo=UTC))
    assert outcomes(uow) == {"r1": ["deferred", "send"]}
    assert [r["attempt"] for r in uow.decisions.rows] == [0, 1]


def test_a_suppressed_contact_gets_a_recorded_and_announced_suppression():
    uow = FakeUnitOfWork()
    uow.contacts.suppressions["c1"].append(Suppression("unsub", "global", None, "unsubscribed"))
    decide_requests(uow, [request("r1"), request("r2", category="transactional")], NOW)
    assert outcomes(uow) == {"r1": ["suppressed"], "r2": ["send"]}
    (kind, payload, _), = uow.published
    assert (kind, payload["reason"], payload["rule_id"]) == ("message.suppressed", "suppressed:global:unsubscribed",
                                                             "unsub")
