"""The definition's shape check reports errors by the same paths as the meaning check."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.campaigns.domain.engine import MAX_KEY_LENGTH, message_key
from services.campaigns.handlers.enrollment import wake_entry_id
from services.campaigns.schemas import DefinitionSchema, flatten_errors

VALID = {"name": "n", "category": "marketing",
         "entry": {"type": "event", "event_type": "withdrawal", "condition": "event.amount > 5"},
         "steps": [{"id": "a", "type": "send", "channel": "email", "template": {"body": "hi"}, "next": "b"},
                   {"id": "b", "type": "branch", "branches": [{"condition": "tier == 'x'", "next": None}],
                    "else": None}]}


def test_a_valid_definition_loads_unchanged() -> None:
    assert DefinitionSchema().load(VALID) == VALID


def test_errors_are_flat_paths() -> None:
    raw = {**VALID, "steps": [{**VALID["steps"][0], "priority": "high", "colour": "red"},
                              {"id": "z", "type": "warp"}], "entry": {"type": "segment"}}
    with pytest.raises(ValidationError) as caught:
        DefinitionSchema().load(raw)
    assert set(caught.value.messages) == {"steps[0].priority", "steps[0].colour", "steps[1].type",
                                          "entry.segment_id", "entry.schedule"}


def test_flatten_errors_handles_nesting_and_schema_errors() -> None:
    assert flatten_errors({"steps": {2: {"next": ["bad"]}}, "_schema": ["x"]}) == {
        "steps[2].next": ["bad"], "_schema": ["x"]}


def test_long_ids_still_give_bounded_stable_keys() -> None:
    long_contact = "c" * 120
    key = message_key("cmp", 1, "step", long_contact, "ev-" + "e" * 100)
    assert len(key) <= MAX_KEY_LENGTH and key == message_key("cmp", 1, "step", long_contact, "ev-" + "e" * 100)
    assert key != message_key("cmp", 1, "step", long_contact, "ev-" + "f" * 100)
    assert len(wake_entry_id("e" * 36, "s" * 64, "o" * 128)) <= 128
