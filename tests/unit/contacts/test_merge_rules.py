"""The pure rules of folding a duplicate profile into a survivor (services/contacts/domain/merge.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.contacts.domain.merge import (
    ConsentRecord,
    MergeRefused,
    Profile,
    check_merge,
    fold_consent,
    fold_fields,
    suppressions_to_announce,
)

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_the_survivor_wins_attribute_conflicts_and_only_gains_the_fields_it_lacks():
    survivor = {"email": "s@example.com", "phone": None, "first_name": "Sue", "last_name": None,
                "attributes": {"tier": "gold", "a": 1}}
    duplicate = {"email": "d@example.com", "phone": "+4930123456", "first_name": "Susan", "last_name": "Lee",
                 "locale": "de", "attributes": {"tier": "silver", "b": 2}}
    assert fold_fields(survivor, duplicate) == {"phone": "+4930123456", "last_name": "Lee", "locale": "de",
                                                "attributes": {"tier": "gold", "a": 1, "b": 2}}


def test_consent_the_most_restrictive_wins_and_a_missing_record_is_no_statement():
    survivor = [ConsentRecord("email", "granted", "form"), ConsentRecord("sms", "denied", "stop"),
                ConsentRecord("call", "unknown", None)]
    duplicate = [ConsentRecord("email", "denied", "agent"), ConsentRecord("sms", "granted", "form"),
                 ConsentRecord("call", "granted", "x"), ConsentRecord("web", "granted", "cookie")]
    assert fold_consent(survivor, duplicate) == [ConsentRecord("email", "denied", "agent"),
                                                 ConsentRecord("web", "granted", "cookie")]
    assert fold_consent(duplicate, []) == []


def _s(scope, value, expires_at=None):
    return SimpleNamespace(scope=scope, value=value, expires_at=expires_at)


def test_suppressions_union_announces_only_active_ones_new_to_the_survivor():
    survivor = [_s("channel", "email"), _s("topic", "mortgage", NOW - timedelta(days=1))]  # the topic one lapsed
    duplicate = [_s("channel", "email"), _s("topic", "mortgage"), _s("global", None, NOW - timedelta(hours=1)),
                 _s("channel", "sms", NOW + timedelta(days=1)), _s("channel", "sms")]
    new = suppressions_to_announce(survivor, duplicate, NOW)
    assert [(r.scope, r.value) for r in new] == [("topic", "mortgage"), ("channel", "sms")]


def test_which_merges_are_refused_and_which_are_no_ops():
    live, other = Profile("s", None, False), Profile("d", None, False)
    assert check_merge(live, other) is True
    assert check_merge(live, Profile("d", "s", False)) is False  # merged already: idempotent
    cases = [
        (live, Profile("s", None, False), "duplicate_id", False),   # into itself
        (Profile("s", None, True), other, "id", True),              # survivor erased
        (Profile("s", "x", False), other, "id", True),              # survivor is a tombstone
        (live, Profile("d", None, True), "duplicate_id", True),     # duplicate erased
        (live, Profile("d", "x", False), "duplicate_id", True),     # duplicate merged elsewhere
    ]
    for survivor, duplicate, field, conflict in cases:
        with pytest.raises(MergeRefused) as refused:
            check_merge(survivor, duplicate)
        assert (refused.value.field, refused.value.conflict) == (field, conflict)
