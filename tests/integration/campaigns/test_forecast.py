"""`POST /campaigns/{id}/forecast` end to end: real contacts and channels apps served on loopback ports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.campaigns import create_app as create_campaigns_app
from services.campaigns.service import DEFINITION as CAMPAIGNS
from services.channels.service import build_definition
from services.channels.unit_of_work import ChannelsUnitOfWorkFactory
from services.contacts.service import DEFINITION as CONTACTS
from shared.clock import ManualClock
from tests.support import ServiceHarness, served, unique_namespace
from tools.cli import main as cli_main

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday: 13:00 in Amsterdam, 01:00 (Thursday) in Auckland
POLICY = {"caps": [{"id": "weekly", "limit": 1, "window_seconds": 7 * 86400, "scope": "all", "scope_value": None}],
          "min_marketing_gap_seconds": None, "opt_in_channels": [],
          "quiet_hours": {"sms": [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "09:00", "end": "20:00"}]},
          "control_group": None,
          "capacity": [{"id": "sms-hourly", "channel": "sms", "category": None, "limit": 3, "window": "hour",
                        "time_zone": "Europe/Amsterdam", "when_full": "defer"}]}


at_the_test_time = replace(CAMPAIGNS, create_app=lambda settings: create_campaigns_app(settings, ManualClock(AT)))


@pytest.fixture(scope="module")
def system(broker_namespace, auth_database_url, api_keys):
    """contacts and channels served on loopback; campaigns (in-process) configured with their URLs."""
    contacts = ServiceHarness(CONTACTS, broker_namespace, auth_database_url, api_keys, database_name="fc_contacts")
    channels = ServiceHarness(build_definition(ManualClock(AT)), unique_namespace("tpfcc"), auth_database_url,
                              api_keys, database_name="fc_channels")
    assert channels.put("/policy", json=POLICY).status_code == 200
    with served(contacts.app) as contacts_url, served(channels.app) as channels_url:
        campaigns = ServiceHarness(at_the_test_time, broker_namespace, auth_database_url, api_keys,
                                   database_name="fc_campaigns",
                                   extra_env={"contacts_url": contacts_url, "contacts_api_key": api_keys["marketer"],
                                              "channels_url": channels_url})
        yield contacts, channels, campaigns
        campaigns.close()
    contacts.close()
    channels.close()


def _campaign(campaigns, segment_id: str, entry: dict | None = None) -> str:
    body = {"name": "Spring loans", "category": "marketing", "priority": 5,
            "entry": entry or {"type": "segment", "segment_id": segment_id,
                               "schedule": {"at": "2026-03-05T09:00:00+00:00"}},
            "steps": [{"id": "hello", "type": "send", "channel": "sms", "template": {"body": "Hi"}}]}
    answer = campaigns.post("/campaigns", json=body, role="marketer")
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["campaign_id"]


def test_a_segment_campaign_is_forecast_through_the_gate_and_nothing_is_reserved(system) -> None:
    contacts, channels, campaigns = system
    ids = {}
    for number, (name, tz) in enumerate([("capped", "Europe/Amsterdam"), ("unsub", "Europe/Amsterdam"),
                                         ("night", "Pacific/Auckland"), ("a", "Europe/Amsterdam"),
                                         ("b", "Europe/Amsterdam"), ("c", "Europe/Amsterdam"),
                                         ("d", "Europe/Amsterdam")]):
        made = contacts.post("/contacts", role="ingest", json={"external_id": f"fc-{name}", "time_zone": tz,
                                                               "phone": f"+3161234567{number}",  # one live profile per number
                                                               "attributes": {"cohort": "fc"}})
        assert made.status_code == 201, made.get_json()
        ids[name] = made.get_json()["id"]
    segment = contacts.post("/segments", role="marketer", json={"name": "fc", "definition": "cohort == 'fc'"})
    assert segment.status_code == 201, segment.get_json()
    with ChannelsUnitOfWorkFactory(channels.engine)() as uow:  # the facts channels holds (its worker copies them)
        uow.contacts.lock([ids["unsub"], ids["capped"]])
        uow.contacts.upsert_suppression(ids["unsub"], "sup-1", "global", None, "unsubscribed", True, AT)
        uow.ledger.reserve([{"request_id": "old", "contact_id": ids["capped"], "channel": "email",
                             "category": "marketing"}], AT - timedelta(days=1))
    with channels.engine.connect() as conn:
        before = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()  # noqa: S608
                  for t in ("touches", "capacity_counters", "decisions", "outbox")]
    campaign_id = _campaign(campaigns, segment.get_json()["id"])

    answer = campaigns.post(f"/campaigns/{campaign_id}/forecast", role="marketer")
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert result["members"] == 7
    assert result["step"] == {"step_id": "hello", "channel": "sms", "category": "marketing", "priority": 5,
                              "topic": None}
    assert result["by_outcome"] == {"send": 3, "deferred": 2, "suppressed": 1, "capped": 1, "expired": 0,
                                    "duplicate": 0}
    rows = {(r["outcome"], r["reason"], r["rule_id"]): r["count"] for r in result["by_rule"]}
    assert rows == {("send", "send", None): 3, ("deferred", "capacity", "sms-hourly"): 1,
                    ("deferred", "quiet_hours", None): 1, ("capped", "cap:weekly", "weekly"): 1,
                    ("suppressed", "suppressed:global:unsubscribed", None): 1}
    assert result["evaluated_at"].startswith("2026-03-04T12:00:00") and result["elapsed_ms"] >= 0
    with channels.engine.connect() as conn:
        after = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()  # noqa: S608
                 for t in ("touches", "capacity_counters", "decisions", "outbox")]
    assert after == before
    assert campaigns.get(f"/campaigns/{campaign_id}", role="marketer").get_json()["status"] == "draft"


def test_the_cli_prints_the_forecast_table(system, monkeypatch, capsys):
    contacts, _, campaigns = system
    segment = contacts.post("/segments", role="marketer", json={"name": "fc-cli", "definition": "cohort == 'fc-none'"})
    campaign_id = _campaign(campaigns, segment.get_json()["id"])
    with served(campaigns.app) as url:
        monkeypatch.setenv("TOUCHPOINT_CAMPAIGNS_URL", url)
        monkeypatch.setenv("TOUCHPOINT_API_KEY", campaigns.api_keys["marketer"])
        assert cli_main(["campaign", "forecast", campaign_id]) == 0
        out = capsys.readouterr().out
        assert cli_main(["campaign", "forecast", "no-such-campaign"]) == 1
    assert f"campaign {campaign_id}: 0 members" in out and "no members" in out
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no-such-campaign" in err, err


def test_unknown_and_event_campaigns_are_refused(system):
    _, _, campaigns = system
    assert campaigns.post("/campaigns/no-such-campaign/forecast", role="marketer").status_code == 404
    event = _campaign(campaigns, "", entry={"type": "event", "event_type": "signup"})
    refused = campaigns.post(f"/campaigns/{event}/forecast", role="marketer")
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert "segment" in refused.get_json()["detail"]


def test_a_service_that_does_not_answer_is_a_503_problem(broker_namespace, auth_database_url, api_keys):
    campaigns = ServiceHarness(CAMPAIGNS, broker_namespace, auth_database_url, api_keys, database_name="fc_down",
                               extra_env={"contacts_url": "http://127.0.0.1:9", "contacts_api_key": "k",
                                          "channels_url": "http://127.0.0.1:9"})
    try:
        campaign_id = _campaign(campaigns, "seg-1")
        answer = campaigns.post(f"/campaigns/{campaign_id}/forecast", role="marketer")
        assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
        assert "contacts" in answer.get_json()["detail"]
    finally:
        campaigns.close()
