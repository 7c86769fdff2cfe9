"""The pure rules of the audit trail: what of a change is kept, within the bound, and how erasure redacts it."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from decimal import Decimal

from shared.audit.details import (
    DETAILS_BOUND_BYTES,
    ERASED,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STRING,
    change_details,
    redact,
    size_of,
)
from shared.audit.log import AuditLog
from tests.unit.shared.audit_fake import FakeAuditLog


def test_an_update_keeps_only_the_fields_that_changed():
    before = {"id": "c1", "email": "a@example.com", "first_name": "Ann", "locale": "en"}
    after = {"id": "c1", "email": "b@example.com", "first_name": "Ann", "locale": "de", "phone": "+4930"}
    assert change_details(before, after) == {
        "before": {"email": "a@example.com", "locale": "en"},
        "after": {"email": "b@example.com", "locale": "de", "phone": "+4930"}}


def test_a_create_has_only_after_and_a_delete_only_before_and_nothing_is_none():
    assert change_details(after={"name": "x"}) == {"after": {"name": "x"}}
    assert change_details(before={"name": "x"}) == {"before": {"name": "x"}}
    assert change_details() is None


def test_values_become_json():
    at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert change_details(after={"at": at, "n": Decimal("1.5"), "tags": {"b", "a"}, "pair": (1, 2)}) == {
        "after": {"at": "2026-12-02T12:00:00+00:00", "n": "1.5", "tags": ["a", "b"], "pair": [1, 2]}}


def test_long_strings_lists_and_deep_nesting_are_cut():
    deep: dict = {"leaf": 1}
    for _ in range(MAX_DEPTH + 2):
        deep = {"d": deep}
    details = change_details(after={"text": "x" * 1000, "items": list(range(100)), "deep": deep})
    after = details["after"]
    assert after["text"] == "x" * MAX_STRING + "…"
    assert after["items"][:MAX_ITEMS] == list(range(MAX_ITEMS)) and after["items"][-1] == "… 80 more"
    node = after["deep"]
    for _ in range(MAX_DEPTH - 2):
        node = node["d"]
    assert node == {"d": "…"}


def test_details_never_exceed_the_bound():
    many = {f"field_{i:03}": "y" * 300 for i in range(MAX_ITEMS)}  # each cut to MAX_STRING: still > 4 KiB
    details = change_details({}, many)
    assert size_of(details) <= DETAILS_BOUND_BYTES
    assert details["truncated"] is True and details["changed"][0] == "field_000"
    # a small bound keeps as many field names as fit, still within it
    small = change_details({}, many, bound=300)
    assert size_of(small) <= 300 and small["changed"] and small["truncated"]


def test_redaction_erases_personal_values_at_any_depth_and_keeps_the_rest():
    details = {"before": {"email": "a@example.com", "locale": "en", "attributes": {"city": "Berlin"}},
               "after": {"email": "b@example.com", "status": "granted", "phone": None,
                         "items": [{"first_name": "Ann", "channel": "sms"}]}}
    assert redact(details, {"email", "first_name", "attributes", "phone"}) == {
        "before": {"email": ERASED, "locale": "en", "attributes": ERASED},
        "after": {"email": ERASED, "status": "granted", "phone": None,
                  "items": [{"first_name": ERASED, "channel": "sms"}]}}
    summary = {"truncated": True, "changed": ["email", "phone"]}
    assert redact(summary, {"email", "phone"}) == summary
    assert redact(None, {"email"}) is None


def test_the_fake_audit_log_answers_the_real_ones_calls():
    for name in ("record", "redact_subject"):
        assert list(inspect.signature(getattr(FakeAuditLog, name)).parameters) == list(
            inspect.signature(getattr(AuditLog, name)).parameters)
