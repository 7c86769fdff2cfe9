"""validate_definition finds every kind of meaning error, each with its path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.campaigns.domain.definition import (
    DefinitionInvalid,
    EventEntry,
    SendStep,
    WaitStep,
    parse_definition,
    validate_definition,
)

CHANNELS = {"email", "sms", "call", "web"}
EMAIL = {"id": "welcome", "type": "send", "channel": "email", "template": {"subject": "Hi", "body": "Hello"}}


def errors_of(raw: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in validate_definition(raw, CHANNELS)]


def assert_one_error(raw: dict[str, Any], path: str, fragment: str) -> None:
    errors = errors_of(raw)
    assert [p for p, _ in errors] == [path], errors
    assert fragment in errors[0][1], errors


def test_a_valid_drip_has_no_errors_and_parses(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([{**EMAIL, "next": "pause"}, {"id": "pause", "type": "wait", "duration": "2d"}])

    assert errors_of(raw) == []
    campaign = parse_definition(raw)
    assert campaign.start_step == "welcome"
    assert campaign.steps_by_id["pause"] == WaitStep("pause", duration=timedelta(days=2))
    assert isinstance(campaign.steps[0], SendStep)


def test_unknown_channel(definition: Callable[..., dict[str, Any]]) -> None:
    assert_one_error(
        definition([{**EMAIL, "channel": "pigeon"}]), "steps[0].channel", "unknown channel 'pigeon'"
    )


def test_registered_channels_are_accepted(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([{**EMAIL, "channel": "whatsapp"}])

    assert validate_definition(raw, CHANNELS | {"whatsapp"}) == []


def test_duplicate_step_ids(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([{**EMAIL, "next": "welcome"}, {**EMAIL}])

    assert ("steps[1].id", "duplicate step id 'welcome'") in errors_of(raw)


def test_next_to_an_unknown_step(definition: Callable[..., dict[str, Any]]) -> None:
    assert_one_error(definition([{**EMAIL, "next": "nowhere"}]), "steps[0].next", "unknown step 'nowhere'")


def test_branch_and_split_targets_are_checked_too(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition(
        [
            {
                "id": "b",
                "type": "branch",
                "branches": [{"condition": "contact.tier == 'gold'", "next": "x"}],
                "else": "y",
            },
        ]
    )

    assert [p for p, _ in errors_of(raw)] == ["steps[0].branches[0].next", "steps[0].else"]


def test_cycle_is_an_error_even_through_a_wait(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition(
        [
            {**EMAIL, "next": "pause"},
            {"id": "pause", "type": "wait", "duration": "1d", "next": "welcome"},
        ]
    )

    assert_one_error(raw, "steps[1].next", "cycle in the step graph: welcome -> pause -> welcome")


def test_unreachable_step(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([EMAIL, {"id": "orphan", "type": "wait", "duration": "1d"}])

    assert_one_error(raw, "steps[1]", "step 'orphan' is unreachable")


def test_entry_start_step_changes_what_is_reachable(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([EMAIL, {"id": "first", "type": "wait", "duration": "1d", "next": "welcome"}])
    raw["entry"]["start_step"] = "first"

    assert errors_of(raw) == []
    assert parse_definition(raw).start_step == "first"


def test_bad_condition_syntax_reports_the_filter_position(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([{"id": "g", "type": "goal_check", "condition": "contact.tier == == 'x'"}])

    errors = errors_of(raw)
    assert [p for p, _ in errors] == ["steps[0].condition"]
    assert "invalid condition at position" in errors[0][1]


def test_entry_and_exit_goal_conditions_are_checked(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition(
        [EMAIL],
        entry={"type": "event", "event_type": "withdrawal", "condition": "event.amount >"},
        exit_goals=[{"event_type": "purchase", "condition": "(event.total"}],
    )

    assert [p for p, _ in errors_of(raw)] == ["entry.condition", "exit_goals[0].condition"]


def test_step_outcome_reference_must_name_a_send_step(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition(
        [
            {**EMAIL, "next": "b"},
            {
                "id": "b",
                "type": "branch",
                "branches": [{"condition": "step.b.outcome == 'opened'", "next": None}],
            },
        ]
    )

    assert_one_error(raw, "steps[1].branches[0].condition", "'b', which is not a send step")


@pytest.mark.parametrize("weight", [0, -1, "3", True, None])
def test_split_weights_must_be_positive_numbers(
    definition: Callable[..., dict[str, Any]], weight: Any
) -> None:
    raw = definition(
        [
            {
                "id": "ab",
                "type": "split",
                "variants": [
                    {"name": "a", "weight": 1, "next": None},
                    {"name": "b", "weight": weight, "next": None},
                ],
            }
        ]
    )

    assert_one_error(raw, "steps[0].variants[1].weight", "weight must be a positive number")


@pytest.mark.parametrize(
    ("step", "path"),
    [
        ({"id": "w", "type": "wait", "duration": "3 days"}, "steps[0].duration"),
        ({"id": "w", "type": "wait", "until": "9am"}, "steps[0].until"),
        ({"id": "w", "type": "wait"}, "steps[0]"),
        ({**EMAIL, "expires_after": "soon"}, "steps[0].expires_after"),
    ],
)
def test_bad_durations_and_times(
    definition: Callable[..., dict[str, Any]], step: dict[str, Any], path: str
) -> None:
    errors = errors_of(definition([step]))

    assert [p for p, _ in errors] == [path]


def test_bad_reentry_cooldown(definition: Callable[..., dict[str, Any]]) -> None:
    assert_one_error(
        definition([EMAIL], reentry={"policy": "cooldown", "cooldown": "x"}),
        "reentry.cooldown",
        "invalid duration",
    )
    assert_one_error(definition([EMAIL], reentry={"policy": "sometimes"}), "reentry.policy", "policy must be")


def test_bad_cron_expression(definition: Callable[..., dict[str, Any]]) -> None:
    entry = {"type": "segment", "segment_id": "s", "schedule": {"cron": "0 9 * * FUNDAY", "timezone": "UTC"}}

    assert_one_error(definition([EMAIL], entry=entry), "entry.schedule.cron", "invalid cron expression")


def test_valid_cron_in_a_time_zone(definition: Callable[..., dict[str, Any]]) -> None:
    entry = {
        "type": "segment",
        "segment_id": "s",
        "schedule": {"cron": "0 9 * * MON", "timezone": "Europe/Berlin"},
    }

    assert errors_of(definition([EMAIL], entry=entry)) == []


def test_unknown_time_zone(definition: Callable[..., dict[str, Any]]) -> None:
    entry = {
        "type": "segment",
        "segment_id": "s",
        "schedule": {"cron": "0 9 * * MON", "timezone": "Mars/Olympus"},
    }

    assert_one_error(definition([EMAIL], entry=entry), "entry.schedule.timezone", "unknown time zone")


def test_schedule_at_needs_an_offset(definition: Callable[..., dict[str, Any]]) -> None:
    entry = {"type": "segment", "segment_id": "s", "schedule": {"at": "2024-05-06T09:00:00"}}

    assert_one_error(definition([EMAIL], entry=entry), "entry.schedule.at", "UTC offset")


def test_inline_template_syntax_errors_are_definition_errors(
    definition: Callable[..., dict[str, Any]],
) -> None:
    step = {**EMAIL, "template": {"subject": "Hi {{ contact.first_name", "body": "x"}}

    assert_one_error(definition([step]), "steps[0].template", "subject: syntax error on line 1")


def test_header_errors(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([EMAIL], name="", category="spam", priority="high")

    assert [p for p, _ in errors_of(raw)] == ["name", "category", "priority"]


def test_parse_definition_raises_with_every_error(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([{**EMAIL, "channel": "pigeon", "next": "nowhere"}])

    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(raw)
    assert {e.path for e in info.value.errors} == {"steps[0].channel", "steps[0].next"}


def test_event_entry_parses_with_its_condition(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition(
        [EMAIL], entry={"type": "event", "event_type": "withdrawal", "condition": "event.amount > 10"}
    )

    entry = parse_definition(raw).entry
    assert isinstance(entry, EventEntry)
    assert entry.condition is not None and entry.condition.text == "event.amount > 10"


def test_step_paths_other_than_outcome_are_rejected(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition(
        [
            {**EMAIL, "next": "b"},
            {
                "id": "b",
                "type": "branch",
                "branches": [{"condition": "step.welcome.opened == true", "next": None}],
            },
        ]
    )

    assert_one_error(raw, "steps[1].branches[0].condition", "only step.<step id>.outcome exists")


def test_step_outcomes_are_not_available_to_entry_conditions(
    definition: Callable[..., dict[str, Any]],
) -> None:
    raw = definition(
        [EMAIL], entry={"type": "event", "event_type": "x", "condition": "step.welcome.outcome == 'sent'"}
    )

    assert_one_error(
        raw, "entry.condition", "invalid condition at position 0: unknown field 'step.welcome.outcome'"
    )


def test_unknown_condition_root(definition: Callable[..., dict[str, Any]]) -> None:
    raw = definition([{"id": "g", "type": "goal_check", "condition": "tier == 'gold' and customer.x == 1"}])

    assert_one_error(raw, "steps[0].condition", "unknown field 'tier'")
