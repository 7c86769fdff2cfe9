"""A step type is declared once (domain/steps/<type>.py): validation, parsing, the engine and the HTTP shape read it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from marshmallow import fields

from services.campaigns.domain.definition import parse_definition
from services.campaigns.domain.engine import Complete, Enrollment, SendMessage, advance
from services.campaigns.domain.steps import REGISTRY
from services.campaigns.domain.steps.base import (
    _BY_MODEL,
    STEP_ID,
    Checks,
    StepShape,
    StepType,
    Walk,
    register,
)
from services.campaigns.domain.validation import validate_definition
from services.campaigns.schemas import DefinitionSchema

NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)


def test_the_http_shape_knows_exactly_the_registered_types() -> None:
    assert set(DefinitionSchema().fields["steps"].inner.schemas) == set(REGISTRY) == {
        "send", "wait", "branch", "split", "goal_check"}


@dataclass(frozen=True)
class NoteStep:
    id: str
    text: str
    next: str | None = None


class NoteStepSchema(StepShape):
    text = fields.String(required=True)
    next = fields.String(allow_none=True, validate=STEP_ID)


def _check(step: Mapping[str, Any], path: str, checks: Checks) -> None:
    if not step.get("text"):
        checks.error(f"{path}.text", "a note needs text")


def _run(step: NoteStep, walk: Walk) -> str | None:
    return step.next


@pytest.fixture
def note_type() -> Iterator[StepType]:
    kind = register(StepType("note", NoteStep, NoteStepSchema, lambda raw: NoteStep(raw["id"], raw["text"],
                                                                                     raw.get("next")), _check, _run))
    yield kind
    del REGISTRY["note"], _BY_MODEL[NoteStep]


def test_a_new_type_is_validated_parsed_and_walked_through_its_registration(note_type: StepType) -> None:
    raw = {"name": "n", "category": "service", "entry": {"type": "event", "event_type": "signup"},
           "steps": [{"id": "n", "type": "note", "text": "", "next": "s"},
                     {"id": "s", "type": "send", "channel": "email", "template": {"body": "hi"}}]}
    assert [(e.path, e.message) for e in validate_definition(raw, {"email"})] == [("steps[0].text", "a note needs text")]
    raw["steps"][0]["text"] = "remember"
    campaign = parse_definition(raw, {"email"})
    assert campaign.steps[0] == NoteStep("n", "remember", "s")
    actions = advance(campaign, Enrollment("cmp", 1, "c1"), None, NOW)
    assert [type(a) for a in actions] == [SendMessage, Complete]


def test_a_type_is_registered_once(note_type: StepType) -> None:
    with pytest.raises(ValueError, match="twice"):
        register(note_type)
