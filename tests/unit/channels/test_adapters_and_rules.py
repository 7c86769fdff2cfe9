"""Pure pieces around the gate: the rules document, signatures, token bucket, retry policy, adapter config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.channels.adapters.base import RetryPolicy, http_result
from services.channels.adapters.ratelimit import TokenBucket
from services.channels.adapters.registry import AdapterConfigError, parse_config, resolve
from services.channels.domain import (
    Category,
    ConsentStatus,
    ContactPolicyState,
    OutboundMessage,
    PolicyRules,
    Suppression,
    still_deliverable,
)
from services.channels.handlers.gate import horizon
from services.channels.rules import from_document, to_document
from services.channels.signing import sign, verify

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_default_rules_survive_the_document_roundtrip():
    rules = PolicyRules.defaults()
    assert from_document(to_document(rules)) == rules
    assert to_document(rules)["quiet_hours"]["email"] == [{"weekdays": [0, 1, 2, 3, 4, 5, 6],
                                                           "start": "08:00", "end": "21:00"}]
    assert horizon(rules) == timedelta(days=7)


def test_inconsistent_rules_are_refused():
    with pytest.raises(ValueError):
        from_document({"caps": [{"id": "a", "limit": 1, "window_seconds": 60, "scope": "channel"}]})
    with pytest.raises(ValueError):
        from_document({"caps": [{"id": "a", "limit": 1, "window_seconds": 60}] * 2})


@given(st.binary(max_size=200), st.text(min_size=1, max_size=20))
def test_signatures_verify_only_with_the_same_secret_and_body(body, secret):
    header = sign(secret, body)
    assert verify(secret, body, header)
    assert not verify(secret + "x", body, header)
    assert not verify(secret, body + b"x", header)
    assert not verify("", body, header) and not verify(secret, body, None)


def test_token_bucket_waits_for_tokens():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(rate=10, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        bucket.acquire()
    assert slept == pytest.approx([0.1, 0.1, 0.1])  # two from the burst, then one per 100 ms


def test_retry_policy_backoff_grows_and_caps():
    policy = RetryPolicy(max_attempts=5, backoff_seconds=1, multiplier=3, max_backoff_seconds=5)
    assert [policy.delay_after(n) for n in (1, 2, 3)] == [1, 3, 5]


@pytest.mark.parametrize(("status", "expected"), [(200, "sent"), (202, "sent"), (429, "retry"), (503, "retry"),
                                                  (408, "retry"), (400, "failed"), (404, "failed")])
def test_http_answers_map_to_delivery_results(status, expected):
    assert http_result(status, "id", "").status == expected


def test_adapter_configuration():
    assert set(parse_config(None)) == {"email", "sms", "call", "web"}
    assert parse_config('{"email": null, "push": {"adapter": "webhook"}}') == {"push": {"adapter": "webhook"}}
    for bad in ("not json", "[1]", '{"x": {"no": "adapter"}}'):
        with pytest.raises(AdapterConfigError):
            parse_config(bad)
    with pytest.raises(AdapterConfigError):
        resolve("no_such_adapter")
    with pytest.raises(AdapterConfigError):
        resolve("no.such.module:Thing")


def test_still_deliverable_rechecks_suppression_and_consent_only():
    rules = PolicyRules.defaults()
    marketing = OutboundMessage("email", Category.MARKETING, "c1")
    receipt = OutboundMessage("email", Category.TRANSACTIONAL, "c1")
    granted = ContactPolicyState(consents={"email": ConsentStatus.GRANTED})
    assert still_deliverable(marketing, granted, rules, NOW) is None
    withdrawn = ContactPolicyState(consents={"email": ConsentStatus.DENIED})
    assert still_deliverable(marketing, withdrawn, rules, NOW).reason == "consent_missing"
    unsubscribed = ContactPolicyState(consents={"email": "granted"},
                                      suppressions=(Suppression("u", "global", None, "unsubscribed"),))
    assert still_deliverable(marketing, unsubscribed, rules, NOW).reason == "suppressed:global:unsubscribed"
    assert still_deliverable(receipt, unsubscribed, rules, NOW) is None  # soft suppression spares receipts
    bounced = ContactPolicyState(suppressions=(Suppression("b", "channel", "email", "bounced"),))
    assert still_deliverable(receipt, bounced, rules, NOW).reason == "suppressed:channel:bounced"


def test_only_a_rule_set_without_any_rule_counts_as_empty():
    from services.channels.rules import from_document, sets_no_rule

    empty = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {"sms": []}, "opt_in_channels": []}
    assert sets_no_rule(from_document(empty))
    assert not sets_no_rule(from_document({**empty, "opt_in_channels": ["email"]}))
    assert not sets_no_rule(from_document({**empty, "min_marketing_gap_seconds": 60}))
    assert not sets_no_rule(from_document({**empty, "quiet_hours": {"sms": [
        {"weekdays": [0], "start": "09:00", "end": "17:00"}]}}))
    assert not sets_no_rule(from_document({**empty, "caps": [{"id": "c", "limit": 1, "window_seconds": 60}]}))
    capacity = [{"id": "calls", "channel": "call", "category": None, "limit": 150, "window": "day",
                 "time_zone": "Europe/Amsterdam", "when_full": "defer"}]
    assert not sets_no_rule(from_document({**empty, "capacity": capacity}))


def test_capacity_rules_round_trip_through_the_document_and_old_documents_have_none():
    from services.channels.rules import from_document, to_document

    capacity = [{"id": "calls", "channel": "call", "category": None, "limit": 150, "window": "day",
                 "time_zone": "Europe/Amsterdam", "when_full": "defer"},
                {"id": "sms-hourly", "channel": "sms", "category": "marketing", "limit": 20000, "window": "hour",
                 "time_zone": "UTC", "when_full": "expire"}]
    document = {**to_document(PolicyRules.defaults()), "capacity": capacity}
    assert to_document(from_document(document)) == document
    before = to_document(PolicyRules.defaults())
    del before["capacity"]  # stored before capacity rules existed
    assert from_document(before).capacity == ()
