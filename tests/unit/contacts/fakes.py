"""An in-memory fake of the contacts repository (`services.contacts.repository.ContactStore`) and unit of work."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any


class FakeContactStore:
    """Contacts, current consents, consent history and timeline in plain containers."""

    def __init__(self) -> None:
        self.contacts: dict[str, SimpleNamespace] = {}
        self.consents: dict[tuple[str, str], dict[str, Any]] = {}
        self.consent_history: list[dict[str, Any]] = []
        self.timeline: list[dict[str, Any]] = []
        self.locked: list[str] = []

    def add(self, contact_id: str, erased_at: datetime | None = None) -> None:
        self.contacts[contact_id] = SimpleNamespace(id=contact_id, erased_at=erased_at)

    def contact(self, contact_id: str, *, for_update: bool = False) -> Any:
        if for_update:
            self.locked.append(contact_id)
        return self.contacts.get(contact_id)

    def save_consent(self, contact_id: str, channel: str, status: str, source: str | None,
                     changed_at: datetime) -> None:
        values = {"contact_id": contact_id, "channel": channel, "status": status, "source": source,
                  "changed_at": changed_at}
        self.consents[(contact_id, channel)] = values
        self.consent_history.append(values)

    def add_timeline(self, contact_id: str, kind: str, type: str, occurred_at: datetime,
                     data: dict[str, Any]) -> None:
        self.timeline.append({"contact_id": contact_id, "kind": kind, "type": type, "occurred_at": occurred_at,
                              "data": data})


class FakeUnitOfWork:
    """Records what a handler publishes; `store` is what the handler's `store=` hands out."""

    def __init__(self) -> None:
        self.store = FakeContactStore()
        self.published: list[dict[str, Any]] = []

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None, **fields: Any) -> Any:
        self.published.append({"type": message_type, "payload": payload, "key": key, **fields})
        return SimpleNamespace(id=f"m{len(self.published)}")


def store_of(uow: FakeUnitOfWork) -> FakeContactStore:
    """The `store` argument of the handlers under test."""
    return uow.store
