"""The journey graph and the metric charts are pure functions of the definition, report and exposition."""

from __future__ import annotations

from services.console import charts, journey
from tools.demo import ADDRESS_POLICY, drip

SPLIT = {"name": "ab", "entry": {"type": "event", "event_type": "signup"},
         "steps": [{"id": "ab", "type": "split", "variants": [{"name": "A", "weight": 0.5, "next": "a"},
                                                               {"name": "B", "weight": 0.5, "next": "b"}]},
                   {"id": "a", "type": "send", "channel": "email", "next": "goal"},
                   {"id": "b", "type": "send", "channel": "sms", "next": "goal"},
                   {"id": "goal", "type": "goal_check", "condition": "contact.bought", "next": "ab"}]}


def test_the_drip_reads_top_to_bottom_with_its_branch_fanning_out():
    nodes, edges = journey.build(drip("seg"), {"steps": {"welcome": {"requested": 20, "sent": 17, "capped": 3}}})
    by_id = {n.id: n for n in nodes}
    assert by_id["entry"].y < by_id["welcome"].y < by_id["pause"].y < by_id["route"].y < by_id["sms_platinum"].y
    assert by_id["sms_platinum"].y == by_id["sms_regular"].y and by_id["sms_platinum"].x != by_id["sms_regular"].x
    assert by_id["end"].y > by_id["sms_regular"].y
    assert {(e.source, e.target, e.label) for e in edges if e.source == "route"} == {
        ("route", "sms_platinum", "contact.tier == 'platinum'"), ("route", "sms_regular", "else")}
    assert by_id["welcome"].counts["sent"] == 17 and by_id["welcome"].counts["capped"] == 3


def test_splits_goal_checks_and_loops_are_drawn_and_text_is_escaped():
    definition = {**SPLIT, "name": "<script>alert(1)</script>"}
    drawn = str(journey.draw(definition, {"steps": {}}))
    assert drawn.startswith("<svg") and "<script>" not in drawn and "&lt;script&gt;" in drawn
    assert "A · 0.5" in drawn and "goal met: converted" in drawn and "not yet" in drawn
    nodes, edges = journey.build(SPLIT)
    assert ("goal", "ab") in {(e.source, e.target) for e in edges}  # the loop back is kept


def test_exit_goal_campaign_and_funnel_rows_follow_the_definition_order():
    rows = journey.funnel_rows(drip("seg"), {"steps": {"sms_regular": {"requested": 4, "suppressed": 1,
                                                                       "suppressed_by_reason": {"consent": 1}}}})
    assert [r["id"] for r in rows] == ["welcome", "sms_platinum", "sms_regular"]
    assert rows[2]["suppressed"] == 1 and rows[2]["suppressed_by_reason"] == {"consent": 1}
    assert "entry: event address_changed" in str(journey.draw(ADDRESS_POLICY, None))


EXPOSITION = """# HELP touchpoint_http_requests_total HTTP requests
# TYPE touchpoint_http_requests_total counter
touchpoint_http_requests_total{endpoint="tasks.Tasks",method="GET",service="channels",status="200"} 30.0
touchpoint_http_requests_total{endpoint="tasks.Tasks",method="GET",service="channels",status="403"} 2.0
touchpoint_http_requests_total{endpoint="health.healthz",method="GET",service="channels",status="200"} 5.0
touchpoint_http_request_seconds_count{endpoint="tasks.Tasks",service="channels"} 32.0
touchpoint_http_request_seconds_sum{endpoint="tasks.Tasks",service="channels"} 0.64
garbage line {
"""


def test_prometheus_text_is_parsed_and_bars_are_drawn():
    samples = charts.parse(EXPOSITION)
    assert len(samples) == 5 and samples[0].labels["status"] == "200" and samples[0].value == 30.0
    drawn = str(charts.bar_chart([("tasks.Tasks", 32.0), ("health.healthz", 5.0)], "requests"))
    assert drawn.count('class="bar"') == 2 and "32" in drawn
    assert "No figures" in str(charts.bar_chart([], "empty"))
