"""One-click unsubscribe tokens: only the genuine, unexpired token of a contact is accepted."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared import unsubscribe
from shared.unsubscribe import ExpiredToken, InvalidToken, mint, verify

SECRET = "s3cret-for-tests"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CONTACT = "01900000-0000-7000-8000-000000000001"
OTHER = "01900000-0000-7000-8000-000000000002"


def _payload(token: str) -> list:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _with_payload(token: str, payload: list) -> str:
    version, _, mac = token.split(".")
    text = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{version}.{text}.{mac}"


def test_a_minted_token_verifies_to_its_claim_and_is_url_safe():
    token = mint(SECRET, CONTACT, "channel", "email", NOW)
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    claim = verify([SECRET], token, NOW + timedelta(days=3))
    assert (claim.contact_id, claim.scope, claim.value, claim.issued_at) == (CONTACT, "channel", "email", NOW)
    assert unsubscribe.unsubscribe_url("https://t.example/", token) == f"https://t.example/u/{token}"


def test_a_token_for_a_topic():
    claim = verify([SECRET], mint(SECRET, CONTACT, "topic", "mortgage", NOW), NOW)
    assert (claim.scope, claim.value) == ("topic", "mortgage")


def test_another_secret_cannot_forge_a_token():
    forged = mint("guessed", CONTACT, "channel", "email", NOW)
    with pytest.raises(InvalidToken):
        verify([SECRET], forged, NOW)


def test_a_token_cannot_be_turned_into_another_contacts_token():
    token = mint(SECRET, CONTACT, "channel", "email", NOW)
    payload = _payload(token)
    payload[0] = OTHER
    with pytest.raises(InvalidToken, match="signature"):
        verify([SECRET], _with_payload(token, payload), NOW)


@pytest.mark.parametrize("change", [lambda p: p.__setitem__(2, "sms"), lambda p: p.__setitem__(1, "topic"),
                                    lambda p: p.__setitem__(3, p[3] + 86_400 * 400)],
                         ids=["channel", "scope", "issued_at"])
def test_changing_any_part_breaks_the_signature(change):
    token = mint(SECRET, CONTACT, "channel", "email", NOW)
    payload = _payload(token)
    change(payload)
    with pytest.raises(InvalidToken):
        verify([SECRET], _with_payload(token, payload), NOW)


@pytest.mark.parametrize("token", ["", "v1", "v1..", "v2.abc.def", "v1.abc", "v1.@@@.###", "v1.e30.AAAA", "x" * 600,
                                   "v1.ünï.cödé"])
def test_malformed_tokens_are_invalid(token):
    with pytest.raises(InvalidToken):
        verify([SECRET], token, NOW)


def test_a_flipped_character_in_the_mac_is_invalid():
    token = mint(SECRET, CONTACT, "channel", "email", NOW)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidToken):
        verify([SECRET], flipped, NOW)


def test_expiry_after_the_max_age_and_not_before():
    token = mint(SECRET, CONTACT, "channel", "email", NOW)
    assert verify([SECRET], token, NOW + timedelta(days=365)).contact_id == CONTACT
    with pytest.raises(ExpiredToken):
        verify([SECRET], token, NOW + timedelta(days=365, seconds=1))
    with pytest.raises(ExpiredToken):
        verify([SECRET], token, NOW + timedelta(days=31), max_age=timedelta(days=30))


def test_an_expired_token_is_still_an_invalid_token_to_callers_that_only_catch_that():
    assert issubclass(ExpiredToken, InvalidToken)


def test_a_token_from_the_future_is_refused():
    token = mint(SECRET, CONTACT, "channel", "email", NOW + timedelta(hours=1))
    with pytest.raises(InvalidToken, match="future"):
        verify([SECRET], token, NOW)


def test_rotation_accepts_the_previous_secret_and_nothing_without_a_secret():
    old = mint("old-secret", CONTACT, "channel", "email", NOW)
    assert verify([SECRET, "old-secret"], old, NOW).contact_id == CONTACT
    with pytest.raises(InvalidToken):
        verify([], old, NOW)
    with pytest.raises(InvalidToken):
        verify([""], old, NOW)


def test_minting_needs_a_secret_and_a_known_scope():
    with pytest.raises(ValueError):
        mint("", CONTACT, "channel", "email", NOW)
    with pytest.raises(ValueError):
        mint(SECRET, CONTACT, "global", "email", NOW)
