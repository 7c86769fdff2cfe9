"""The email fast path answers exactly as email_validator does, for good and bad addresses alike."""

from __future__ import annotations

import random

import pytest

from shared.addresses import _validated_email, normalize_email

CASES = [
    "person1@example.com", "Person.One@Example.COM", "  padded@example.org ", "a+tag@sub.example.co.uk",
    "o'brien@example.ie", "x@localhost", "x@example", "x@example.invalid", "x@test", "x@example..com",
    "x@-example.com", "x@example-.com", "x@.example.com", "x@example.com.", ".x@example.com", "x.@example.com",
    "x..y@example.com", "@example.com", "x@", "x@@example.com", "x@xn--bcher-kva.example", "x@b\u00fccher.example",
    "\u00fc@example.com", '"quoted"@example.com', "x y@example.com", "x@exa mple.com", "x@[127.0.0.1]",
    "Name <x@example.com>", "x@example.com>", "x@123.123.123.123", "x@example.c", "x@example.123",
    "l" * 64 + "@example.com", "l" * 65 + "@example.com", "x@" + "d" * 63 + ".com", "x@" + "d" * 64 + ".com",
    "x@" + ".".join(["a" * 60] * 4) + ".com", "l" * 64 + "@" + ".".join(["a" * 60] * 3) + ".example.com",
    "x@EXAMPLE.com", "x@Example.Com", "x@ex_ample.com", "x@example.local", "x@onion", "x@a.onion", "x@arpa",
]


def outcome(fn, text: str) -> tuple[str, str]:
    try:
        return "ok", fn(text)
    except ValueError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("text", CASES)
def test_fast_path_matches_email_validator(text: str) -> None:
    assert outcome(normalize_email, text) == outcome(_validated_email, text)


def test_fast_path_matches_on_random_addresses() -> None:
    rng = random.Random(11)
    alphabet = "abcXYZ09.-_+'@!#~ "
    for _ in range(3000):
        local = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        domain = "".join(rng.choice("abZ09.-_") for _ in range(rng.randint(0, 10)))
        text = f"{local}@{domain}{rng.choice(['', '.com', '.de', '.c0m'])}"
        assert outcome(normalize_email, text) == outcome(_validated_email, text), text
