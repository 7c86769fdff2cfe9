"""Reacting to contact events (triggers and exit goals), due waits, and send outcomes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

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
    plan_cancelled,
    wake_entry_id,
)
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from shared.clock import Clock, system_clock
from shared.messaging import Message

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """What the enrollment handlers share: the parsed-campaign cache and the clock."""

    catalog: CampaignCatalog
    clock: Clock = system_clock


def handle_contact_event(uow: CampaignsUnitOfWork, message: Message, engine: Engine) -> None:
    """Store the event, end enrollments whose exit goal it meets, enroll in campaigns it triggers."""
    p = message.payload
    if not uow.contacts.record_event(p["event_id"], p["contact_id"], p["type"], p["occurred_at"], p["data"]):
        return  # the same event reached us twice (a republish, not a redelivery): it took effect once
    now = engine.clock.now()
    contact = load_contact(uow.contacts, p["contact_id"])
    event = event_view(p["event_id"], p["type"], p["occurred_at"], p["data"])
    ctx = ContactContext(uow.contacts, contact, event, now)
    _exit_goals(uow, engine, p, event, ctx, now)
    _triggers(uow, engine, p, contact, event, ctx, now)


def _exit_goals(uow: CampaignsUnitOfWork, engine: Engine, p: dict, event: dict, ctx: ContactContext,
                now: datetime) -> None:
    for running in uow.enrollments.lock_running(p["contact_id"]):
        campaign = engine.catalog.get(uow.campaigns, running.campaign_id, running.version)
        goal = exit_goal_reached(campaign, event, ctx) if campaign else None
        if goal is None:
            continue
        uow.enrollments.end(running.enrollment_id, "converted", f"exit goal {goal.event_type}", now)
        if running.waiting_until is not None:
            uow.publish("schedule.cancelled", {"entry_id": wake_entry_id(
                running.enrollment_id, running.current_step, running.occurrence)}, key=p["contact_id"])
            cancelled = plan_cancelled(campaign, running.enrollment_id, running.current_step, running.occurrence, now)
            if cancelled is not None:  # the gate stops holding a cap slot for the send that will not come
                uow.publish("send.plan_cancelled", cancelled, key=p["contact_id"])
        if goal.suppress_topic:
            # The contacts service records the suppression; the gate then holds it for every campaign.
            uow.publish("interaction.recorded", {
                "interaction_id": bounded_id("goal:", f"{running.enrollment_id}:{p['event_id']}"),
                "contact_id": p["contact_id"], "type": "suppression_requested", "occurred_at": now.isoformat(),
                "data": {"scope": "topic", "value": goal.suppress_topic, "reason": "product_held",
                         "campaign_id": running.campaign_id, "event_id": p["event_id"]},
            }, key=p["contact_id"])


def _triggers(uow: CampaignsUnitOfWork, engine: Engine, p: dict, contact: dict, event: dict, ctx: ContactContext,
              now: datetime) -> None:
    writes = Writes()
    lookup = TemplateLookup(uow.templates)
    for campaign_id, version in uow.campaigns.triggered_by(p["type"]):
        campaign = engine.catalog.get(uow.campaigns, campaign_id, version)
        if campaign is None or not matches_trigger(campaign, event, ctx):
            continue
        if not may_reenter(campaign.reentry, uow.enrollments.ended_at(campaign_id, p["contact_id"]), now):
            continue
        enrollment = Enrollment(campaign_id=campaign_id, version=version, contact_id=p["contact_id"],
                                enrollment_id=str(uuid.uuid4()), occurrence=p["event_id"], trigger_event=event)
        if uow.enrollments.enroll_once(enrollment, now):
            settled = plan(campaign, enrollment, contact, ctx, now, lookup, writes)
            if settled is not None:
                writes.save(settled)
    apply(uow, writes)


def handle_step_due(uow: CampaignsUnitOfWork, message: Message, engine: Engine) -> None:
    """A wait is over: continue the enrollment if it is still parked on that wait."""
    p = message.payload
    enrollment = uow.enrollments.lock_enrollment(p["enrollment_id"])
    if enrollment is None or enrollment.status != "active" or enrollment.current_step != p["step_id"]:
        return  # ended, erased, or already moved on: an early, late or repeated wake-up
    if uow.campaigns.status(enrollment.campaign_id) != "active":
        return  # paused: resume asks the scheduler for this wake again
    campaign = engine.catalog.get(uow.campaigns, enrollment.campaign_id, enrollment.version)
    if campaign is None:
        return
    now = engine.clock.now()
    # The scheduler decided the wait is over; a clock a little behind its own must not park it again.
    if enrollment.waiting_until is not None and enrollment.waiting_until > now:
        enrollment = replace(enrollment, waiting_until=now)
    contact = load_contact(uow.contacts, enrollment.contact_id)
    writes = Writes()
    settled = plan(campaign, enrollment, contact, ContactContext(uow.contacts, contact, enrollment.trigger_event, now),
                   now, TemplateLookup(uow.templates), writes)
    if settled is not None:
        writes.save(settled)
    apply(uow, writes)


def handle_message_outcome(uow: CampaignsUnitOfWork, message: Message) -> None:
    """Record a gate decision or delivery outcome of one of our requests, for branches and reports."""
    handle_message_outcomes(uow, [message])


def handle_message_outcomes(uow: CampaignsUnitOfWork, messages: Sequence[Message]) -> None:
    """Record a batch of outcomes with the effect of `handle_message_outcome` on each in turn.

    Every outcome is kept once per send; the send's status and its enrollment's outcome of that
    step only move forward (`supersedes`), judged against what the earlier messages of the batch
    left. The sends, then their enrollments, are locked once each in key order and written with a
    statement per table: five statements per outcome made the report trail the sinks by 20 s.
    """
    sends = uow.sends.lock_many({m.payload["request_id"] for m in messages})
    ours = [m for m in messages if m.payload["request_id"] in sends]  # others: scheduler or transactional sends
    if not ours:
        return
    step_outcomes = uow.enrollments.lock_step_outcomes_many({sends[m.payload["request_id"]].enrollment_id
                                                            for m in ours})
    status = {request_id: send.status for request_id, send in sends.items()}
    kept: dict[tuple[str, str], dict] = {}
    moved: dict[str, dict] = {}
    changed: dict[str, dict[str, str]] = {}
    for message in ours:
        p = message.payload
        request_id, outcome, send = p["request_id"], p["outcome"], sends[p["request_id"]]
        reason = p.get("reason") or p.get("detail")
        reason = (reason or None) and reason[:300]
        kept.setdefault((request_id, outcome), {"request_id": request_id, "outcome": outcome, "reason": reason,
                                                "rule_id": p.get("rule_id"), "decided_at": p["decided_at"]})
        if supersedes(outcome, status[request_id]):
            status[request_id] = outcome
            moved[request_id] = {"request_id": request_id, "status": outcome, "reason": reason,
                                 "updated_at": p["decided_at"]}
        outcomes = step_outcomes.get(send.enrollment_id)
        if outcomes is not None and supersedes(outcome, outcomes.get(send.step_id)):
            outcomes[send.step_id] = outcome
            changed[send.enrollment_id] = outcomes
    uow.sends.record_outcomes(list(kept.values()))
    uow.sends.set_statuses(list(moved.values()))
    uow.enrollments.set_step_outcomes_many(changed)
