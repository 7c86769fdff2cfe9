"""Normalisation rules of contact fields (no I/O)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contacts.domain.contact import (
    attribute_errors,
    normalize_contact,
    normalize_email,
    normalize_locale,
    normalize_phone,
    normalize_time_zone,
)
from services.contacts.domain.ids import is_uuid, new_id


def test_email_domain_is_lowercased_and_local_part_kept():
    assert normalize_email("  Jane.Doe@Example.COM ") == "Jane.Doe@example.com"
    with pytest.raises(ValueError):
        normalize_email("jane@")


@pytest.mark.parametrize(("text", "region", "expected"), [
    ("+44 20 7946 0018", None, "+442079460018"),
    ("0044 20 7946 0018", None, "+442079460018"),
    ("020 7946 0018", "gb", "+442079460018"),
    ("(415) 555-2671", "US", "+14155552671"),
])
def test_phone_becomes_e164(text, region, expected):
    assert normalize_phone(text, region) == expected


@pytest.mark.parametrize(("text", "region"), [("020 7946 0018", None), ("+44 12", None), ("hello", "GB")])
def test_bad_phones_are_refused(text, region):
    with pytest.raises(ValueError):
        normalize_phone(text, region)


def test_locale_and_time_zone():
    assert normalize_locale("zh_hant_tw") == "zh-Hant-TW"
    assert normalize_locale("EN") == "en"
    assert normalize_time_zone("Europe/London") == "Europe/London"
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ValueError):
            normalize_time_zone(bad)


def test_attributes_are_bounded():
    assert attribute_errors({"tier": "platinum", "tags": ["a"], "address": {"city": "Leeds"}}) is None
    assert "object" in attribute_errors([1])
    assert "reserved" in attribute_errors({"email": "x"})
    assert "levels" in attribute_errors({"a": {"b": {"c": {"d": {"e": 1}}}}})
    assert "bytes" in attribute_errors({"big": "x" * 20_000})
    assert "must match" in attribute_errors({"1st": 1})


def test_normalize_contact_collects_errors_per_field():
    result = normalize_contact({"email": "bad", "phone": "12", "time_zone": "Nowhere", "first_name": "",
                                "locale": 5}, phone_region=None)
    assert set(result.errors) == {"email", "phone", "time_zone", "locale"}
    assert result.values == {"first_name": None}
    assert "phone_region" in normalize_contact({}, phone_region="QQ").errors


def test_ids_are_time_ordered_uuids():
    ids = [new_id() for _ in range(10_000)]  # many within one millisecond
    assert all(is_uuid(i) and uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert not is_uuid("not-a-uuid") and not is_uuid("")


@given(st.text(max_size=60))
def test_normalisers_only_ever_raise_value_error(text):
    for normalise in (normalize_email, normalize_locale, normalize_time_zone, normalize_phone):
        with contextlib.suppress(ValueError):  # anything else (TypeError, KeyError) fails the test
            normalise(text)
