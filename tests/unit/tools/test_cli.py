"""The CLI without a network: argument parsing, problem bodies, text output, demo data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools import demo
from tools.cli import build_parser, main, output
from tools.cli.client import Api, CliError, format_problem
from tools.cli.commands import import_format, load_definition


def test_parses_the_command_tree():
    parser = build_parser()
    args = parser.parse_args(["--key", "k", "contacts", "import", "people.csv", "--no-wait"])
    assert (args.command, args.contacts_command, args.file, args.wait) == ("contacts", "import", "people.csv", False)
    assert parser.parse_args(["contacts", "import", "x.jsonl"]).wait is True
    args = parser.parse_args(["campaign", "create", "drip.yaml", "--activate"])
    assert (args.campaign_command, args.activate) == ("create", True)
    assert parser.parse_args(["campaign", "report", "c1", "--json"]).json is True
    args = parser.parse_args(["broadcast", "trigger", "campaign:c1", "--no-wait"])
    assert (args.schedule_id, args.no_wait) == ("campaign:c1", True)
    assert parser.parse_args(["event", "post", "c1", "withdrawal", "{}"]).words == ["post", "c1", "withdrawal", "{}"]
    assert parser.parse_args(["contact", "timeline", "c1"]).contact_command == "timeline"
    with pytest.raises(SystemExit):
        parser.parse_args(["campaign", "explode", "c1"])


def test_format_problem_shows_title_detail_and_field_errors():
    text = format_problem(422, {"title": "Validation failed", "detail": "invalid field(s): phone",
                                "errors": {"phone": ["not a valid phone number"], "steps[2].next": ["unknown"]}})
    assert text.splitlines() == ["Validation failed: invalid field(s): phone", "  phone: not a valid phone number",
                                 "  steps[2].next: unknown"]
    assert format_problem(502, "<html>bad gateway</html>") == "HTTP 502: <html>bad gateway</html>"
    assert format_problem(404, {"title": "Not Found"}) == "Not Found"


def test_connection_refused_hints_at_scripts_up(monkeypatch, capsys):
    monkeypatch.setenv("TOUCHPOINT_CONTACTS_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert main(["--key", "k", "contact", "show", "c1"]) == 1
    assert "./scripts/up" in capsys.readouterr().err


def test_missing_key_is_an_error(monkeypatch):
    monkeypatch.delenv("TOUCHPOINT_API_KEY", raising=False)
    with pytest.raises(CliError, match="TOUCHPOINT_API_KEY"):
        Api("contacts", None)


def test_event_needs_contact_and_type(capsys):
    assert main(["--key", "k", "event", "post", "only-one"]) == 1
    assert "usage" in capsys.readouterr().err
    assert main(["--key", "k", "event", "post", "c1", "withdrawal", "{nope"]) == 1
    assert "not JSON" in capsys.readouterr().err


def test_import_format_from_extension():
    assert import_format(Path("a.CSV"), None) == "csv"
    assert import_format(Path("a.ndjson"), None) == "jsonl"
    assert import_format(Path("a.txt"), "jsonl") == "jsonl"
    with pytest.raises(CliError):
        import_format(Path("a.txt"), None)


def test_load_definition_yaml_and_json(tmp_path):
    (tmp_path / "d.yaml").write_text("name: Drip\ncategory: marketing\nsteps: []\n")
    (tmp_path / "d.json").write_text('{"name": "Drip"}')
    (tmp_path / "bad.yaml").write_text("- a list\n")
    assert load_definition(tmp_path / "d.yaml")["category"] == "marketing"
    assert load_definition(tmp_path / "d.json") == {"name": "Drip"}
    with pytest.raises(CliError, match="mapping"):
        load_definition(tmp_path / "bad.yaml")


def test_report_table_lists_steps_and_reasons():
    text = output.campaign_report({
        "campaign_id": "c1", "enrollments": {"enrolled": 3, "active": 1},
        "steps": {"mail": {"requested": 3, "sent": 2, "capped": 1, "capped_by_rule": {"marketing-daily": 1}}},
        "broadcasts": [{"occurrence": "20261201T080000Z", "version": 1, "pages": 1, "enrolled": 3}]})
    lines = text.splitlines()
    assert lines[1] == "enrollments: enrolled 3, active 1"
    header = next(line for line in lines if line.startswith("step"))
    row = next(line for line in lines if line.startswith("mail "))
    assert header.split()[:4] == ["step", "requested", "sent", "deferred"]
    assert row.split()[:4] == ["mail", "3", "2", "0"]
    assert "  mail capped: marketing-daily 1" in lines
    assert any(line.startswith("20261201T080000Z") and line.endswith("running") for line in lines)


def test_report_shows_the_control_group_comparison_overall_and_per_variant():
    section = {"treated": {"contacts": 30, "converted": 18, "rate": 0.6},
               "control": {"contacts": 30, "converted": 6, "rate": 0.2}, "mixed": 0, "difference": 0.4,
               "ci95": {"low": 0.174, "high": 0.626}, "lift": 2.0, "method": "wald", "min_group": 30, "reason": None}
    few = {**section, "control": {"contacts": 3, "converted": 1, "rate": 1 / 3}, "difference": None, "ci95": None,
           "lift": None, "reason": "too_few_contacts"}
    text = output.campaign_report({"campaign_id": "c1", "enrollments": {}, "steps": {}, "control_group": section,
                                   "variants": {"A": {"enrolled": 33, "control_group": few}}})
    lines = text.splitlines()
    assert ("control group: treated 18 of 30 converted (60.0 %), control 6 of 30 (20.0 %): +40.0 points "
            "(95 % CI +17.4 to +62.6), lift +200.0 %") in lines
    assert next(line for line in lines if line.startswith("variant")).split() == ["variant", "enrolled"]
    assert lines[-1] == ("  A vs control: treated 18 of 30 converted (60.0 %), control 1 of 3 (33.3 %): "
                         "no comparison yet (fewer than 30 contacts on a side)")


def test_import_report_and_table_cutting():
    text = output.import_report({"id": "j", "status": "done", "rows_processed": 3, "created": 1, "updated": 1,
                                 "rejected": 2}, [{"row": 2, "reason": "email: invalid"}])
    assert "created 1, updated 1, rejected 2" in text
    assert "row 2: email: invalid" in text and "1 more" in text
    assert output.table([["x" * 100]], ["h"], max_width=10).splitlines()[2] == "x" * 9 + "…"


def test_demo_contacts_are_valid_and_stable():
    import phonenumbers

    bodies = [demo.contact_body(i) for i in range(len(demo.PEOPLE))]
    assert len({b["external_id"] for b in bodies}) == len(bodies) >= 20
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(b["phone"])) for b in bodies)
    assert sum(b["attributes"]["tier"] == "platinum" for b in bodies) >= 3
    assert demo.contact_body(0) == bodies[0]


def test_demo_example_contact_is_a_platinum_customer_in_calling_hours():
    people = [{"id": "ny", "time_zone": "America/New_York", "attributes": {"tier": "platinum"}},
              {"id": "tokyo", "time_zone": "Asia/Tokyo", "attributes": {"tier": "platinum"}},
              {"id": "g", "time_zone": "Asia/Tokyo", "attributes": {"tier": "gold"}}]
    at_noon_utc = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 07:00 in New York, 21:00 in Tokyo
    assert demo.example_contact(people, at_noon_utc)["id"] == "tokyo"


def test_forecast_table_names_the_step_and_the_rules():
    text = output.forecast({
        "campaign_id": "c1", "segment_id": "s1", "members": 5, "evaluated_at": "2026-03-04T12:00:00+00:00",
        "elapsed_ms": 12, "step": {"step_id": "hello", "channel": "sms", "category": "marketing", "priority": 5},
        "by_outcome": {"send": 3, "deferred": 1, "suppressed": 1, "capped": 0, "expired": 0, "duplicate": 0},
        "by_rule": [{"outcome": "send", "reason": "send", "rule_id": None, "count": 3},
                    {"outcome": "deferred", "reason": "capacity", "rule_id": "sms-hourly", "count": 1},
                    {"outcome": "suppressed", "reason": "suppressed:global:unsubscribed", "rule_id": None,
                     "count": 1}]})
    assert "5 members of segment s1, step hello (sms, marketing, priority 5)" in text
    assert "send 3, deferred 1, suppressed 1" in text
    assert "capacity" in text and "sms-hourly" in text
    assert build_parser().parse_args(["campaign", "forecast", "c1"]).campaign_command == "forecast"


def test_parses_policy_and_gate_forecast_commands():
    parser = build_parser()
    args = parser.parse_args(["policy", "put", "p.json", "--allow-empty"])
    assert (args.command, args.policy_command, args.file, args.allow_empty) == ("policy", "put", "p.json", True)
    args = parser.parse_args(["policy", "patch", '{"control_group": null}'])
    assert (args.policy_command, args.patch, args.allow_empty) == ("patch", '{"control_group": null}', False)
    assert parser.parse_args(["policy", "show", "--json"]).json is True
    args = parser.parse_args(["forecast", "f.json", "--at", "2026-03-04T12:00:00Z"])
    assert (args.command, args.file, args.at) == ("forecast", "f.json", "2026-03-04T12:00:00Z")


def test_policy_text_of_an_open_gate_says_none_everywhere():
    text = output.policy({"version": 3, "caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {},
                          "opt_in_channels": [], "control_group": None, "capacity": []})
    assert text.splitlines() == ["policy version 3", "", "caps: none", "marketing gap: none",
                                 "quiet hours (send windows): none", "opt-in channels: none", "control group: off",
                                 "capacity: none"]


def test_a_proof_prints_one_row_per_seed_and_the_steps_not_sent():
    text = output.proof({"proof_id": "p1", "campaign_id": "c1", "contact_id": None, "steps": [
        {"step_id": "mail", "channel": "email", "skipped": None,
         "deliveries": [{"to": "qa@example.com", "status": "sent", "detail": "accepted"}]},
        {"step_id": "ring", "channel": "call", "deliveries": [], "skipped": "no proof recipient for this channel"}]})
    assert "rendered for the sample contact" in text
    assert "qa@example.com" in text and "not sent" in text and "no proof recipient" in text
    args = build_parser().parse_args(["campaign", "proof", "c1", "--contact", "k1", "--step", "mail"])
    assert (args.campaign_command, args.contact, args.step) == ("proof", "k1", "mail")
    assert build_parser().parse_args(["campaign", "approve", "c1", "--revision", "2"]).revision == 2


def test_a_look_ahead_decision_names_the_plan_it_yielded_to():
    text = output.decisions([{"decided_at": "2026-03-04T12:00:00Z", "channel": "email", "category": "marketing",
                              "outcome": "capped", "reason": "look_ahead:weekly", "rule_id": "weekly",
                              "yielded_to": "plan:e1:send-2:1", "delivery": None, "campaign_id": "spring"}])
    assert "weekly (yields to plan:e1:send-2:1)" in text


def test_audit_parses_filters_and_prints_who_did_what():
    args = build_parser().parse_args(["audit", "campaigns", "--action", "campaign.update", "--entity-id", "c1"])
    assert (args.service, args.action, args.entity_id, args.actor, args.limit) == (
        "campaigns", "campaign.update", "c1", None, 50)
    text = output.audit([
        {"at": "2026-12-02T10:00:00+00:00", "actor": {"name": "alice", "role": "marketer"},
         "action": "campaign.update", "entity_type": "campaign", "entity_id": "c1",
         "details": {"before": {"name": "a"}, "after": {"name": "b", "priority": 2}}},
        {"at": "2026-12-02T09:00:00+00:00", "actor": None, "action": "consent.set", "entity_type": "consent",
         "entity_id": "k/email", "details": {"truncated": True, "changed": ["x"]}}])
    assert "alice (marketer)" in text and "name, priority" in text and "consent k/email" in text
    assert output.audit([]) == "no audit records"
