"""Reacting to contact events (triggers and exit goals), due waits, and send outcomes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.domain.engine import exit_goal_reached, matches_trigger, may_reenter
from services.campaigns.domain.enrollment import Enrollment
from services.campaigns.domain.outcomes import supersedes
from services.campaigns.handlers.context import CampaignCatalog, ContactContext, event_view, load_contact
from services.campaigns.handlers.enrollment import (
    TemplateLookup,
    Writes,
    apply,
    bounded_id,
    plan,
    wake_entry_id,
)
from services.campaigns.repository import (
    EnrollmentStore,
    campaigns,
    contact_events,
    enrollments,
    send_outcomes,
    step_sends,
)
from shared.clock import Clock, system_clock
from shared.messaging import Message, UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """What the enrollment handlers share: the parsed-campaign cache, the clock, and their repository."""

    catalog: CampaignCatalog
    clock: Clock = system_clock
    store: Callable[[UnitOfWork], EnrollmentStore] = EnrollmentStore.of


def handle_contact_event(uow: UnitOfWork, message: Message, engine: Engine) -> None:
    """Store the event, end enrollments whose exit goal it meets, enroll in campaigns it triggers."""
    p = message.payload
    conn = uow.conn
    stored = conn.execute(pg_insert(contact_events).values(
        event_id=p["event_id"], contact_id=p["contact_id"], type=p["type"], occurred_at=p["occurred_at"],
        data=p["data"]).on_conflict_do_nothing().returning(contact_events.c.event_id)).first()
    if stored is None:
        return  # the same event reached us twice (a republish, not a redelivery): it took effect once
    now, store = engine.clock.now(), engine.store(uow)
    contact = load_contact(store, p["contact_id"])
    event = event_view(p["event_id"], p["type"], p["occurred_at"], p["data"])
    ctx = ContactContext(store, contact, event, now)
    _exit_goals(uow, engine, store, p, event, ctx, now)
    _triggers(uow, engine, store, p, contact, event, ctx, now)


def _exit_goals(uow: UnitOfWork, engine: Engine, store: EnrollmentStore, p: dict, event: dict,
                ctx: ContactContext, now: datetime) -> None:
    running = uow.conn.execute(
        select(enrollments).where(enrollments.c.contact_id == p["contact_id"], enrollments.c.status == "active")
        .with_for_update()).mappings().all()
    for row in running:
        campaign = engine.catalog.get(store, row["campaign_id"], row["version"])
        goal = exit_goal_reached(campaign, event, ctx) if campaign else None
        if goal is None:
            continue
        uow.conn.execute(update(enrollments).where(enrollments.c.enrollment_id == row["enrollment_id"]).values(
            status="converted", reason=f"exit goal {goal.event_type}", ended_at=now, current_step=None,
            waiting_until=None))
        if row["waiting_until"] is not None:
            uow.publish("schedule.cancelled", {"entry_id": wake_entry_id(
                row["enrollment_id"], row["current_step"], row["occurrence"])}, key=p["contact_id"])
        if goal.suppress_topic:
            # The contacts service records the suppression; the gate then holds it for every campaign.
            uow.publish("interaction.recorded", {
                "interaction_id": bounded_id("goal:", f"{row['enrollment_id']}:{p['event_id']}"),
                "contact_id": p["contact_id"], "type": "suppression_requested", "occurred_at": now.isoformat(),
                "data": {"scope": "topic", "value": goal.suppress_topic, "reason": "product_held",
                         "campaign_id": row["campaign_id"], "event_id": p["event_id"]},
            }, key=p["contact_id"])


def _triggers(uow: UnitOfWork, engine: Engine, store: EnrollmentStore, p: dict, contact: dict, event: dict,
              ctx: ContactContext, now: datetime) -> None:
    conn = uow.conn
    candidates = conn.execute(select(campaigns.c.campaign_id, campaigns.c.version).where(
        campaigns.c.status == "active", campaigns.c.event_type == p["type"])).all()
    writes = Writes()
    lookup = TemplateLookup(store)
    for campaign_id, version in candidates:
        campaign = engine.catalog.get(store, campaign_id, version)
        if campaign is None or not matches_trigger(campaign, event, ctx):
            continue
        earlier = conn.execute(select(enrollments.c.ended_at).where(
            enrollments.c.campaign_id == campaign_id, enrollments.c.contact_id == p["contact_id"])).scalars().all()
        if not may_reenter(campaign.reentry, earlier, now):
            continue
        enrollment = Enrollment(campaign_id=campaign_id, version=version, contact_id=p["contact_id"],
                                enrollment_id=str(uuid.uuid4()), occurrence=p["event_id"], trigger_event=event)
        created = conn.execute(pg_insert(enrollments).values(
            enrollment_id=enrollment.enrollment_id, campaign_id=campaign_id, version=version,
            contact_id=p["contact_id"], occurrence=enrollment.occurrence, status="active", trigger_event=event,
            enrolled_at=now).on_conflict_do_nothing().returning(enrollments.c.enrollment_id)).first()
        if created is not None:
            settled = plan(campaign, enrollment, contact, ctx, now, lookup, writes)
            if settled is not None:
                writes.save(settled)
    apply(uow, store, writes)


def handle_step_due(uow: UnitOfWork, message: Message, engine: Engine) -> None:
    """A wait is over: continue the enrollment if it is still parked on that wait."""
    p = message.payload
    store = engine.store(uow)
    enrollment = store.lock_enrollment(p["enrollment_id"])
    if enrollment is None or enrollment.status != "active" or enrollment.current_step != p["step_id"]:
        return  # ended, erased, or already moved on: an early, late or repeated wake-up
    if store.campaign_status(enrollment.campaign_id) != "active":
        return  # paused: resume asks the scheduler for this wake again
    campaign = engine.catalog.get(store, enrollment.campaign_id, enrollment.version)
    if campaign is None:
        return
    now = engine.clock.now()
    # The scheduler decided the wait is over; a clock a little behind its own must not park it again.
    if enrollment.waiting_until is not None and enrollment.waiting_until > now:
        enrollment = replace(enrollment, waiting_until=now)
    contact = load_contact(store, enrollment.contact_id)
    writes = Writes()
    settled = plan(campaign, enrollment, contact, ContactContext(store, contact, enrollment.trigger_event, now), now,
                   TemplateLookup(store), writes)
    if settled is not None:
        writes.save(settled)
    apply(uow, store, writes)


def handle_message_outcome(uow: UnitOfWork, message: Message) -> None:
    """Record a gate decision or delivery outcome of one of our requests, for branches and reports."""
    p = message.payload
    conn = uow.conn
    send = conn.execute(select(step_sends.c.status, step_sends.c.enrollment_id, step_sends.c.step_id)
                        .where(step_sends.c.request_id == p["request_id"]).with_for_update()).first()
    if send is None:
        return  # not a campaign request of ours (a scheduler or transactional send)
    reason = p.get("reason") or p.get("detail")
    conn.execute(pg_insert(send_outcomes).values(
        request_id=p["request_id"], outcome=p["outcome"], reason=(reason or None) and reason[:300],
        rule_id=p.get("rule_id"), decided_at=p["decided_at"]).on_conflict_do_nothing())
    if supersedes(p["outcome"], send.status):
        conn.execute(update(step_sends).where(step_sends.c.request_id == p["request_id"]).values(
            status=p["outcome"], reason=(reason or None) and reason[:300], updated_at=p["decided_at"]))
    outcomes = conn.execute(select(enrollments.c.step_outcomes).where(
        enrollments.c.enrollment_id == send.enrollment_id).with_for_update()).scalar()
    if outcomes is not None and supersedes(p["outcome"], outcomes.get(send.step_id)):
        conn.execute(update(enrollments).where(enrollments.c.enrollment_id == send.enrollment_id).values(
            step_outcomes={**outcomes, send.step_id: p["outcome"]}))
