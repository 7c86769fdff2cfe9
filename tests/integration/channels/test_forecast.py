"""`POST /forecast` against the real PostgreSQL: the gate's decisions counted, and nothing reserved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.channels.domain import CapacityRule
from services.channels.service import build_definition
from services.channels.unit_of_work import ChannelsUnitOfWorkFactory
from tests.support import ServiceHarness, unique_namespace

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday: 13:00 in Amsterdam, 01:00 (Thursday) in Auckland
CALLS = {"id": "calls-daily", "channel": "call", "category": None, "limit": 3, "window": "day",
         "time_zone": "Europe/Amsterdam", "when_full": "defer"}
POLICY = {"caps": [{"id": "weekly", "limit": 1, "window_seconds": 7 * 86400, "scope": "all", "scope_value": None}],
          "min_marketing_gap_seconds": None, "opt_in_channels": [],
          "quiet_hours": {"call": [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "09:00", "end": "20:00"}]},
          "control_group": None, "capacity": [CALLS]}
MESSAGE = {"channel": "call", "category": "marketing", "campaign_id": "camp-1", "step_id": "call-1"}
# what a forecast must never change
TABLES = ("touches", "capacity_counters", "capacity_claims", "decisions", "deliveries", "contact_policy",
          "suppressions", "outbox")


@pytest.fixture
def api(auth_database_url, api_keys, amqp_url):
    harness = ServiceHarness(build_definition(), unique_namespace("tpfc"), auth_database_url, api_keys,
                             amqp_url=amqp_url, database_name="channels_forecast")
    assert harness.put("/policy", json=POLICY).status_code == 200
    yield harness
    harness.close()


def _snapshot(api) -> dict[str, list]:
    with api.engine.connect() as conn:
        return {table: [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]  # noqa: S608
                for table in TABLES}


def _seed(api) -> None:
    """c-capped has a touch this week, c-unsub an unsubscribe, c-night lives in Auckland; the capacity window
    of the day already has one unit taken by the gate."""
    with ChannelsUnitOfWorkFactory(api.engine)() as uow:
        uow.contacts.lock(["c-capped", "c-unsub", "c-night", "c-a", "c-b", "c-c"])
        uow.contacts.update_profile("c-night", {"time_zone": "Pacific/Auckland"}, AT - timedelta(days=9))
        uow.contacts.upsert_suppression("c-unsub", "sup-9", "global", None, "unsubscribed", True,
                                        AT - timedelta(days=3))
        uow.ledger.reserve([{"request_id": "old-1", "contact_id": "c-capped", "channel": "email",
                             "category": "marketing"}], AT - timedelta(days=2))
        key = CapacityRule(**CALLS).key(AT)
        uow.ledger.capacity.hold([key])
        uow.ledger.reserve([{"request_id": "call-0", "contact_id": "c-other", "channel": "call",
                             "category": "service"}], AT - timedelta(hours=1), {"call-0": [key]}, {"calls-daily": 3})


def _counts(answer: dict) -> dict[tuple, int]:
    return {(r["outcome"], r["reason"], r["rule_id"]): r["count"] for r in answer["by_rule"]}


def test_a_forecast_counts_caps_suppressions_quiet_hours_and_capacity_and_reserves_nothing(api):
    _seed(api)
    before = _snapshot(api)
    body = {"message": MESSAGE, "at": AT.isoformat(),
            "contacts": [{"contact_id": cid} for cid in ("c-capped", "c-unsub", "c-night", "c-a", "c-b", "c-c")]}
    answer = api.post("/forecast", json=body, role="marketer")
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert result["evaluated"] == 6
    assert result["by_outcome"] == {"send": 2, "deferred": 2, "suppressed": 1, "capped": 1, "expired": 0,
                                    "duplicate": 0}
    assert _counts(result) == {("capped", "cap:weekly", "weekly"): 1,
                               ("suppressed", "suppressed:global:unsubscribed", None): 1,
                               ("deferred", "quiet_hours", None): 1,
                               ("send", "send", None): 2,  # c-a and c-b take the last two units of 3 ...
                               ("deferred", "capacity", "calls-daily"): 1}  # ... and c-c finds none
    assert result["capacity_taken"] == {"calls-daily": 2}
    assert result["evaluated_at"].startswith("2026-03-04T12:00:00")
    assert _snapshot(api) == before  # no touch, unit, claim, decision, job, contact row or message

    # the next chunk of the same forecast passes back what the earlier ones would take
    more = api.post("/forecast", json={"message": MESSAGE, "at": AT.isoformat(), "contacts": [{"contact_id": "c-z"}],
                                       "capacity_taken": {"calls-daily": 0}}).get_json()
    assert more["by_outcome"]["send"] == 1
    full = api.post("/forecast", json={"message": MESSAGE, "at": AT.isoformat(), "contacts": [{"contact_id": "c-z"}],
                                       "capacity_taken": result["capacity_taken"]}).get_json()
    assert _counts(full) == {("deferred", "capacity", "calls-daily"): 1}
    assert _snapshot(api) == before


def test_the_callers_time_zone_stands_in_for_a_contact_the_copy_does_not_know(api):
    body = {"message": MESSAGE, "at": AT.isoformat(),
            "contacts": [{"contact_id": "new-1", "time_zone": "Pacific/Auckland"}, {"contact_id": "new-2"}]}
    result = api.post("/forecast", json=body).get_json()
    assert _counts(result) == {("deferred", "quiet_hours", None): 1, ("send", "send", None): 1}


@pytest.mark.parametrize(("body", "field"), [
    ({"contacts": [{"contact_id": "c1"}]}, "message"),
    ({"message": MESSAGE}, "contacts"),
    ({"message": MESSAGE, "contacts": []}, "contacts"),
    ({"message": {**MESSAGE, "category": "spam"}, "contacts": [{"contact_id": "c1"}]}, "message"),
    ({"message": MESSAGE, "contacts": [{"contact_id": f"c{i}"} for i in range(5001)]}, "contacts"),
    ({"message": MESSAGE, "contacts": [{"id": "c1"}]}, "contacts"),
    ({"message": MESSAGE, "contacts": [{"contact_id": "c1"}], "capacity_taken": {"calls-daily": -1}},
     "capacity_taken"),
    ({"message": MESSAGE, "contacts": [{"contact_id": "c1"}], "at": "2026-03-04T12:00:00"}, "at"),
])
def test_bad_input_is_a_422_naming_the_field(api, body, field):
    answer = api.post("/forecast", json=body)
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert field in answer.get_json()["errors"]


def test_an_agent_may_not_forecast(api):
    assert api.post("/forecast", json={"message": MESSAGE, "contacts": [{"contact_id": "c1"}]},
                    role="agent").status_code == 403
