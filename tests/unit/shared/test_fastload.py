"""`FastLoader.load` answers exactly as `Schema.load`: the same value for a valid payload, the same
ValidationError messages for an invalid one, for every message contract and the envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from services.contacts.schemas import EventSchema
from shared.contracts import CONTRACTS
from shared.messaging.envelope import EnvelopeSchema
from shared.messaging.fastload import FastLoader

SCHEMAS = [(name, schema_cls) for name, _, schema_cls in CONTRACTS] + [("envelope", EnvelopeSchema)]
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC).isoformat()


def answer(load, data: Any) -> tuple[str, Any]:
    try:
        return "loaded", load(data)
    except ValidationError as exc:
        return "refused", exc.messages


def same(schema_cls: type[Schema], data: Any) -> None:
    schema = schema_cls()
    assert answer(FastLoader(schema).load, data) == answer(schema_cls().load, data)


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-5, max_value=200), st.floats(allow_nan=False),
    st.sampled_from(["", "x", "sent", "email", "marketing", "a.b", "contact.event.visit", NOW, "2026-12-02",
                     "2026-12-02T08:00:00", "not a date", "5", "true", "UTC", "step.due", "broadcast.due",
                     "x" * 129, "camp:1:mail:20261202T000000Z"]),
    st.dictionaries(st.sampled_from(["email", "phone", "first_name", "extra", "subject"]),
                    st.one_of(st.none(), st.text(max_size=5), st.integers()), max_size=3),
    st.lists(st.integers(), max_size=2),
)


@pytest.mark.parametrize(("name", "schema_cls"), SCHEMAS, ids=[n for n, _ in SCHEMAS])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mapping_loads_or_is_refused_as_marshmallow_does(name: str, schema_cls: type[Schema],
                                                              data: st.DataObject) -> None:
    names = list(schema_cls().load_fields)
    keys = st.sampled_from([*names, "unknown_field"])
    base = {key: data.draw(VALUES, label=key) for key in names if data.draw(st.booleans(), label=f"has {key}")}
    extra = data.draw(st.dictionaries(keys, VALUES, max_size=3), label="extra")
    same(schema_cls, {**base, **extra})


def valid_examples() -> list[tuple[type[Schema], dict[str, Any]]]:
    by_name = {name: cls for name, _, cls in CONTRACTS}
    return [
        (by_name["message.*"], {"request_id": "r-1", "contact_id": "c-1", "channel": "email", "outcome": "sent",
                                "decided_at": NOW, "campaign_version": 3, "detail": "250 ok"}),
        (by_name["message.requested"], {
            "request_id": "r-1", "contact_id": "c-1", "channel": "email", "category": "marketing",
            "content": {"subject": "hi"}, "recipient": {"email": "a@example.com", "locale": "de"}, "priority": 5}),
        (by_name["step.due"], {"enrollment_id": "e-1", "step_id": "wait", "campaign_id": "kept as it is"}),
        (by_name["contact.upserted"], {"contact_id": "c-1", "updated_at": NOW, "attributes": {"tier": "gold"}}),
        (EnvelopeSchema, {"id": "m-1", "type": "message.sent", "version": 1, "occurred_at": NOW,
                          "source": "channels", "key": None, "payload": {"a": 1}}),
    ]


@pytest.mark.parametrize(("schema_cls", "payload"), valid_examples())
def test_valid_payloads_load_to_the_same_values(schema_cls: type[Schema], payload: dict[str, Any]) -> None:
    loaded = FastLoader(schema_cls()).load(payload)
    assert loaded == schema_cls().load(payload)
    assert FastLoader(schema_cls()).fast


@pytest.mark.parametrize("broken", [
    {"outcome": "nope"}, {"decided_at": "2026-12-02T08:00:00"}, {"campaign_version": "three"},
    {"surplus": 1}, {"channel": "E-Mail"}, {"request_id": None},
])
def test_invalid_payloads_are_refused_with_marshmallows_messages(broken: dict[str, Any]) -> None:
    schema_cls = dict((n, c) for n, _, c in CONTRACTS)["message.*"]
    payload = {"request_id": "r-1", "contact_id": "c-1", "channel": "email", "outcome": "sent", "decided_at": NOW,
               **broken}
    fast, slow = answer(FastLoader(schema_cls()).load, payload), answer(schema_cls().load, payload)
    assert fast == slow and fast[0] == "refused"


class WithHook(Schema):
    class Meta:
        unknown = INCLUDE

    n = fields.Integer(required=True, validate=validate.Range(min=0))

    @post_load
    def double(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**data, "n": data["n"] * 2}


def test_a_schema_with_hooks_is_loaded_by_marshmallow_itself() -> None:
    loader = FastLoader(WithHook())
    assert not loader.fast
    assert loader.load({"n": 2, "x": 1}) == {"n": 4, "x": 1}


def test_a_mapping_that_is_not_a_dict_and_non_mappings_go_to_marshmallow() -> None:
    schema_cls = dict((n, c) for n, _, c in CONTRACTS)["step.due"]
    for data in ([], "x", None, 3):
        same(schema_cls, data)


@pytest.mark.parametrize(("name", "schema_cls"), SCHEMAS, ids=[n for n, _ in SCHEMAS])
def test_every_contract_and_the_envelope_take_the_fast_path(name: str, schema_cls: type[Schema]) -> None:
    assert FastLoader(schema_cls()).fast, f"{name}: a hook, partial, data_key or attribute sends it to marshmallow"


def test_the_recipient_of_a_request_is_loaded_by_a_nested_fast_loader() -> None:
    schema_cls = dict((n, c) for n, _, c in CONTRACTS)["message.requested"]
    nested = {name: sub for name, _, sub in FastLoader(schema_cls()).fields if sub is not None}
    assert list(nested) == ["recipient"] and nested["recipient"].fast
    base = {"request_id": "r", "contact_id": "c", "channel": "sms", "category": "service", "content": {}}
    for recipient in ({"phone": "+1", "extra": [1]}, {"email": 5}, None, [], "x", {}):
        same(schema_cls, {**base, "recipient": recipient})


class Checked(Schema):
    """Two schema checks of one item, one of them given the original data, with unknown fields kept."""

    class Meta:
        unknown = INCLUDE

    a = fields.String()
    b = fields.Integer(validate=validate.Range(min=0))

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("a") and data.get("b") is None:
            raise ValidationError("give a or b", "a")

    @validates_schema(pass_original=True)
    def _no_z(self, data: dict[str, Any], original: dict[str, Any], **_: Any) -> None:
        if "z" in data or "z" in original:
            raise ValidationError("z is not allowed")


CHECKED = [("checked", Checked), ("contacts event", EventSchema)]


@pytest.mark.parametrize(("name", "schema_cls"), CHECKED, ids=[n for n, _ in CHECKED])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_schema_checks_of_one_item_load_or_refuse_as_marshmallow_does(name: str, schema_cls: type[Schema],
                                                                      data: st.DataObject) -> None:
    assert FastLoader(schema_cls()).fast
    names = [*schema_cls().load_fields, "z"]
    mapping = {key: data.draw(VALUES, label=key) for key in names if data.draw(st.booleans(), label=f"has {key}")}
    same(schema_cls, mapping)


def test_a_valid_event_passes_its_check_and_one_without_a_contact_is_refused_naming_the_field() -> None:
    event = {"event_id": "e-1", "contact_id": "c-1", "type": "visit", "occurred_at": NOW}
    assert FastLoader(EventSchema()).load(event) == EventSchema().load(event)
    with pytest.raises(ValidationError) as refused:
        FastLoader(EventSchema()).load({**event, "contact_id": ""})
    assert "contact_id" in refused.value.messages
    same(Checked, {"a": "x", "z": 1})
