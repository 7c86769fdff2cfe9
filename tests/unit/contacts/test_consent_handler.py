"""The consent use case (`handlers.preferences.set_consent`) against an in-memory fake of its repository."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.contacts.handlers.preferences import set_consent
from shared.errors import Conflict, NotFound
from tests.unit.contacts.fakes import FakeUnitOfWork


def test_consent_is_recorded_on_history_and_timeline_and_announced_once() -> None:
    uow = FakeUnitOfWork()
    uow.contacts.add("c1")
    result = set_consent(uow, "c1", "sms", "granted", "form")
    set_consent(uow, "c1", "sms", "revoked", None)
    assert uow.contacts.locked == ["c1", "c1"]  # the contact is locked before its consent changes
    assert uow.contacts.consent_rows[("c1", "sms")]["status"] == "revoked"
    assert [h["status"] for h in uow.contacts.consent_history] == ["granted", "revoked"]
    assert [(t["kind"], t["type"], t["data"]) for t in uow.contacts.timeline] == [
        ("consent", "sms", {"status": "granted", "source": "form"}),
        ("consent", "sms", {"status": "revoked", "source": None})]
    first = uow.published[0]
    assert (first["type"], first["key"]) == ("contact.consent.changed", "c1")
    assert first["payload"] == {"contact_id": "c1", "channel": "sms", "status": "granted", "source": "form",
                                "changed_at": result["changed_at"].isoformat()}
    assert len(uow.published) == 2


@pytest.mark.parametrize(("contact_id", "erased", "error"), [("nobody", False, NotFound), ("c1", True, Conflict)])
def test_consent_of_an_unknown_or_erased_contact_is_refused_and_changes_nothing(
        contact_id: str, erased: bool, error: type[Exception]) -> None:
    uow = FakeUnitOfWork()
    uow.contacts.add("c1", erased_at=datetime(2026, 1, 1, tzinfo=UTC) if erased else None)
    with pytest.raises(error):
        set_consent(uow, contact_id, "email", "granted", None)
    assert uow.contacts.consent_rows == {} and uow.contacts.timeline == [] and uow.published == []
