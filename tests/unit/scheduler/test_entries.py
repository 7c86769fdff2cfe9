"""Deferrals, fired message ids and broadcast payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.domain.entries import (
    InvalidDeferral,
    broadcast_message_id,
    broadcast_payload,
    deferral_entry,
    fired_message_id,
)
from shared.clock import ManualClock

REQUEST = {"request_id": "r1", "contact_id": "c1", "channel": "email", "category": "marketing",
           "campaign_id": "camp", "content": {"subject": "hi"}, "deferrals": 2}
UNTIL = datetime(2026, 3, 29, 7, tzinfo=UTC)


def test_deferral_republishes_the_request_with_deferrals_counted_up():
    entry = deferral_entry({"request_id": "r1", "contact_id": "c1", "defer_until": UNTIL}, REQUEST)
    assert entry.entry_id == "defer:r1:2"
    assert entry.due_at == UNTIL
    assert entry.message_type == "message.requested"
    assert entry.payload == {**REQUEST, "deferrals": 3}
    assert entry.key == "c1" and entry.owner == "camp"
    assert REQUEST["deferrals"] == 2  # the original is not mutated


def test_first_deferral_counts_from_zero():
    request = {k: v for k, v in REQUEST.items() if k != "deferrals"}
    entry = deferral_entry({"request_id": "r1", "contact_id": "c1", "defer_until": UNTIL}, request)
    assert entry.entry_id == "defer:r1:0" and entry.payload["deferrals"] == 1


@pytest.mark.parametrize("outcome, original", [
    ({"request_id": "r1", "contact_id": "c1", "defer_until": None}, REQUEST),
    ({"request_id": "r1", "contact_id": "c1", "defer_until": UNTIL}, None),
])
def test_a_deferral_without_time_or_request_is_refused(outcome, original):
    with pytest.raises(InvalidDeferral):
        deferral_entry(outcome, original)


def test_fired_ids_are_stable_and_distinct():
    assert fired_message_id("a") == fired_message_id("a") != fired_message_id("b")
    assert len(fired_message_id("x" * 255)) <= 64
    assert broadcast_message_id("s", UNTIL) != broadcast_message_id("s", UNTIL + timedelta(days=1))


def test_broadcast_payload_carries_schedule_and_fire_time():
    body = broadcast_payload("s1", UNTIL, "camp", {"segment": "vip", "schedule_id": "spoofed"})
    assert body == {"segment": "vip", "schedule_id": "s1", "fire_time": UNTIL.isoformat(), "owner": "camp"}


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(UNTIL)
    assert clock.now() == clock.now() == UNTIL
    assert clock.advance(timedelta(seconds=5)) == UNTIL + timedelta(seconds=5)
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))
