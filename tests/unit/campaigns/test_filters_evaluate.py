"""Python evaluation: comparison semantics, MappingContext paths, consent, suppressions and events."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.domain.filters import MappingContext, evaluate
from shared.filters import parse

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def context(**overrides: Any) -> MappingContext:
    values: dict[str, Any] = {
        "contact": {
            "id": 1,
            "email": "ada@example.com",
            "locale": "en-GB",
            "attributes": {
                "tier": "gold",
                "balance": "10000",
                "score": 42,
                "ratio": 2.5,
                "vip": True,
                "nickname": "abc",
                "tags": ["vip", "mortgage", 7],
                "address": {"city": "Leeds"},
                "nothing": None,
            },
        },
        "event": {"type": "withdrawal", "data": {"amount": 250, "currency": "GBP"}},
        "consents": {"email": "granted", "sms": "withdrawn"},
        "now_at": NOW,
    }
    values.update(overrides)
    return MappingContext(**values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tier == 'gold'", True),
        ("contact.tier == 'gold'", True),
        ("contact.attributes.tier == 'gold'", True),
        ("address.city == 'Leeds'", True),
        ("email == 'ada@example.com'", True),
        ("locale in ['en-GB', 'fr-FR']", True),
        ("balance > 500", True),  # numeric string against a number
        ("balance == 10000", True),
        ("score == '42'", True),  # number against a numeric string literal
        ("score > '100'", False),
        ("ratio >= 2.5 and ratio < 3", True),
        ("nickname > 5", False),  # 'abc' is not a number: false, not an error
        ("nickname != 5", False),  # type mismatch is false even for !=
        ("nickname != 'xyz'", True),
        ("tier > 'apple'", True),  # strings order by code point
        ("vip == true", True),
        ("vip == 1", False),  # booleans are not numbers
        ("vip > false", False),
        ("tags contains 'vip'", True),
        ("tags contains 7", True),
        ("tags contains '7'", False),  # list membership keeps types
        ("email contains '@example.'", True),
        ("score contains 4", False),
        ("missing == 'x'", False),
        ("missing != 'x'", False),
        ("not missing == 'x'", True),
        ("missing is null", True),
        ("nothing is null", True),
        ("missing == null", True),
        ("tier != null", True),
        ("missing < 5", False),
        ("missing in ['a']", False),
        ("missing not in ['a']", False),
        ("tier not in ['silver', 'bronze']", True),
        ("tier not in []", True),
        ("tier in []", False),
        ("score not in ['abc']", False),  # every item must be comparable
        ("consent.email == 'granted'", True),
        ("consent.push is null", True),
        ("event.type == 'withdrawal'", True),
        ("event.amount > 100", True),  # falls back to event['data']
        ("event.data.currency == 'GBP'", True),
        ("has_consent('email')", True),
        ("has_consent('sms')", False),
        ("has_consent('push')", False),
    ],
)
def test_comparison_semantics(text: str, expected: bool) -> None:
    assert evaluate(parse(text), context()) is expected


def test_event_paths_without_an_event_are_null() -> None:
    assert evaluate(parse("event.amount is null"), context(event=None))


def test_precedence_is_respected_in_evaluation() -> None:
    ctx = context()
    assert evaluate(parse("tier == 'x' and score == 1 or vip == true"), ctx)
    assert not evaluate(parse("tier == 'x' and (score == 1 or vip == true)"), ctx)


SUPPRESSIONS = [
    {"scope": "channel", "value": "sms", "expires_at": None},
    {"scope": "topic", "value": "mortgage", "expires_at": NOW + timedelta(days=1)},
    {"scope": "channel", "value": "email", "expires_at": NOW - timedelta(seconds=1)},  # expired
]


@pytest.mark.parametrize(
    ("text", "suppressions", "expected"),
    [
        ("suppressed('sms')", SUPPRESSIONS, True),
        ("suppressed(channel='email')", SUPPRESSIONS, False),
        ("suppressed(topic='mortgage')", SUPPRESSIONS, True),
        ("suppressed(topic='loans')", SUPPRESSIONS, False),
        ("suppressed()", SUPPRESSIONS, False),
        ("suppressed()", [{"scope": "global", "value": None, "expires_at": None}], True),
        ("suppressed('email')", [{"scope": "global", "value": None, "expires_at": None}], True),
        ("suppressed()", [{"scope": "global", "value": None, "expires_at": NOW}], False),
    ],
)
def test_suppressions(text: str, suppressions: list[dict[str, Any]], expected: bool) -> None:
    assert evaluate(parse(text), context(suppressions=suppressions)) is expected


HISTORY = [
    {"type": "product_purchased", "occurred_at": NOW - timedelta(days=10), "data": {"product": "mortgage"}},
    {"type": "product_purchased", "occurred_at": NOW - timedelta(days=40), "data": {"product": "loan"}},
    {"type": "withdrawal", "occurred_at": NOW - timedelta(days=1), "data": {"amount": 150}},
    {"type": "withdrawal", "occurred_at": NOW - timedelta(days=2), "data": {"amount": "300"}},
    {"type": "withdrawal", "occurred_at": NOW - timedelta(days=3), "data": {"amount": 50}},
    {
        "type": "withdrawal",
        "occurred_at": NOW - timedelta(days=7),
        "data": {"amount": 500},
    },  # on the boundary
    {"type": "withdrawal", "occurred_at": NOW - timedelta(days=9), "data": {"amount": 900}},
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("did('product_purchased')", True),
        ("did('product_purchased', within='30d', where=product == 'mortgage')", True),
        ("did('product_purchased', within='30d', where=product == 'loan')", False),
        ("did('product_purchased', where=product == 'loan')", True),
        ("did('account_closed')", False),
        ("count('withdrawal') == 5", True),
        ("count('withdrawal', within='7d') == 4", True),
        ("count('withdrawal', within='7d', where=amount > 100) >= 3", True),
        ("count('withdrawal', within='1w', where=amount > 100 and amount < 400) == 2", True),
        ("count('withdrawal', within='12h') == 0", True),
        ("not did('withdrawal', within='90s')", True),
    ],
)
def test_events(text: str, expected: bool) -> None:
    assert evaluate(parse(text), context(history=HISTORY)) is expected


def test_odd_data_never_raises() -> None:
    odd = {"attributes": {"x": float("nan"), "y": {"a": 1}, "z": [None, {"b": 2}], "w": b"bytes"}}
    ctx = context(contact=odd)
    for op in ("==", "!=", "<", ">=", "contains"):
        for path in ("x", "y", "z", "w", "y.a.b", "z.b"):
            for literal in ("1", "'a'", "true", "null", "2.5"):
                if op == "contains" and literal == "null":
                    continue
                evaluate(parse(f"{path} {op} {literal}"), ctx)
