"""In-memory fakes of the campaigns repositories, shaped like `services.campaigns.unit_of_work.CampaignsUnitOfWork`.

They keep plain dicts and answer what the SQL answers (a send already recorded under its
request id is not new, an occurrence enrolls a contact once, an event id is stored once), so
the handlers run unchanged with no database and no broker (cosmicpython's FakeRepository).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from services.campaigns.domain.enrollment import Enrollment
from tests.unit.shared.audit_fake import FakeAuditLog


class FakeCampaignStore:
    """Campaign statuses and their versions' definitions."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.current: dict[str, int] = {}
        self.definitions: dict[tuple[str, int], dict[str, Any]] = {}

    def add_campaign(self, campaign_id: str, definition: dict[str, Any], status: str = "active",
                     version: int = 1) -> None:
        self.statuses[campaign_id] = status
        self.current[campaign_id] = version
        self.definitions[(campaign_id, version)] = definition

    def status(self, campaign_id: str) -> str | None:
        return self.statuses.get(campaign_id)

    def status_and_version(self, campaign_id: str) -> tuple[str, int | None] | None:
        if campaign_id not in self.statuses:
            return None
        return self.statuses[campaign_id], self.current.get(campaign_id)

    def definition(self, campaign_id: str, version: int) -> dict[str, Any] | None:
        return self.definitions.get((campaign_id, version))

    def get(self, campaign_id: str, lock: bool = False) -> dict[str, Any] | None:
        if campaign_id not in self.statuses:
            return None
        version = self.current.get(campaign_id)
        return {"campaign_id": campaign_id, "status": self.statuses[campaign_id], "version": version,
                "definition": self.definitions.get((campaign_id, version))}

    def versions(self, campaign_id: str) -> list[dict[str, Any]]:
        return [{"version": v, "created_at": None} for (cid, v) in sorted(self.definitions) if cid == campaign_id]

    def triggered_by(self, event_types: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        entered: dict[str, list[tuple[str, int]]] = {}
        for cid, status in sorted(self.statuses.items()):
            event_type = self.definitions[(cid, self.current[cid])]["entry"].get("event_type")
            if status == "active" and event_type in set(event_types):
                entered.setdefault(event_type, []).append((cid, self.current[cid]))
        return entered


class FakeTemplateStore:
    """Stored templates by id."""

    def __init__(self) -> None:
        self.templates: dict[str, dict[str, Any]] = {}

    def content(self, template_id: str) -> dict[str, Any] | None:
        return self.templates.get(template_id)


class FakeEnrollmentStore:
    """Enrollments by id; `locked` records every enrollment lock taken, in order."""

    def __init__(self) -> None:
        self.enrollments: dict[str, Enrollment] = {}
        self.enrolled_at: dict[str, datetime] = {}
        self.locked: list[str] = []

    def lock_enrollment(self, enrollment_id: str) -> Enrollment | None:
        self.locked.append(enrollment_id)
        return self.enrollments.get(enrollment_id)

    def lock_running(self, contact_id: str) -> list[Enrollment]:
        running = [e for e in self.enrollments.values() if e.contact_id == contact_id and e.status == "active"]
        self.locked.extend(e.enrollment_id for e in running)
        return running

    def lock_running_many(self, contact_ids: Iterable[str]) -> dict[str, list[Enrollment]]:
        running: dict[str, list[Enrollment]] = {}
        for e in sorted(self.enrollments.values(), key=lambda e: e.enrollment_id):
            if e.contact_id in set(contact_ids) and e.status == "active":
                running.setdefault(e.contact_id, []).append(e)
                self.locked.append(e.enrollment_id)
        return running

    def save(self, updates: Sequence[Mapping[str, Any]]) -> None:
        for u in updates:
            self.enrollments[u["b_id"]] = replace(
                self.enrollments[u["b_id"]], status=u["status"], current_step=u["current_step"],
                waiting_until=u["waiting_until"], variant=u["variant"], reason=u["reason"], ended_at=u["ended_at"])

    def enroll_once(self, enrollment: Enrollment, enrolled_at: datetime) -> bool:
        for e in self.enrollments.values():
            same_occurrence = (e.campaign_id, e.contact_id, e.occurrence) == (
                enrollment.campaign_id, enrollment.contact_id, enrollment.occurrence)
            if same_occurrence:
                return False
            if (e.campaign_id, e.contact_id, e.status) == (enrollment.campaign_id, enrollment.contact_id, "active"):
                raise AssertionError("uq_enrollments_active: a second running enrollment")
        self.enrollments[enrollment.enrollment_id] = replace(enrollment, status="active")
        self.enrolled_at[enrollment.enrollment_id] = enrolled_at
        return True

    def enroll_many(self, new: Sequence[Enrollment], enrolled_at: datetime) -> set[str]:
        return {e.enrollment_id for e in new if self.enroll_once(e, enrolled_at)}

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for r in rows:
            self.enrollments[r["enrollment_id"]] = Enrollment(
                campaign_id=r["campaign_id"], version=r["version"], contact_id=r["contact_id"],
                enrollment_id=r["enrollment_id"], occurrence=r["occurrence"], status=r["status"],
                current_step=r["current_step"], waiting_until=r["waiting_until"], variant=r["variant"],
                reason=r["reason"], ended_at=r["ended_at"])
            self.enrolled_at[r["enrollment_id"]] = r["enrolled_at"]

    def history(self, campaign_id: str, contact_ids: Sequence[str]) -> list[tuple[str, datetime | None, str]]:
        return [(e.contact_id, e.ended_at, e.occurrence) for e in self.enrollments.values()
                if e.campaign_id == campaign_id and e.contact_id in contact_ids]

    def end(self, enrollment_id: str, status: str, reason: str, at: datetime) -> None:
        self.enrollments[enrollment_id] = replace(self.enrollments[enrollment_id], status=status, reason=reason,
                                                  ended_at=at, current_step=None, waiting_until=None)

    def lock_step_outcomes(self, enrollment_id: str) -> dict[str, str] | None:
        found = self.enrollments.get(enrollment_id)
        return dict(found.step_outcomes) if found is not None else None

    def lock_step_outcomes_many(self, enrollment_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        return {eid: dict(self.enrollments[eid].step_outcomes) for eid in sorted(set(enrollment_ids))
                if eid in self.enrollments}

    def set_step_outcomes_many(self, outcomes: Mapping[str, Mapping[str, str]]) -> None:
        for enrollment_id, by_step in outcomes.items():
            self.enrollments[enrollment_id] = replace(self.enrollments[enrollment_id], step_outcomes=dict(by_step))


class FakeSendLog:
    """Requested sends by request id, and the outcomes reported for them."""

    def __init__(self) -> None:
        self.sends: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, rows: Sequence[Mapping[str, Any]], fresh: bool = False) -> set[str]:
        new = {r["request_id"] for r in rows if r["request_id"] not in self.sends}
        if fresh and len(new) != len(rows):
            raise AssertionError("step_sends primary key: a 'fresh' send was recorded already")
        for r in rows:
            self.sends.setdefault(r["request_id"], dict(r))
        return new

    def lock_many(self, request_ids: Iterable[str]) -> dict[str, SimpleNamespace]:
        return {rid: SimpleNamespace(**self.sends[rid]) for rid in sorted(set(request_ids))
                if rid in self.sends}

    def record_outcomes(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            self.outcomes.setdefault((row["request_id"], row["outcome"]), {
                "reason": row["reason"], "rule_id": row["rule_id"], "decided_at": row["decided_at"]})

    def set_statuses(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            self.sends[row["request_id"]].update(status=row["status"], reason=row["reason"],
                                                 updated_at=row["updated_at"])


class FakeContactProjection:
    """Projected contacts, consents and stored events."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.consents: dict[str, dict[str, str]] = {}
        self.events: dict[str, dict[str, Any]] = {}

    def get(self, contact_id: str) -> Mapping[str, Any] | None:
        return self.contacts.get(contact_id)

    def get_many(self, contact_ids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        return {cid: self.contacts[cid] for cid in contact_ids if cid in self.contacts}

    def facts(self, contact_id: str, since: datetime, limit: int
              ) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
        history = sorted((e for e in self.events.values()
                          if e["contact_id"] == contact_id and e["occurred_at"] >= since),
                         key=lambda e: e["occurred_at"], reverse=True)[:limit]
        return (dict(self.consents.get(contact_id, {})), [],
                [{k: e[k] for k in ("type", "occurred_at", "data")} for e in history])

    def record_event(self, event_id: str, contact_id: str, event_type: str, occurred_at: Any,
                     data: Mapping[str, Any]) -> bool:
        if event_id in self.events:
            return False
        self.events[event_id] = {"contact_id": contact_id, "type": event_type, "occurred_at": occurred_at,
                                 "data": dict(data)}
        return True

    def record_events(self, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        return {r["event_id"] for r in rows
                if self.record_event(r["event_id"], r["contact_id"], r["type"], r["occurred_at"], r["data"])}

    def keep_members(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for r in rows:
            self.contacts.setdefault(r["contact_id"], dict(r))


class FakeBroadcastRuns:
    """Broadcast runs by (campaign, occurrence); `locked` records every run lock taken."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], dict[str, Any]] = {}
        self.locked: list[tuple[str, str]] = []

    def start(self, campaign_id: str, occurrence: str, version: int, segment_id: str) -> bool:
        if (campaign_id, occurrence) in self.runs:
            return False
        self.runs[(campaign_id, occurrence)] = {"version": version, "segment_id": segment_id, "pages": 0,
                                                "enrolled": 0, "finished_at": None}
        return True

    def lock(self, campaign_id: str, occurrence: str) -> None:
        self.locked.append((campaign_id, occurrence))

    def count_page(self, campaign_id: str, occurrence: str, enrolled: int, finished_at: datetime | None) -> None:
        run = self.runs.get((campaign_id, occurrence))
        if run is None:
            return  # an UPDATE of no row
        run["pages"] += 1
        run["enrolled"] += enrolled
        if finished_at is not None:
            run["finished_at"] = finished_at


class FakeReportQueries:
    """The report's counts, computed from the other fakes the way `repository.reports` computes them in SQL."""

    def __init__(self, enrollments: FakeEnrollmentStore, sends: FakeSendLog) -> None:
        self.enrollment_store, self.send_log = enrollments, sends

    def _enrollments(self, campaign_id: str) -> list[Enrollment]:
        return [e for e in self.enrollment_store.enrollments.values() if e.campaign_id == campaign_id]

    def _sends(self, campaign_id: str) -> list[dict[str, Any]]:
        return [s for s in self.send_log.sends.values() if s["campaign_id"] == campaign_id]

    def enrollments(self, campaign_id: str) -> list[tuple[str, str | None, int]]:
        return [(*k, n) for k, n in Counter((e.status, e.variant) for e in self._enrollments(campaign_id)).items()]

    def requests(self, campaign_id: str) -> list[tuple[str, str | None, int]]:
        return [(*k, n) for k, n in Counter((s["step_id"], s.get("variant")) for s in self._sends(campaign_id)).items()]

    def outcomes(self, campaign_id: str) -> list[tuple[str, str | None, str, str | None, str | None, int]]:
        sends = {s["request_id"]: s for s in self._sends(campaign_id)}
        return [(*k, n) for k, n in Counter(
            (sends[rid]["step_id"], sends[rid].get("variant"), outcome, o["reason"], o["rule_id"])
            for (rid, outcome), o in self.send_log.outcomes.items() if rid in sends).items()]

    def template_failures(self, campaign_id: str) -> list[tuple[str, int]]:
        return [(*k, n) for k, n in Counter(
            (s["step_id"],) for s in self._sends(campaign_id)
            if s.get("status") == "failed" and (s.get("reason") or "").startswith("template:")).items()]

    def converted_after(self, campaign_id: str) -> list[tuple[str, int]]:
        converted = {e.enrollment_id for e in self._enrollments(campaign_id) if e.status == "converted"}
        reached = {(s["step_id"], s["enrollment_id"]) for s in self._sends(campaign_id) if s["enrollment_id"] in converted}
        return list(Counter(step for step, _ in reached).items())

    def broadcasts(self, campaign_id: str) -> list[dict[str, Any]]:
        return []

    def control_split(self, campaign_id: str) -> list[tuple[bool, str | None, str, bool, int]]:
        return [(True, *row) for row in self._split(campaign_id, True)] + [
            (False, *row) for row in self._split(campaign_id, False)]

    def _split(self, campaign_id: str, per_variant: bool) -> list[tuple[str | None, str, bool, int]]:
        marks: dict[tuple[str, str | None], list[bool]] = {}  # (contact, variant) -> [held, passed, converted]
        status = {e.enrollment_id: e for e in self._enrollments(campaign_id)}
        for (rid, outcome), o in self.send_log.outcomes.items():
            send = self.send_log.sends.get(rid)
            if send is None or send["enrollment_id"] not in status:
                continue
            enrollment = status[send["enrollment_id"]]
            reason = o["reason"] or ""
            held = outcome == "suppressed" and reason == "control_group"
            passed = not (outcome == "duplicate" or (outcome == "expired" and reason in ("", "expired"))
                          or (outcome == "suppressed" and not reason.startswith("at_delivery:")))
            mark = marks.setdefault((enrollment.contact_id, enrollment.variant if per_variant else None),
                                    [False, False, False])
            mark[0], mark[1] = mark[0] or held, mark[1] or passed
            mark[2] = mark[2] or enrollment.status == "converted"
        counted = Counter((variant, "mixed" if held and passed else "control" if held else "treated", converted)
                          for (_, variant), (held, passed, converted) in marks.items() if held or passed)
        return [(*k, n) for k, n in counted.items()]


class FakeUnitOfWork:
    """The fake repositories of one unit of work, and what a handler publishes."""

    def __init__(self) -> None:
        self.campaigns = FakeCampaignStore()
        self.audit = FakeAuditLog()
        self.templates = FakeTemplateStore()
        self.enrollments = FakeEnrollmentStore()
        self.sends = FakeSendLog()
        self.contacts = FakeContactProjection()
        self.broadcasts = FakeBroadcastRuns()
        self.reports = FakeReportQueries(self.enrollments, self.sends)
        self.published: list[dict[str, Any]] = []

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None) -> None:
        self.published.append({"type": message_type, "payload": payload, "key": key})

    def flush(self) -> None:
        """The outbox write happens in SQL; the fake keeps `published` as it is."""

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        """The published messages of one type, in order."""
        return [m for m in self.published if m["type"] == message_type]
