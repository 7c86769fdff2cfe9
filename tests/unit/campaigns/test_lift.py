"""The control-group section of the report: its statistics on known counts, its reasons, and the report
handler on the in-memory fakes (enrollments, gate outcomes, exit goals, A/B variants)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from services.campaigns.domain.lift import MIN_GROUP, control_group_section, fold_split
from services.campaigns.handlers.context import CampaignCatalog
from services.campaigns.handlers.events import Engine, handle_contact_event, handle_message_outcomes
from services.campaigns.handlers.reports import campaign_report
from shared.clock import FixedClock
from shared.messaging import Message
from tests.unit.campaigns.fakes import FakeUnitOfWork

Z95 = 1.959963984540054
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def test_known_counts_give_the_wald_interval_and_the_lift() -> None:
    """20 of 100 treated against 10 of 100 control: +10 points, standard error exactly 0.05, lift +100 %."""
    section = control_group_section({"treated": (100, 20), "control": (100, 10)})
    assert section["treated"] == {"contacts": 100, "converted": 20, "rate": pytest.approx(0.2)}
    assert section["control"] == {"contacts": 100, "converted": 10, "rate": pytest.approx(0.1)}
    assert section["difference"] == pytest.approx(0.1) and section["lift"] == pytest.approx(1.0)
    assert section["ci95"]["low"] == pytest.approx(0.1 - Z95 * 0.05)  # 0.00200
    assert section["ci95"]["high"] == pytest.approx(0.1 + Z95 * 0.05)  # 0.19800
    assert (section["reason"], section["method"], section["mixed"]) == (None, "wald", 0)


def test_a_lift_whose_interval_spans_zero() -> None:
    """36 of 60 against 12 of 30: +20 points, but with 30 control contacts the interval includes 0."""
    section = control_group_section({"treated": (60, 36), "control": (30, 12), "mixed": (2, 1)})
    error = math.sqrt(0.6 * 0.4 / 60 + 0.4 * 0.6 / 30)
    assert section["difference"] == pytest.approx(0.2) and section["lift"] == pytest.approx(0.5)
    assert section["ci95"] == {"low": pytest.approx(0.2 - Z95 * error), "high": pytest.approx(0.2 + Z95 * error)}
    assert section["ci95"]["low"] < 0 < section["ci95"]["high"]
    assert section["mixed"] == 2  # counted apart, in neither side


@pytest.mark.parametrize(("counts", "reason"), [
    ({"treated": (500, 50)}, "no_control_group"),
    ({"control": (500, 50)}, "no_treated_contacts"),
    ({"treated": (500, 50), "control": (MIN_GROUP - 1, 3)}, "too_few_contacts"),
    ({"treated": (MIN_GROUP - 1, 3), "control": (500, 50)}, "too_few_contacts"),
])
def test_no_figures_without_both_groups_of_enough_contacts(counts: dict, reason: str) -> None:
    section = control_group_section(counts)
    assert (section["difference"], section["ci95"], section["lift"], section["reason"]) == (None, None, None, reason)
    assert section["treated"]["contacts"] == counts.get("treated", (0, 0))[0]  # the counts are still shown


def test_the_minimum_group_is_enough_and_a_control_without_conversions_leaves_only_the_lift_out() -> None:
    assert control_group_section({"treated": (MIN_GROUP, 3), "control": (MIN_GROUP, 1)})["reason"] is None
    section = control_group_section({"treated": (100, 10), "control": (100, 0)})
    assert section["difference"] == pytest.approx(0.1) and section["ci95"]["low"] > 0
    assert (section["lift"], section["reason"]) == (None, "no_control_conversions")
    empty = control_group_section({})
    assert empty["treated"] == {"contacts": 0, "converted": 0, "rate": None}


def test_fold_split_sums_rows_by_variant_and_group() -> None:
    rows = [(None, "treated", True, 3), (None, "treated", False, 7), (None, "control", False, 4),
            ("A", "control", True, 1), ("A", "mixed", False, 2)]
    assert fold_split(rows) == {None: {"treated": (10, 3), "control": (4, 0)},
                                "A": {"control": (1, 1), "mixed": (2, 0)}}


AB = {"name": "ab", "category": "marketing", "priority": 10,
      "entry": {"type": "event", "event_type": "signup"},
      "exit_goals": [{"event_type": "purchase"}],
      "steps": [{"id": "ab", "type": "split", "variants": [{"name": "A", "weight": 1, "next": "mail_a"},
                                                          {"name": "B", "weight": 1, "next": "mail_b"}]},
                {"id": "mail_a", "type": "send", "channel": "email", "template": {"body": "A"}, "next": "pause"},
                {"id": "mail_b", "type": "send", "channel": "email", "template": {"body": "B"}, "next": "pause"},
                {"id": "pause", "type": "wait", "duration": "7d"}]}


def _event(contact_id: str, event_type: str) -> Message:
    return Message(f"contact.event.{event_type}", {"event_id": f"{event_type}-{contact_id}", "contact_id": contact_id,
                                                   "type": event_type, "occurred_at": NOW.isoformat(), "data": {}})


def test_the_report_splits_conversions_by_what_the_gate_recorded_overall_and_per_variant() -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", AB)
    engine = Engine(CampaignCatalog(), clock=FixedClock(NOW))
    contacts = [f"c{i:03d}" for i in range(200)]
    for cid in contacts:
        uow.contacts.contacts[cid] = {"contact_id": cid, "email": f"{cid}@example.com", "attributes": {}}
        handle_contact_event(uow, _event(cid, "signup"), engine)
    requests = {r["payload"]["contact_id"]: r["payload"] for r in uow.of_type("message.requested")}
    assert len(requests) == 200
    # the gate: every 4th contact held back; a few others suppressed for opting out (in neither side)
    control = set(contacts[::4])
    opted_out = {c for c in contacts[1::10] if c not in control}
    outcomes = [("suppressed", "control_group") if c in control else ("suppressed", "unsubscribed")
                if c in opted_out else ("sent", None) for c in contacts]
    handle_message_outcomes(uow, [Message(f"message.{o}", {
        "request_id": requests[c]["request_id"], "outcome": o, "reason": reason, "rule_id": reason,
        "decided_at": NOW.isoformat()}) for c, (o, reason) in zip(contacts, outcomes, strict=True)])
    # conversions: every 3rd contact, treated or not; one enrolled contact converts but never reached the gate
    buyers = set(contacts[::3])
    for cid in buyers:
        handle_contact_event(uow, _event(cid, "purchase"), engine)

    report = campaign_report(uow, "cmp")

    treated = [c for c in contacts if c not in control and c not in opted_out]
    section = report["control_group"]
    assert section["control"]["contacts"] == 50 and section["treated"]["contacts"] == len(treated)
    assert section["control"]["converted"] == len(control & buyers)
    assert section["treated"]["converted"] == len(set(treated) & buyers)
    expected = control_group_section({"treated": (len(treated), len(set(treated) & buyers)),
                                      "control": (50, len(control & buyers))})
    assert section == expected and section["reason"] is None
    assert report["enrollments"]["converted"] == len(buyers)
    variant_of = {e.contact_id: e.variant for e in uow.enrollments.enrollments.values()}
    for name in ("A", "B"):
        mine = {c for c in contacts if variant_of[c] == name}
        part = report["variants"][name]["control_group"]
        assert part["control"] == {"contacts": len(mine & control), "converted": len(mine & control & buyers),
                                   "rate": pytest.approx(len(mine & control & buyers) / len(mine & control))}
        assert part["treated"]["contacts"] == len(mine & set(treated))
        assert report["variants"][name]["enrolled"] == len(mine)


def test_a_campaign_without_a_control_group_says_so() -> None:
    uow = FakeUnitOfWork()
    uow.campaigns.add_campaign("cmp", AB)
    engine = Engine(CampaignCatalog(), clock=FixedClock(NOW))
    uow.contacts.contacts["solo"] = {"contact_id": "solo", "email": "solo@example.com", "attributes": {}}
    handle_contact_event(uow, _event("solo", "signup"), engine)
    (request,) = uow.of_type("message.requested")
    handle_message_outcomes(uow, [Message("message.deferred", {
        "request_id": request["payload"]["request_id"], "outcome": "deferred", "reason": "quiet_hours",
        "decided_at": NOW.isoformat()})])
    report = campaign_report(uow, "cmp")
    assert report["control_group"]["treated"]["contacts"] == 1  # a deferred send got past the check
    assert report["control_group"]["reason"] == "no_control_group"
    (variant,) = report["variants"].values()
    assert variant["control_group"]["reason"] == "no_control_group"
