"""An in-memory `shared.audit.log.AuditLog` for the handler tests' fake units of work."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from shared.audit.details import change_details, redact


class FakeAuditLog:
    """Keeps records in a list, with the real one's bounded details and redaction."""

    def __init__(self, actor: Any = None) -> None:
        self.records: list[dict[str, Any]] = []
        self.actor = actor

    def record(self, action: str, entity_type: str, entity_id: str, *, at: datetime, before: Any = None,
               after: Any = None, subject_id: str | None = None) -> int:
        """Append a record; return its id."""
        self.records.append({"id": len(self.records) + 1, "at": at, "action": action, "entity_type": entity_type,
                             "entity_id": entity_id, "subject_id": subject_id, "actor": self.actor,
                             "details": change_details(before, after), "redacted_at": None})
        return len(self.records)

    def redact_subject(self, subject_id: str, personal: Collection[str], at: datetime) -> int:
        """Redact the records about `subject_id` as the real one does."""
        hits = [r for r in self.records if r["subject_id"] == subject_id and r["redacted_at"] is None]
        for r in hits:
            r.update(details=redact(r["details"], personal), redacted_at=at)
        return len(hits)
