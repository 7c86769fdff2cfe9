"""The report's control-group comparison on the real PostgreSQL and broker.

First the SQL of `ReportQueries.control_split` against every kind of gate outcome (through the
handlers, no broker); then the whole path: campaigns requests, the channels gate holds back the
control group, campaigns learns it from `message.suppressed`, contacts convert, the report shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.campaigns.domain.lift import MIN_GROUP, control_group_section
from services.campaigns.handlers import definitions, events, reports
from services.campaigns.handlers.context import CampaignCatalog
from services.campaigns.service import DEFINITION
from services.campaigns.unit_of_work import CampaignsUnitOfWorkFactory
from services.channels.service import DEFINITION as CHANNELS
from shared.clock import FixedClock
from shared.control_group import in_control_group
from shared.db.engine import make_engine
from shared.messaging import Message
from tests.integration.campaigns.conftest import Driver, activate, start_harness
from tests.support import ServiceHarness, fresh_database, unique_namespace, wait_for

pytestmark = pytest.mark.integration

NOW = datetime(2099, 3, 4, 12, 0, tzinfo=UTC)
AB = {"name": "ab", "category": "marketing", "priority": 10,
      "entry": {"type": "event", "event_type": "signup"},
      "exit_goals": [{"event_type": "purchase"}],
      "steps": [{"id": "ab", "type": "split", "variants": [{"name": "A", "weight": 1, "next": "hello"},
                                                          {"name": "B", "weight": 1, "next": "hello"}]},
                {"id": "hello", "type": "send", "channel": "email", "template": {"body": "hi"}, "next": "pause"},
                {"id": "pause", "type": "wait", "duration": "1d", "next": "again"},
                {"id": "again", "type": "send", "channel": "email", "template": {"body": "again"}, "next": "rest"},
                {"id": "rest", "type": "wait", "duration": "7d"}]}
# (outcomes of the first send, of the second send or None, converts?) -> the side the contact is on
CASES = {
    "held": ([("suppressed", "control_group")], None, True, "control"),
    "held2": ([("suppressed", "control_group")], [("suppressed", "control_group")], False, "control"),
    "sent": ([("sent", None), ("opened", None)], None, True, "treated"),
    "deferred": ([("deferred", "quiet_hours")], None, False, "treated"),
    "capped": ([("capped", "cap:weekly")], None, True, "treated"),
    "late_expiry": ([("expired", "expired:quiet_hours")], None, False, "treated"),
    "at_delivery": ([("suppressed", "at_delivery:unsubscribed")], None, False, "treated"),
    "failed": ([("failed", "delivery:dead")], None, False, "treated"),
    "opted_out": ([("suppressed", "unsubscribed")], None, True, None),
    "expired": ([("expired", "expired")], None, False, None),
    "duplicate": ([("duplicate", "duplicate_step")], None, False, None),
    "switched_on": ([("sent", None)], [("suppressed", "control_group")], True, "mixed"),
    "not_yet": (None, None, True, None),  # enrolled and converted, but no outcome came back yet
}


@pytest.fixture(scope="module")
def units() -> Iterator[CampaignsUnitOfWorkFactory]:
    engine = make_engine(fresh_database("campaigns_lift", DEFINITION.migrations_dir))
    yield CampaignsUnitOfWorkFactory(engine)
    engine.dispose()


def _event(contact_id: str, event_type: str) -> Message:
    return Message(f"contact.event.{event_type}", {"event_id": f"{event_type}-{contact_id}", "contact_id": contact_id,
                                                   "type": event_type, "occurred_at": NOW, "data": {}})


def _requests(units: CampaignsUnitOfWorkFactory, campaign_id: str, step_id: str) -> dict[str, str]:
    with units.read() as uow:
        return {cid: rid for rid, cid in uow.outbox.conn.exec_driver_sql(
            "SELECT request_id, contact_id FROM step_sends WHERE campaign_id = %s AND step_id = %s",
            (campaign_id, step_id)).all()}


def _outcomes(request_ids: dict[str, str], which: int) -> list[Message]:
    return [Message(f"message.{outcome}", {"request_id": request_ids[cid], "outcome": outcome, "reason": reason,
                                           "decided_at": NOW})
            for cid, case in CASES.items() if case[which] for outcome, reason in case[which]]


def test_the_split_query_puts_every_gate_outcome_on_its_side(units: CampaignsUnitOfWorkFactory) -> None:
    with units() as uow:
        campaign_id = definitions.create_campaign(uow, AB, {"email"})["campaign_id"]
        definitions.transition(uow, campaign_id, "activate", {"email"}, NOW)
    engine = events.Engine(CampaignCatalog(), clock=FixedClock(NOW))
    with units() as uow:
        for cid in CASES:
            events.handle_contact_event(uow, _event(cid, "signup"), engine)
    with units() as uow:
        events.handle_message_outcomes(uow, _outcomes(_requests(units, campaign_id, "hello"), 0))
    with units() as uow:  # the wait is over for those with a second send
        for enrollment in [e for cid, case in CASES.items() if case[1] for e in uow.enrollments.lock_running(cid)]:
            events.handle_step_due(uow, Message("step.due", {"enrollment_id": enrollment.enrollment_id,
                                                             "step_id": "pause"}), engine)
    with units() as uow:
        events.handle_message_outcomes(uow, _outcomes(_requests(units, campaign_id, "again"), 1))
    with units() as uow:
        for cid, case in CASES.items():
            if case[2]:
                events.handle_contact_event(uow, _event(cid, "purchase"), engine)
    with units.read() as uow:
        report = reports.campaign_report(uow, campaign_id)
        variant_of = dict(uow.outbox.conn.exec_driver_sql(
            "SELECT contact_id, variant FROM enrollments WHERE campaign_id = %s", (campaign_id,)).all())

    def expected(contacts: set[str]) -> dict:
        sides = {side: [cid for cid, case in CASES.items() if case[3] == side and cid in contacts]
                 for side in ("treated", "control", "mixed")}
        return control_group_section({side: (len(ids), sum(CASES[cid][2] for cid in ids))
                                      for side, ids in sides.items()})

    assert report["enrollments"]["converted"] == sum(case[2] for case in CASES.values())
    assert report["control_group"] == expected(set(CASES))
    assert (report["control_group"]["treated"]["contacts"], report["control_group"]["control"]["contacts"],
            report["control_group"]["mixed"]) == (6, 2, 1)
    for name in ("A", "B"):
        assert report["variants"][name]["control_group"] == expected({c for c, v in variant_of.items() if v == name})


GROUP = {"percent": 50, "salt": "lift-it"}
POLICY = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [],
          "control_group": GROUP, "capacity": []}
OFFER = {"name": "offer with a control group", "category": "marketing",
         "entry": {"type": "event", "event_type": "visited"},
         "exit_goals": [{"event_type": "purchased"}],
         "steps": [{"id": "offer", "type": "send", "channel": "web", "next": "window",
                    "template": {"body": "10 % off this week"}},
                   {"id": "window", "type": "wait", "duration": "7d"}]}


@pytest.fixture
def gate_and_campaigns(amqp_url: str, auth_database_url: str,
                       api_keys: dict[str, str]) -> Iterator[tuple[ServiceHarness, ServiceHarness, str]]:
    """The channels gate (web offers only, the control group on) and campaigns on one fresh namespace."""
    namespace = unique_namespace("tplift")
    channels = ServiceHarness(CHANNELS, namespace, auth_database_url, api_keys, amqp_url=amqp_url,
                              database_name="lift_channels",
                              extra_env={"adapters": json.dumps({"web": {"adapter": "web_offers"}})})
    campaigns = None
    try:
        answer = channels.put("/policy", json=POLICY)
        assert answer.status_code == 200, answer.get_json()
        channels.start_worker()
        campaigns = start_harness(namespace, auth_database_url, api_keys, "lift_campaigns")
        yield channels, campaigns, namespace
    finally:
        if campaigns is not None:
            campaigns.close()
        channels.close()


def _pick(member: bool, count: int) -> list[str]:
    ids = (f"lift-{i}" for i in range(10_000))
    return [cid for cid in ids if in_control_group(cid, GROUP["salt"], GROUP["percent"]) == member][:count]


def test_the_report_compares_treated_contacts_with_the_control_group_the_gate_held_back(gate_and_campaigns):
    channels, campaigns, namespace = gate_and_campaigns
    campaign_id = activate(campaigns, OFFER)
    control, treated = _pick(True, MIN_GROUP), _pick(False, MIN_GROUP)
    driver = Driver(namespace)
    try:
        for cid in control + treated:
            driver.contact(cid)
            driver.event(cid, "visited")

        def report() -> dict:
            answer = campaigns.get(f"/campaigns/{campaign_id}/report", role="marketer")
            assert answer.status_code == 200
            return answer.get_json()

        wait_for(lambda: (report()["control_group"]["control"]["contacts"],
                          report()["control_group"]["treated"]["contacts"]) == (MIN_GROUP, MIN_GROUP),
                 timeout=90, message="every offer decided by the gate and reported back")
        before = report()["control_group"]
        # nobody bought yet: no difference, and no lift with nothing to divide by
        assert (before["difference"], before["lift"], before["reason"]) == (0, None, "no_control_conversions")
        buyers = treated[:18] + control[:6]  # 60 % of the treated against 20 % of the control group
        for cid in buyers:
            driver.event(cid, "purchased")
        wait_for(lambda: report()["enrollments"]["converted"] == len(buyers), timeout=60, message="conversions")
    finally:
        driver.close()

    section = report()["control_group"]
    assert section["treated"] == {"contacts": 30, "converted": 18, "rate": pytest.approx(0.6)}
    assert section["control"] == {"contacts": 30, "converted": 6, "rate": pytest.approx(0.2)}
    assert section["difference"] == pytest.approx(0.4) and section["lift"] == pytest.approx(2.0)
    error = (0.6 * 0.4 / 30 + 0.2 * 0.8 / 30) ** 0.5
    assert section["ci95"] == {"low": pytest.approx(0.4 - 1.959964 * error), "high": pytest.approx(0.4 + 1.959964 * error)}
    assert (section["method"], section["mixed"], section["reason"]) == ("wald", 0, None)
    offer = report()["steps"]["offer"]
    assert offer["suppressed_by_reason"] == {"control_group": 30} and offer["sent"] == 30
    held = channels.get(f"/decisions?contact_id={control[0]}").get_json()
    assert [(d["outcome"], d["reason"]) for d in held] == [("suppressed", "control_group")]
