"""Consent and suppression changes record themselves in the unit of work's audit trail, whichever edge
made them (the API, the preference center, one-click, an interaction), against the in-memory fakes."""

from __future__ import annotations

import pytest

from services.contacts.handlers.preferences import add_suppression, lift_suppression, set_consent
from shared.errors import NotFound
from tests.unit.contacts.fakes import FakeUnitOfWork


def test_consent_changes_are_recorded_with_before_and_after() -> None:
    uow = FakeUnitOfWork()
    uow.contacts.add("c1")
    set_consent(uow, "c1", "sms", "granted", "form")
    set_consent(uow, "c1", "sms", "revoked", None)
    records = uow.audit.records
    assert [(r["action"], r["entity_id"], r["subject_id"]) for r in records] == [
        ("consent.set", "c1/sms", "c1"), ("consent.set", "c1/sms", "c1")]
    assert records[0]["details"] == {"after": {"status": "granted", "source": "form"}}
    assert records[1]["details"] == {"before": {"status": "granted", "source": "form"},
                                     "after": {"status": "revoked", "source": None}}


def test_suppressions_added_and_lifted_are_recorded_and_a_repeat_is_not() -> None:
    uow = FakeUnitOfWork()
    uow.contacts.add("c1")
    added = add_suppression(uow, "c1", {"scope": "channel", "value": "email", "reason": "unsubscribed"},
                            source_ref="req-1")
    assert add_suppression(uow, "c1", {"scope": "channel", "value": "email", "reason": "unsubscribed"},
                           source_ref="req-1") is None
    lift_suppression(uow, "c1", added["id"])
    lift_suppression(uow, "c1", added["id"])  # lifting twice changes nothing, so records nothing
    assert [(r["action"], r["entity_id"]) for r in uow.audit.records] == [
        ("suppression.add", added["id"]), ("suppression.lift", added["id"])]
    assert uow.audit.records[0]["details"]["after"]["scope"] == "channel"
    assert "lifted_at" in uow.audit.records[1]["details"]["after"] and "scope" not in uow.audit.records[1]["details"]["after"]


def test_a_refused_change_records_nothing() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(NotFound):
        set_consent(uow, "nobody", "email", "granted", None)
    assert uow.audit.records == []
