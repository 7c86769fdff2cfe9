"""In-memory fakes of the contacts repositories and of `services.contacts.unit_of_work.ContactsUnitOfWork`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from shared.clock import system_clock
from tests.unit.shared.audit_fake import FakeAuditLog


class FakeContactStore:
    """`ContactStore` in plain containers: contacts, consents and their history, suppressions, timeline."""

    def __init__(self) -> None:
        self.contacts: dict[str, SimpleNamespace] = {}
        self.consent_rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.consent_history: list[dict[str, Any]] = []
        self.suppression_rows: dict[str, SimpleNamespace] = {}
        self.timeline: list[dict[str, Any]] = []
        self.locked: list[str] = []

    def add(self, contact_id: str, erased_at: datetime | None = None, external_id: str | None = None,
            locale: str | None = None, **fields: Any) -> None:
        values = {"email": None, "phone": None, "first_name": None, "last_name": None, "time_zone": None,
                  "attributes": {}, "created_at": None, "updated_at": None, "merged_into": None, **fields}
        self.contacts[contact_id] = SimpleNamespace(id=contact_id, erased_at=erased_at, external_id=external_id,
                                                    locale=locale, **values)

    def update(self, contact_id: str, values: dict[str, Any], stamp: datetime) -> Any:
        row = self.contacts[contact_id]
        for name, value in {**values, "updated_at": stamp}.items():
            setattr(row, name, value)
        return row

    def redirects(self, contact_ids: Iterable[str]) -> dict[str, str]:
        return {cid: self.contacts[cid].merged_into for cid in contact_ids
                if cid in self.contacts and self.contacts[cid].merged_into is not None}

    def tombstone(self, duplicate_id: str, survivor_id: str, stamp: datetime) -> None:
        for row in self.contacts.values():
            if row.id == duplicate_id or row.merged_into == duplicate_id:
                row.merged_into, row.updated_at = survivor_id, stamp

    def move_records(self, duplicate_id: str, survivor_id: str) -> None:
        for entry in [*self.timeline, *self.consent_history]:
            if entry["contact_id"] == duplicate_id:
                entry["contact_id"] = survivor_id
        for row in self.suppression_rows.values():
            if row.contact_id == duplicate_id:
                row.contact_id = survivor_id
        self.consent_rows = {key: v for key, v in self.consent_rows.items() if key[0] != duplicate_id}

    def contact(self, contact_id: str, *, for_update: bool = False) -> Any:
        if for_update:
            self.locked.append(contact_id)
        return self.contacts.get(contact_id)

    def erased_state(self, contact_id: str) -> Any:
        return self.contacts.get(contact_id)

    def live_ids(self, contact_ids: Iterable[str]) -> set[str]:
        return {cid for cid in contact_ids if cid in self.contacts and self.contacts[cid].erased_at is None
                and self.contacts[cid].merged_into is None}

    def add_timeline_many(self, rows: Iterable[dict[str, Any]]) -> None:
        self.timeline.extend({"contact_id": r["contact_id"], "kind": r["kind"], "type": r["type"],
                              "occurred_at": r["occurred_at"], "data": r["data"], "ref": r["ref"]} for r in rows)

    def resolve(self, ids: Iterable[str], external_ids: Iterable[str]) -> list[Any]:
        ids, external_ids = set(ids), set(external_ids)
        return [c for c in self.contacts.values() if c.id in ids or c.external_id in external_ids]

    def save_consent(self, contact_id: str, channel: str, status: str, source: str | None,
                     changed_at: datetime) -> None:
        values = {"contact_id": contact_id, "channel": channel, "status": status, "source": source,
                  "changed_at": changed_at}
        self.consent_rows[(contact_id, channel)] = values
        self.consent_history.append(values)

    def consents(self, contact_id: str) -> list[Any]:
        return [SimpleNamespace(**v) for (cid, _), v in sorted(self.consent_rows.items()) if cid == contact_id]

    def suppressions(self, contact_id: str, *, active_at: datetime | None) -> list[Any]:
        return [r for r in reversed(self.suppression_rows.values()) if r.contact_id == contact_id
                and (active_at is None or r.expires_at is None or r.expires_at > active_at)]

    def add_suppression(self, values: dict[str, Any], *, source_ref: str | None = None) -> Any:
        if source_ref is not None and any(s.source_ref == source_ref for s in self.suppression_rows.values()):
            return None
        row = SimpleNamespace(**{"expires_at": None, "source": None, "lifted_at": None, **values,
                                 "source_ref": source_ref})
        self.suppression_rows[row.id] = row
        return row

    def suppression(self, contact_id: str, suppression_id: str) -> Any:
        row = self.suppression_rows.get(suppression_id)
        return row if row is not None and row.contact_id == contact_id else None

    def lift_suppression(self, suppression_id: str, stamp: datetime) -> Any:
        row = self.suppression_rows[suppression_id]
        row.lifted_at = row.expires_at = stamp
        return row

    def add_timeline(self, contact_id: str, kind: str, type: str, occurred_at: datetime,
                     data: dict[str, Any] | None = None, *, ref: str | None = None) -> None:
        self.timeline.append({"contact_id": contact_id, "kind": kind, "type": type, "occurred_at": occurred_at,
                              "data": data if data is not None else {}, "ref": ref})


class FakeEventStore:
    """`EventStore` in plain containers; shares the timeline list of the contact store."""

    def __init__(self, timeline: list[dict[str, Any]]) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.timeline = timeline

    def store_new(self, rows: list[dict[str, Any]]) -> set[str]:
        stored = set()
        for r in rows:
            if r["event_id"] not in self.events:
                self.events[r["event_id"]] = r
                stored.add(r["event_id"])
                self.timeline.append({"contact_id": r["contact_id"], "kind": "event", "type": r["type"],
                                      "occurred_at": r["occurred_at"], "data": r["data"], "ref": r["event_id"]})
        return stored


class FakeTopicStore:
    """`TopicStore` as a dict by key."""

    def __init__(self) -> None:
        self.rows: dict[str, SimpleNamespace] = {}

    def all(self) -> list[Any]:
        return [self.rows[key] for key in sorted(self.rows)]

    def put(self, key: str, labels: dict[str, str], stamp: datetime) -> Any:
        created = self.rows[key].created_at if key in self.rows else stamp
        self.rows[key] = SimpleNamespace(key=key, labels=dict(labels), created_at=created, updated_at=stamp)
        return self.rows[key]

    def delete(self, key: str) -> bool:
        return self.rows.pop(key, None) is not None


class FakeUnitOfWork:
    """The repositories of a `ContactsUnitOfWork` as fakes; records what the handler publishes."""

    source = "contacts"

    def __init__(self) -> None:
        self.clock = system_clock
        self.contacts = FakeContactStore()
        self.audit = FakeAuditLog()
        self.events = FakeEventStore(self.contacts.timeline)
        self.topics = FakeTopicStore()
        self.published: list[dict[str, Any]] = []

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None, **fields: Any) -> Any:
        self.published.append({"type": message_type, "payload": payload, "key": key, **fields})
        return SimpleNamespace(id=f"m{len(self.published)}")
