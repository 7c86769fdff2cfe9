"""An in-memory fake of the campaigns enrollment repository (`repository.EnrollmentStore`) and unit of work.

It answers what the SQL answers (a send already recorded under its request id is not new), so
the enrollment handlers run with no database and no broker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.campaigns.domain.enrollment import Enrollment


class FakeEnrollmentStore:
    """Campaigns, versions, enrollments, contacts, templates and sends in dicts."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.definitions: dict[tuple[str, int], dict[str, Any]] = {}
        self.enrollments: dict[str, Enrollment] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.consents: dict[str, dict[str, str]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.sends: dict[str, dict[str, Any]] = {}
        self.locked: list[str] = []

    def add_campaign(self, campaign_id: str, definition: dict[str, Any], status: str = "active",
                     version: int = 1) -> None:
        self.statuses[campaign_id] = status
        self.definitions[(campaign_id, version)] = definition

    def lock_enrollment(self, enrollment_id: str) -> Enrollment | None:
        self.locked.append(enrollment_id)
        return self.enrollments.get(enrollment_id)

    def campaign_status(self, campaign_id: str) -> str | None:
        return self.statuses.get(campaign_id)

    def definition(self, campaign_id: str, version: int) -> dict[str, Any] | None:
        return self.definitions.get((campaign_id, version))

    def contact(self, contact_id: str) -> Mapping[str, Any] | None:
        return self.contacts.get(contact_id)

    def contact_facts(self, contact_id: str, since: datetime, limit: int
                      ) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
        return dict(self.consents.get(contact_id, {})), [], []

    def template(self, template_id: str) -> dict[str, Any] | None:
        return self.templates.get(template_id)

    def save(self, updates: Sequence[Mapping[str, Any]]) -> None:
        for u in updates:
            self.enrollments[u["b_id"]] = replace(
                self.enrollments[u["b_id"]], status=u["status"], current_step=u["current_step"],
                waiting_until=u["waiting_until"], variant=u["variant"], reason=u["reason"], ended_at=u["ended_at"])

    def add_sends(self, rows: Sequence[Mapping[str, Any]], fresh: bool = False) -> set[str]:
        new = {r["request_id"] for r in rows if r["request_id"] not in self.sends}
        for r in rows:
            self.sends.setdefault(r["request_id"], dict(r))
        return new


class FakeUnitOfWork:
    """Records what a handler publishes; `store` is what `Engine(store=...)` hands out."""

    def __init__(self) -> None:
        self.store = FakeEnrollmentStore()
        self.published: list[dict[str, Any]] = []

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None, **fields: Any) -> None:
        self.published.append({"type": message_type, "payload": payload, "key": key, **fields})

    def flush(self) -> None:
        """The outbox write happens in SQL; the fake keeps `published` as it is."""


def store_of(uow: FakeUnitOfWork) -> FakeEnrollmentStore:
    """The `store` of the Engine under test."""
    return uow.store
