"""contact.merged in channels against the in-memory repositories: one ledger per person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.channels.domain import FrequencyCap, PolicyRules
from services.channels.handlers.contact_facts import handle_contact_facts
from services.channels.handlers.gate import decide_requests
from shared.messaging import Message
from tests.unit.channels.fakes import FakeUnitOfWork
from tests.unit.channels.test_gate_handler import outcomes, request

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TWO_A_WEEK = PolicyRules(caps=(FrequencyCap("weekly", 2, timedelta(days=7)),))


def _merged(survivor: str, duplicate: str) -> Message:
    return Message(type="contact.merged", payload={"contact_id": survivor, "duplicate_id": duplicate,
                                                   "merged_at": NOW}, key=survivor)


def test_after_a_merge_caps_count_both_profiles_touches_as_one_persons():
    uow = FakeUnitOfWork(TWO_A_WEEK)
    decide_requests(uow, [request("to-s", "s"), request("to-d", "d")], NOW - timedelta(days=1))
    decide_requests(uow, [request("probe", "s")], NOW - timedelta(hours=1))  # alone, s had room
    assert outcomes(uow)["probe"] == ["send"]
    uow.ledger.release(request_ids=["probe"], cancelled=True)

    handle_contact_facts(uow, [_merged("s", "d")])
    assert uow.contacts.locked[-1] == ["d", "s"]  # both profiles under the gate's lock
    assert {t["contact_id"] for t in uow.ledger.touches} == {"s"}
    assert {r["contact_id"] for r in uow.decisions.rows} == {"s"}  # "why (not)" shows one person
    decide_requests(uow, [request("next", "s")], NOW)
    assert outcomes(uow)["next"] == ["capped"]


def test_the_duplicate_keeps_no_facts_but_a_hard_merged_suppression_and_a_shared_step_is_not_resent():
    uow = FakeUnitOfWork()
    step = {"campaign_id": "camp", "step_id": "s0", "occurrence": "o1"}
    decide_requests(uow, [request("a", "s", **step), request("b", "d", **step)], NOW - timedelta(days=1))
    uow.contacts.consents["d"]["email"] = "granted"
    handle_contact_facts(uow, [_merged("s", "d")])
    occurrences = sorted(t["occurrence"] for t in uow.ledger.touches)
    assert occurrences == ["o1", "o1@merged:2"]  # both still count; the survivor's touch holds the step
    assert uow.contacts.consents.get("d") is None
    assert [(s.id, str(s.reason)) for s in uow.contacts.suppressions["d"]] == [("merged", "merged")]
    decide_requests(uow, [request("again", "s", **step), request("late", "d", category="transactional")], NOW)
    assert outcomes(uow)["again"] == ["duplicate"] and outcomes(uow)["late"] == ["suppressed"]
