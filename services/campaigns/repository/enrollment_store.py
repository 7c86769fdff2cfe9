"""Enrollments (`enrollments`): who runs which campaign version, where they stand, how they ended.

The unique campaign + contact + occurrence makes a redelivered trigger or broadcast page enroll
once; the partial unique index keeps at most one running enrollment per campaign and contact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.domain.enrollment import Enrollment
from services.campaigns.repository.tables import enrollments


def enrollment_from_row(row: Mapping[str, Any]) -> Enrollment:
    """The domain's Enrollment of an `enrollments` row."""
    return Enrollment(campaign_id=row["campaign_id"], version=row["version"], contact_id=row["contact_id"],
                      enrollment_id=row["enrollment_id"], occurrence=row["occurrence"], status=row["status"],
                      current_step=row["current_step"], waiting_until=row["waiting_until"],
                      step_outcomes=row["step_outcomes"] or {}, variant=row["variant"], reason=row["reason"],
                      ended_at=row["ended_at"], trigger_event=row["trigger_event"])


_SAVE = (
    update(enrollments).where(enrollments.c.enrollment_id == bindparam("b_id"))
    .values(status=bindparam("status"), current_step=bindparam("current_step"),
            waiting_until=bindparam("waiting_until"), variant=bindparam("variant"), reason=bindparam("reason"),
            ended_at=bindparam("ended_at"))
)
# One UPDATE ... FROM unnest(arrays) for a batch of outcomes (one statement whatever its size).
_SET_STEP_OUTCOMES = text(
    "UPDATE enrollments AS e SET step_outcomes = v.step_outcomes "
    "FROM unnest(CAST(:ids AS text[]), CAST(:outcomes AS jsonb[])) AS v(enrollment_id, step_outcomes) "
    "WHERE e.enrollment_id = v.enrollment_id")
# Built once: the contact-event path runs these per event (no construction or cache-key walk per call).
_LOCK = (select(enrollments).where(enrollments.c.enrollment_id == bindparam("enrollment_id"))
         .with_for_update())
_LOCK_RUNNING = (select(enrollments).where(enrollments.c.contact_id == bindparam("contact_id"),
                                          enrollments.c.status == "active").with_for_update())
_LOCK_RUNNING_MANY = (select(enrollments).where(enrollments.c.contact_id == any_(bindparam("ids", type_=ARRAY(String))),
                                                enrollments.c.status == "active")
                      .order_by(enrollments.c.enrollment_id).with_for_update())
_ENROLL_ONCE = pg_insert(enrollments).on_conflict_do_nothing().returning(enrollments.c.enrollment_id)
_HISTORY = select(enrollments.c.contact_id, enrollments.c.ended_at, enrollments.c.occurrence).where(
    enrollments.c.campaign_id == bindparam("campaign_id"),
    enrollments.c.contact_id == any_(bindparam("ids", type_=ARRAY(String))))
_ENDED = {"current_step": None, "waiting_until": None}  # an ended enrollment is parked nowhere


class EnrollmentStore:
    """The queries on enrollments, on one connection (`tests/unit/campaigns/fakes.py` stands in for it)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock_enrollment(self, enrollment_id: str) -> Enrollment | None:
        """The enrollment, locked for the rest of the transaction, or None."""
        row = self.conn.execute(_LOCK, {"enrollment_id": enrollment_id}).mappings().first()
        return enrollment_from_row(row) if row is not None else None

    def lock_running(self, contact_id: str) -> list[Enrollment]:
        """The contact's active enrollments, locked for the rest of the transaction."""
        return [enrollment_from_row(row) for row in self.conn.execute(
            _LOCK_RUNNING, {"contact_id": contact_id}).mappings()]

    def lock_running_many(self, contact_ids: Iterable[str]) -> dict[str, list[Enrollment]]:
        """The active enrollments of these contacts by contact, locked (in enrollment id order, so two
        workers' batches never wait on each other in a cycle) for the rest of the transaction."""
        running: dict[str, list[Enrollment]] = {}
        for row in self.conn.execute(_LOCK_RUNNING_MANY, {"ids": sorted(set(contact_ids))}).mappings():
            running.setdefault(row["contact_id"], []).append(enrollment_from_row(row))
        return running

    def save(self, updates: Sequence[Mapping[str, Any]]) -> None:
        """Update enrollments to where the engine left them (`Writes.save` rows), in one statement."""
        if updates:
            self.conn.execute(_SAVE, list(updates))

    def enroll_once(self, enrollment: Enrollment, enrolled_at: datetime) -> bool:
        """Insert an active enrollment; False when its occurrence already enrolled the contact."""
        return self.conn.execute(_ENROLL_ONCE, {
            "enrollment_id": enrollment.enrollment_id, "campaign_id": enrollment.campaign_id,
            "version": enrollment.version, "contact_id": enrollment.contact_id, "occurrence": enrollment.occurrence,
            "status": "active", "trigger_event": enrollment.trigger_event, "enrolled_at": enrolled_at,
        }).first() is not None

    def enroll_many(self, new: Sequence[Enrollment], enrolled_at: datetime) -> set[str]:
        """Insert active enrollments; the ids of those inserted (an occurrence that already enrolled its
        contact, or a contact already running the campaign, is left out)."""
        if not new:
            return set()
        return set(self.conn.execute(_ENROLL_ONCE, [{
            "enrollment_id": e.enrollment_id, "campaign_id": e.campaign_id, "version": e.version,
            "contact_id": e.contact_id, "occurrence": e.occurrence, "status": "active",
            "trigger_event": e.trigger_event, "enrolled_at": enrolled_at} for e in new]).scalars())

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert enrollments the caller knows are new (a broadcast page under its run's lock)."""
        if rows:
            self.conn.execute(insert(enrollments), list(rows))

    def history(self, campaign_id: str, contact_ids: Sequence[str]) -> list[tuple[str, datetime | None, str]]:
        """(contact_id, ended_at, occurrence) of every enrollment of these contacts in the campaign."""
        return [(r.contact_id, r.ended_at, r.occurrence) for r in self.conn.execute(
            _HISTORY, {"campaign_id": campaign_id, "ids": list(contact_ids)})]

    def end(self, enrollment_id: str, status: str, reason: str, at: datetime) -> None:
        """End one enrollment (converted, exited) where it stands."""
        self.conn.execute(update(enrollments).where(enrollments.c.enrollment_id == enrollment_id).values(
            status=status, reason=reason, ended_at=at, **_ENDED))

    def exit_campaign(self, campaign_id: str, reason: str, at: datetime) -> None:
        """End every running enrollment of a campaign as exited."""
        self.conn.execute(update(enrollments).where(
            enrollments.c.campaign_id == campaign_id, enrollments.c.status == "active").values(
            status="exited", reason=reason, ended_at=at, **_ENDED))

    def exit_contact(self, contact_id: str, reason: str, at: Any) -> None:
        """End every running enrollment of a contact as exited."""
        self.conn.execute(update(enrollments).where(
            enrollments.c.contact_id == contact_id, enrollments.c.status == "active").values(
            status="exited", reason=reason, ended_at=at, **_ENDED))

    def parked_overlapping(self, duplicate_id: str, survivor_id: str) -> list[tuple[str, str, str]]:
        """(enrollment_id, current_step, occurrence) of the duplicate's parked running enrollments in a campaign
        the survivor runs too: the ones a merge ends."""
        return [(r.enrollment_id, r.current_step, r.occurrence) for r in self.conn.execute(text("""
            SELECT d.enrollment_id, d.current_step, d.occurrence FROM enrollments d
            WHERE d.contact_id = CAST(:duplicate AS varchar) AND d.status = 'active' AND d.waiting_until IS NOT NULL
              AND EXISTS (SELECT 1 FROM enrollments s WHERE s.contact_id = CAST(:survivor AS varchar)
                          AND s.campaign_id = d.campaign_id AND s.status = 'active')
        """), {"duplicate": duplicate_id, "survivor": survivor_id})]

    def merge_contact(self, duplicate_id: str, survivor_id: str, at: Any) -> None:
        """Move a merged-away contact's enrollments to the survivor without running a campaign twice for them.

        Where both run the same campaign the survivor's enrollment is kept and the duplicate's exits
        ("merged into ..."); every other enrollment moves over (an ended one whose occurrence the
        survivor also went through stays behind as history).
        """
        params = {"duplicate": duplicate_id, "survivor": survivor_id, "at": at,
                  "reason": f"merged into contact {survivor_id}"[:300]}
        self.conn.execute(text("""
            UPDATE enrollments d SET status = 'exited', reason = CAST(:reason AS varchar), ended_at = CAST(:at AS timestamptz),
                current_step = NULL, waiting_until = NULL
            WHERE d.contact_id = CAST(:duplicate AS varchar) AND d.status = 'active'
              AND EXISTS (SELECT 1 FROM enrollments s WHERE s.contact_id = CAST(:survivor AS varchar)
                          AND s.campaign_id = d.campaign_id AND s.status = 'active')
        """), params)
        self.conn.execute(text("""
            UPDATE enrollments d SET contact_id = CAST(:survivor AS varchar)
            WHERE d.contact_id = CAST(:duplicate AS varchar) AND NOT EXISTS (
                SELECT 1 FROM enrollments s WHERE s.contact_id = CAST(:survivor AS varchar)
                  AND s.campaign_id = d.campaign_id AND s.occurrence = d.occurrence)
        """), params)

    def forget_trigger_events(self, contact_id: str) -> None:
        """Drop the stored trigger events of the contact's enrollments (they may hold personal data)."""
        self.conn.execute(update(enrollments).where(enrollments.c.contact_id == contact_id).values(trigger_event=None))

    def parked_of_contact(self, contact_id: str) -> list[tuple[str, str, str]]:
        """(enrollment_id, current_step, occurrence) of the contact's enrollments parked on a wait."""
        return [(r.enrollment_id, r.current_step, r.occurrence) for r in self.conn.execute(
            select(enrollments.c.enrollment_id, enrollments.c.current_step, enrollments.c.occurrence)
            .where(enrollments.c.contact_id == contact_id, enrollments.c.status == "active",
                   enrollments.c.waiting_until.is_not(None)))]

    def parked_of_campaign(self, campaign_id: str, after: str, limit: int) -> list[Any]:
        """The next `limit` parked enrollments of a campaign in id order after `after` (keyset paging).

        Rows with enrollment_id, version, contact_id, current_step, occurrence and waiting_until.
        """
        return list(self.conn.execute(select(enrollments.c.enrollment_id, enrollments.c.version, enrollments.c.contact_id,
                                             enrollments.c.current_step, enrollments.c.occurrence,
                                             enrollments.c.waiting_until).where(
            enrollments.c.campaign_id == campaign_id, enrollments.c.status == "active",
            enrollments.c.waiting_until.is_not(None), enrollments.c.enrollment_id > after)
            .order_by(enrollments.c.enrollment_id).limit(limit)))

    def lock_step_outcomes(self, enrollment_id: str) -> dict[str, str] | None:
        """The enrollment's outcome per send step, locked; None when there is no such enrollment."""
        return self.conn.execute(select(enrollments.c.step_outcomes).where(
            enrollments.c.enrollment_id == enrollment_id).with_for_update()).scalar()

    def lock_step_outcomes_many(self, enrollment_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """The outcome per send step of each of these enrollments that exists, locked in id order."""
        ids = sorted(set(enrollment_ids))
        if not ids:
            return {}
        return {row.enrollment_id: dict(row.step_outcomes) for row in self.conn.execute(
            select(enrollments.c.enrollment_id, enrollments.c.step_outcomes)
            .where(enrollments.c.enrollment_id.in_(ids)).order_by(enrollments.c.enrollment_id).with_for_update())}

    def set_step_outcomes_many(self, outcomes: Mapping[str, Mapping[str, str]]) -> None:
        """Replace the outcome per send step of several enrollments (enrollment id -> outcomes), in one batch."""
        if outcomes:
            self.conn.execute(_SET_STEP_OUTCOMES, {"ids": list(outcomes),
                                                   "outcomes": [json.dumps(dict(o)) for o in outcomes.values()]})
