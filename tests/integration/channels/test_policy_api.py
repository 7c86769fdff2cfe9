"""`PUT /policy` needs the whole document and refuses an empty one by default; `PATCH /policy` merges."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import text

from services.channels.service import build_definition
from tests.support import ServiceHarness, unique_namespace, wait_for

pytestmark = pytest.mark.integration
CAP = {"id": "weekly", "limit": 3, "window_seconds": 604800, "scope": "all", "scope_value": None}
FULL = {"caps": [CAP], "min_marketing_gap_seconds": 3600, "opt_in_channels": ["email"],
        "quiet_hours": {"sms": [{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "20:00"}]},
        "control_group": None, "capacity": []}
EMPTY = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [], "control_group": None,
         "capacity": []}
MERGE = "application/merge-patch+json"


@pytest.fixture
def api(auth_database_url, api_keys, amqp_url):
    harness = ServiceHarness(build_definition(), unique_namespace("tppol"), auth_database_url, api_keys,
                             amqp_url=amqp_url, database_name="channels_policy")
    assert harness.put("/policy", json=FULL).status_code == 200
    yield harness
    harness.close()


def _policy(api) -> dict:
    body = api.get("/policy").get_json()
    body.pop("version")
    return body


@pytest.mark.parametrize("missing", sorted(FULL))
def test_put_names_each_missing_field_and_changes_nothing(api, missing):
    partial = {k: v for k, v in FULL.items() if k != missing}
    answer = api.put("/policy", json=partial)
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert missing in answer.get_json()["errors"]
    assert _policy(api) == FULL


@pytest.mark.parametrize(("data", "content_type"), [("caps=", "application/x-www-form-urlencoded"),
                                                     ('{"caps": []}', "text/plain"), ("", None)])
def test_a_body_that_is_not_a_policy_document_never_resets_the_rules(api, data, content_type):
    answer = api.put("/policy", data=data, content_type=content_type)
    assert 400 <= answer.status_code < 500 and answer.mimetype == "application/problem+json"
    assert _policy(api) == FULL


def test_an_empty_rule_set_needs_allow_empty(api):
    refused = api.put("/policy", json=EMPTY)
    assert refused.status_code == 422 and "allow_empty" in refused.get_json()["errors"]
    assert _policy(api) == FULL
    assert api.put("/policy?allow_empty=true", json=EMPTY).status_code == 200
    assert _policy(api) == EMPTY


@pytest.mark.parametrize("content_type", [MERGE, "application/json"])
def test_patch_changes_only_what_it_names(api, content_type):
    patch = '{"opt_in_channels": ["email", "sms"], "quiet_hours": {"call": [{"weekdays": [5], ' \
            '"start": "10:00", "end": "12:00"}]}}'
    answer = api.patch("/policy", data=patch, content_type=content_type)
    assert answer.status_code == 200, answer.get_json()
    expected = {**FULL, "opt_in_channels": ["email", "sms"],
                "quiet_hours": {**FULL["quiet_hours"], "call": [{"weekdays": [5], "start": "10:00", "end": "12:00"}]}}
    assert _policy(api) == expected


def test_patch_null_removes_a_member(api):
    answer = api.patch("/policy", json={"min_marketing_gap_seconds": None, "quiet_hours": {"sms": None}})
    assert answer.status_code == 200, answer.get_json()
    assert _policy(api) == {**FULL, "min_marketing_gap_seconds": None, "quiet_hours": {}}


def test_patch_null_switches_the_control_group_off(api):
    group = {"percent": 5.0, "salt": "2026-h1"}
    assert api.patch("/policy", json={"control_group": group}).status_code == 200
    assert _policy(api) == {**FULL, "control_group": group}
    answer = api.patch("/policy", json={"control_group": None})
    assert answer.status_code == 200, answer.get_json()
    assert _policy(api) == FULL


def test_a_put_without_the_control_group_keeps_it(api):
    """A client written before `control_group` existed must not switch an operator's group off."""
    group = {"percent": 5.0, "salt": "2026-h1"}
    assert api.patch("/policy", json={"control_group": group}).status_code == 200
    older_client = {k: v for k, v in FULL.items() if k != "control_group"}
    answer = api.put("/policy", json=older_client)
    assert answer.status_code == 422 and "control_group" in answer.get_json()["errors"]
    assert _policy(api)["control_group"] == group


def test_a_document_stored_before_the_control_group_existed_reads_as_off(api):
    stored = {k: v for k, v in FULL.items() if k != "control_group"}
    with api.engine.begin() as conn:
        conn.execute(text("UPDATE policy_rules SET document = CAST(:doc AS jsonb) WHERE id = 1"),
                     {"doc": json.dumps(stored)})
    assert _policy(api) == FULL
    assert api.patch("/policy", json={"opt_in_channels": ["sms"]}).status_code == 200
    assert _policy(api) == {**FULL, "opt_in_channels": ["sms"]}


@pytest.mark.parametrize(("patch", "field"), [
    ({"caps": None}, "caps"),  # the rule set keeps every member; [] clears the caps
    ({"caps": [{"id": "x", "limit": "many", "window_seconds": 1}]}, "caps"),
    ({"surprise": 1}, "surprise"),
    ({"quiet_hours": {"email": [{"weekdays": [9], "start": "08:00", "end": "21:00"}]}}, "quiet_hours"),
])
def test_an_invalid_patch_names_the_field_and_changes_nothing(api, patch, field):
    answer = api.patch("/policy", json=patch)
    assert answer.status_code == 422 and field in answer.get_json()["errors"], answer.get_json()
    assert _policy(api) == FULL


def test_a_patch_that_empties_the_rules_needs_allow_empty(api):
    clear = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": None, "opt_in_channels": []}
    clear["quiet_hours"] = {"sms": None}
    assert api.patch("/policy", json=clear).status_code == 422
    assert _policy(api) == FULL
    assert api.patch("/policy?allow_empty=true", json=clear).status_code == 200
    assert _policy(api) == EMPTY


def test_patch_and_put_are_for_operators(api):
    assert api.patch("/policy", role="marketer", json={"opt_in_channels": []}).status_code == 403
    assert api.put("/policy", role="marketer", json=FULL).status_code == 403


def test_concurrent_patches_both_apply(api):
    """Two patches that both read the same version must not lose one another's change (row lock)."""
    version = api.get("/policy").get_json()["version"]
    database = api.engine.url.database
    answers: list = []
    blocker = api.engine.connect()
    transaction = blocker.begin()
    blocker.execute(text("SELECT 1 FROM policy_rules WHERE id = 1 FOR UPDATE"))  # both patches queue behind this
    threads = [threading.Thread(target=lambda p=p: answers.append(api.patch("/policy", json=p)))
               for p in ({"opt_in_channels": ["sms"]}, {"min_marketing_gap_seconds": 60})]
    for thread in threads:
        thread.start()

    def waiting_on_locks() -> int:
        # A fresh transaction per look: pg_stat_activity is a snapshot taken once per transaction.
        with api.engine.connect() as watcher:
            return watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'"),
                {"db": database}).scalar()

    wait_for(lambda: waiting_on_locks() >= 2, timeout=60, message="both patches waiting on the rules row")
    transaction.commit()
    blocker.close()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [200, 200]
    final = api.get("/policy").get_json()
    assert final["version"] == version + 2
    assert final["opt_in_channels"] == ["sms"] and final["min_marketing_gap_seconds"] == 60


CALLS = {"id": "calls-daily", "channel": "call", "category": None, "limit": 1, "window": "day",
         "time_zone": "Europe/Amsterdam", "when_full": "defer"}


def test_capacity_rules_are_stored_and_shown_and_a_put_without_them_keeps_them(api):
    texts = {**CALLS, "id": "sms-hourly", "channel": "sms", "category": "marketing", "limit": 20000,
             "window": "hour", "time_zone": "UTC", "when_full": "expire"}
    assert api.put("/policy", json={**FULL, "capacity": [CALLS, texts]}).status_code == 200
    assert _policy(api)["capacity"] == [CALLS, texts]
    older_client = {k: v for k, v in FULL.items() if k != "capacity"}
    answer = api.put("/policy", json=older_client)
    assert answer.status_code == 422 and "capacity" in answer.get_json()["errors"]
    assert _policy(api)["capacity"] == [CALLS, texts]
    assert api.patch("/policy", json={"capacity": [texts]}).status_code == 200  # a list replaces as a whole
    assert _policy(api)["capacity"] == [texts]
    answer = api.patch("/policy", json={"capacity": None})  # removing the member is refused; [] clears it
    assert answer.status_code == 422 and "capacity" in answer.get_json()["errors"]
    assert api.patch("/policy", json={"capacity": []}).status_code == 200
    assert _policy(api) == FULL


BAD_CAPACITY = [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"time_zone": "europe/amsterdam "}, "time_zone"),
    ({"time_zone": None}, "time_zone"),
    ({"category": "transactional"}, "category"),
    ({"window": "month"}, "window"),
    ({"window": 3600}, "window"),
    ({"when_full": "drop"}, "when_full"),
    ({"limit": -1}, "limit"),
    ({"limit": "150"}, "limit"),
    ({"channel": "Call!"}, "channel"),
    ({"id": ""}, "id"),
    ({"surprise": True}, "surprise"),
]


def test_a_bad_capacity_rule_is_a_422_naming_its_field_and_changes_nothing(api):
    # one service for every case: a harness per case would cost a database each
    for change, field in BAD_CAPACITY:
        rule = {**CALLS, **change}
        for answer in (api.put("/policy", json={**FULL, "capacity": [rule]}),
                       api.patch("/policy", json={"capacity": [rule]})):
            assert answer.status_code == 422 and answer.mimetype == "application/problem+json", change
            errors = answer.get_json()["errors"]
            assert field in errors["capacity"]["0"], errors
    for field in sorted(set(CALLS) - {"category"}):  # every member but category is required
        missing = {k: v for k, v in CALLS.items() if k != field}
        answer = api.put("/policy", json={**FULL, "capacity": [missing]})
        assert answer.status_code == 422 and field in answer.get_json()["errors"]["capacity"]["0"], field
    assert _policy(api) == FULL


def test_capacity_rule_ids_are_unique(api):
    answer = api.put("/policy", json={**FULL, "capacity": [CALLS, {**CALLS, "channel": "sms"}]})
    assert answer.status_code == 422 and "capacity" in answer.get_json()["errors"]
    assert _policy(api) == FULL


def test_capacity_alone_is_not_an_empty_rule_set(api):
    assert api.put("/policy", json={**EMPTY, "capacity": [CALLS]}).status_code == 200


def test_a_dry_run_reads_the_capacity_counters_and_takes_nothing(api):
    from datetime import UTC, datetime

    from services.channels.domain import CapacityRule

    assert api.put("/policy", json={**FULL, "capacity": [CALLS]}).status_code == 200
    at = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    start = CapacityRule(**CALLS).window_start(at)
    ask = {"contact_id": "c1", "channel": "call", "category": "marketing", "at": at.isoformat()}
    assert api.post("/dry-run", json=ask).get_json()["outcome"] == "send"
    with api.engine.begin() as conn:
        conn.execute(text("INSERT INTO capacity_counters (rule_id, window_start, used) VALUES ('calls-daily', :s, 1)"),
                     {"s": start})
    answer = api.post("/dry-run", json=ask).get_json()
    assert (answer["outcome"], answer["reason"], answer["rule_id"]) == ("deferred", "capacity", "calls-daily")
    assert answer["defer_until"].startswith("2026-03-04T23:00:00")  # midnight in Amsterdam
    receipt = api.post("/dry-run", json={**ask, "category": "transactional"}).get_json()
    assert receipt["outcome"] == "send"  # transactional messages are never held back by capacity
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT used FROM capacity_counters")).scalars().all() == [1]
