"""The forecast body's contact list: the fast path loads what the nested schema loads, and refuses the same."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.channels.schemas import ForecastSchema

MESSAGE = {"channel": "sms", "category": "marketing"}


def _load(contacts):
    return ForecastSchema().load({"message": MESSAGE, "contacts": contacts})["contacts"]


def test_well_formed_contacts_load_as_the_nested_schema_would():
    loaded = _load([{"contact_id": "c1"}, {"contact_id": "c2", "time_zone": "Europe/Amsterdam"},
                    {"contact_id": "c3", "time_zone": None}])
    assert loaded == [{"contact_id": "c1", "time_zone": None},
                      {"contact_id": "c2", "time_zone": "Europe/Amsterdam"},
                      {"contact_id": "c3", "time_zone": None}]


@pytest.mark.parametrize(("contact", "field", "message"), [
    ({}, "contact_id", "Missing data for required field."),
    ({"contact_id": ""}, "contact_id", "Length must be between 1 and 128."),
    ({"contact_id": "x" * 129}, "contact_id", "Length must be between 1 and 128."),
    ({"contact_id": 7}, "contact_id", "Not a valid string."),
    ({"contact_id": None}, "contact_id", "Field may not be null."),
    ({"contact_id": "c", "time_zone": ""}, "time_zone", "Length must be between 1 and 64."),
    ({"contact_id": "c", "time_zone": 3}, "time_zone", "Not a valid string."),
    ({"contact_id": "c", "extra": 1}, "extra", "Unknown field."),
])
def test_a_bad_contact_is_named_by_index_and_field(contact, field, message):
    with pytest.raises(ValidationError) as caught:
        _load([{"contact_id": "ok"}, contact])
    assert caught.value.messages["contacts"][1][field] == [message]


def test_a_contact_that_is_not_an_object_is_refused():
    with pytest.raises(ValidationError) as caught:
        _load([{"contact_id": "ok"}, "c2"])
    assert 1 in caught.value.messages["contacts"]


def test_the_list_limits_still_hold():
    with pytest.raises(ValidationError) as caught:
        _load([])
    assert "contacts" in caught.value.messages
    with pytest.raises(ValidationError):
        ForecastSchema().load({"message": MESSAGE, "contacts": {"contact_id": "c1"}})
