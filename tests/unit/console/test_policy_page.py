"""The policy page: operators edit the rules in a form (saved with PUT /policy), everyone dry-runs."""

from __future__ import annotations

import re

from werkzeug.datastructures import MultiDict

from services.console import policy_form
from services.console.client import ServiceError
from tests.unit.console.fakes import csrf, sign_in

POLICY = {"caps": [{"id": "marketing-weekly", "limit": 3, "window_seconds": 604800, "scope": "category",
                    "scope_value": "marketing"}],
          "min_marketing_gap_seconds": 14400,
          "quiet_hours": {"sms": [{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "20:00"}]},
          "opt_in_channels": ["sms"], "control_group": {"percent": 5.0, "salt": "2026-h1"},
          "capacity": [{"id": "calls", "channel": "call", "category": None, "limit": 150, "window": "day",
                        "time_zone": "Europe/Amsterdam", "when_full": "defer"}], "version": 4}


def _form_of(state: policy_form.PolicyForm, capacity: bool = True) -> MultiDict:
    """What a browser posts for the form as rendered (blank rows included; without the capacity rows,
    what a page rendered before the form had them posts)."""
    data = MultiDict({"cap-count": str(len(state.caps)), "qh-count": str(len(state.quiet)), "gap": state.gap_value,
                      "gap-unit": state.gap_unit, "cg-percent": state.cg_percent, "cg-salt": state.cg_salt})
    for i, cap in enumerate(state.caps):
        for key in ("id", "limit", "window", "unit", "scope", "scope_value"):
            data[f"cap-{i}-{key}"] = cap[key]
    for i, row in enumerate(state.quiet):
        for key in ("channel", "start", "end"):
            data[f"qh-{i}-{key}"] = row[key]
        for day in sorted(row["days"]):
            data.add(f"qh-{i}-day", str(day))
    for channel in sorted(state.opt_in):
        data.add("opt_in", channel)
    if capacity:
        data["cp-count"] = str(len(state.capacity))
        for i, row in enumerate(state.capacity):
            for key, value in row.items():
                data[f"cp-{i}-{key}"] = value
    return data


def _put(data: MultiDict, values: dict[str, str]) -> None:
    """Replace fields (MultiDict.update would add a second value)."""
    for key, value in values.items():
        data[key] = value


def test_the_form_shows_the_policy_and_reads_back_the_same_document():
    state = policy_form.form_state(POLICY)
    assert state.caps[0] == {"id": "marketing-weekly", "limit": "3", "window": "7", "unit": "days",
                             "scope": "category", "scope_value": "marketing"}
    assert (state.gap_value, state.gap_unit) == ("4", "hours") and state.cg_percent == "5"
    assert len(state.caps) == 1 + policy_form.BLANK_ROWS and len(state.quiet) == 1 + policy_form.BLANK_ROWS
    document, parsed = policy_form.parse(_form_of(state))
    assert parsed.errors == {}
    assert document == {k: v for k, v in POLICY.items() if k != "version"}


def test_rows_are_added_removed_and_checked_in_place():
    data = _form_of(policy_form.form_state(POLICY))
    data["cap-0-remove"] = "1"
    _put(data, {"cap-1-id": "sms-daily", "cap-1-limit": "1", "cap-1-window": "1", "cap-1-unit": "days",
                 "cap-1-scope": "channel", "cap-1-scope_value": "sms"})
    _put(data, {"qh-1-channel": "email", "qh-1-start": "08:00", "qh-1-end": "21:00"})
    data.setlist("qh-1-day", ["5", "6"])
    data["gap"], data["cg-percent"], data["opt_in_other"] = "", "", "push, web"
    document, state = policy_form.parse(data)
    assert state.errors == {}
    assert document["caps"] == [{"id": "sms-daily", "limit": 1, "window_seconds": 86400, "scope": "channel",
                                 "scope_value": "sms"}]
    assert document["quiet_hours"]["email"] == [{"weekdays": [5, 6], "start": "08:00", "end": "21:00"}]
    assert document["min_marketing_gap_seconds"] is None and document["control_group"] is None
    assert document["opt_in_channels"] == ["push", "sms", "web"]

    bad = MultiDict({"cap-count": "1", "cap-0-id": "bad id!", "cap-0-limit": "x", "cap-0-window": "2",
                     "cap-0-unit": "days", "cap-0-scope": "channel", "qh-count": "1", "qh-0-channel": "sms",
                     "qh-0-start": "25:00", "qh-0-end": "08:00", "cg-percent": "70"})
    _, state = policy_form.parse(bad)
    assert set(state.errors) == {"cap-0-id", "cap-0-limit", "cap-0-scope_value", "qh-0-start", "qh-0-day",
                                 "cg-percent", "cg-salt"}


def test_a_services_field_errors_go_beside_the_inputs_they_name():
    data = _form_of(policy_form.form_state(POLICY))
    _, state = policy_form.parse(data)
    unplaced = policy_form.service_errors(state, {"caps": {"0": {"limit": ["too many"]}}, "allow_empty": ["no"],
                                                  "control_group": {"salt": ["short"]}})
    assert state.errors == {"cap-0-limit": ["too many"], "cg-salt": ["short"]}
    assert unplaced == {"allow_empty": ["no"]}


def _operator(app, services):
    services.answers[("GET", "/policy")] = POLICY
    client = app.test_client()
    sign_in(client, "tp_operator")
    page = client.get("/policy")
    return client, page


def test_an_operator_saves_the_form_with_put_and_sees_it_saved(app, services):
    client, page = _operator(app, services)
    html = page.get_data(as_text=True)
    assert 'id="policy-form"' in html and 'value="marketing-weekly"' in html and "<textarea" not in html
    data = _form_of(policy_form.form_state(POLICY))
    _put(data, {"csrf_token": csrf(page), "form": "policy", "cap-0-limit": "5"})
    services.answers[("PUT", "/policy")] = POLICY
    saved = client.post("/policy", data=data)
    assert saved.status_code == 302
    [(_, service, _, body)] = [c for c in services.calls if c[0] == "PUT"]
    assert service == "channels" and body["caps"][0]["limit"] == 5 and body["control_group"]["salt"] == "2026-h1"
    assert body["capacity"] == POLICY["capacity"]


def test_a_form_without_capacity_rows_keeps_the_stored_capacity_rules(app, services):
    client, page = _operator(app, services)
    rules = [{"id": "calls-2", "channel": "call", "category": None, "limit": 150, "window": "day",
              "time_zone": "Europe/Amsterdam", "when_full": "defer"}]
    services.answers[("GET", "/policy")] = {**POLICY, "capacity": rules}
    services.answers[("PUT", "/policy")] = POLICY
    data = _form_of(policy_form.form_state(POLICY), capacity=False)  # a page from before the rows existed
    _put(data, {"csrf_token": csrf(page), "form": "policy"})
    assert client.post("/policy", data=data).status_code == 302
    [(_, _, _, body)] = [c for c in services.calls if c[0] == "PUT"]
    assert body["capacity"] == rules
    assert "Policy saved" in client.get("/policy").get_data(as_text=True)


def test_capacity_rows_are_edited_added_and_checked(app, services):
    data = _form_of(policy_form.form_state(POLICY))
    _put(data, {"cp-0-limit": "200", "cp-1-id": "sms-hourly", "cp-1-channel": "sms", "cp-1-category": "marketing",
                "cp-1-limit": "500", "cp-1-window": "hour", "cp-1-time_zone": "Europe/London",
                "cp-1-when_full": "expire"})
    document, state = policy_form.parse(data)
    assert state.errors == {}
    assert document["capacity"] == [{**POLICY["capacity"][0], "limit": 200},
                                    {"id": "sms-hourly", "channel": "sms", "category": "marketing", "limit": 500,
                                     "window": "hour", "time_zone": "Europe/London", "when_full": "expire"}]
    _put(data, {"cp-0-remove": "1", "cp-1-limit": "many", "cp-1-time_zone": "", "cp-1-window": "fortnight"})
    document, state = policy_form.parse(data)
    assert set(state.errors) == {"cp-1-limit", "cp-1-time_zone", "cp-1-window"}
    _, state = policy_form.parse(_form_of(policy_form.form_state(POLICY)))
    assert policy_form.service_errors(state, {"capacity": {"0": {"time_zone": ["not a tz database name"]}}}) == {}
    assert state.errors == {"cp-0-time_zone": ["not a tz database name"]}


def test_a_refusal_shows_the_services_problem_and_keeps_what_was_typed(app, services):
    client, page = _operator(app, services)
    services.refuse[("PUT", "/policy")] = ServiceError(
        "channels", 422, "Empty policy refused", "the rule set has no cap, gap, quiet hours or opt-in channel",
        {"allow_empty": ["pass ?allow_empty=true to mean it"]})
    data = MultiDict({"csrf_token": csrf(page), "form": "policy", "cap-count": "1", "cap-0-id": "typed-here",
                      "cap-0-limit": "1", "cap-0-window": "3", "cap-0-unit": "hours", "cap-0-scope": "all"})
    answer = client.post("/policy", data=data)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "Empty policy refused" in html and "no cap, gap" in html
    assert 'value="typed-here"' in html and "allow_empty" in html and "Traceback" not in html
    # the form's own checks answer before any service is asked
    _put(data, {"cap-0-limit": "many"})
    answer = client.post("/policy", data=data)
    assert answer.status_code == 422 and re.search(r'id="cap-0-limit-error"[^>]*>a whole number', answer.get_data(
        as_text=True))
    assert len([c for c in services.calls if c[0] == "PUT"]) == 1


def test_marketers_read_and_dry_run_but_cannot_save(app, services):
    services.answers[("GET", "/policy")] = POLICY
    services.answers[("POST", "/dry-run")] = {"outcome": "defer", "reason": "quiet_hours", "rule_id": None,
                                              "detail": "outside the sms window", "defer_until": None}
    client = app.test_client()
    sign_in(client, "tp_marketer")
    page = client.get("/policy")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "policy-form" not in html and "Mon, Tue" in html
    token = csrf(page)
    assert client.post("/policy", data={"csrf_token": token, "form": "policy"}).status_code == 403
    ran = client.post("/policy", data={"csrf_token": token, "form": "dry-run", "contact_id": "c1", "channel": "sms",
                                       "category": "marketing", "priority": "3"})
    assert ran.status_code == 200 and "outside the sms window" in ran.get_data(as_text=True)
    assert ("POST", "channels", "/dry-run", {"contact_id": "c1", "channel": "sms", "category": "marketing",
                                             "campaign_id": None, "topic": None, "priority": 3}) in services.calls
    services.refuse[("POST", "/dry-run")] = ServiceError("channels", 404, "Not Found", "no contact c9 in channels")
    refused = client.post("/policy", data={"csrf_token": token, "form": "dry-run", "contact_id": "c9",
                                           "channel": "sms", "category": "marketing"})
    assert refused.status_code == 404 and "no contact c9 in channels" in refused.get_data(as_text=True)
    bad = client.post("/policy", data={"csrf_token": token, "form": "dry-run", "contact_id": "c9", "channel": "sms",
                                       "category": "marketing", "priority": "high"})
    assert bad.status_code == 422 and "whole number from 0 to 100" in bad.get_data(as_text=True)


def test_another_operators_save_meanwhile_is_not_undone_silently(app, services):
    client, page = _operator(app, services)
    assert 'name="version" value="4"' in page.get_data(as_text=True)
    services.answers[("GET", "/policy")] = {**POLICY, "version": 5}  # someone saved meanwhile
    services.answers[("PUT", "/policy")] = POLICY
    data = _form_of(policy_form.form_state(POLICY))
    _put(data, {"csrf_token": csrf(page), "form": "policy", "version": "4", "cap-0-limit": "9"})
    answer = client.post("/policy", data=data)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 409 and "changed while you edited it" in html and "version 5" in html
    assert not [c for c in services.calls if c[0] == "PUT"]
    assert 'name="version" value="5"' in html and 'value="9"' in html  # kept, and now based on theirs
    _put(data, {"version": "5"})
    assert client.post("/policy", data=data).status_code == 302
    assert [c for c in services.calls if c[0] == "PUT"]


def test_capacity_rules_are_shown_read_only(app, services):
    rules = [{"id": "sms-hourly", "channel": "sms", "category": None, "limit": 500, "window": "hour",
              "time_zone": "Europe/London", "when_full": "defer"}]
    services.answers[("GET", "/policy")] = {**POLICY, "capacity": rules}
    client = app.test_client()
    sign_in(client, "tp_marketer")
    html = client.get("/policy").get_data(as_text=True)
    assert "Capacity (all contacts together)" in html and "sms-hourly" in html and "service and marketing" in html
