"""Reacting to contact events (triggers and exit goals), due waits, and send outcomes."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.campaigns.domain.definition import Campaign
from services.campaigns.domain.engine import exit_goal_reached, matches_trigger, may_reenter
from services.campaigns.domain.enrollment import Enrollment
from services.campaigns.domain.outcomes import supersedes
from services.campaigns.handlers.context import (
    CampaignCatalog,
    ContactContext,
    contact_view,
    event_view,
    load_contact,
)
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
    handle_contact_events(uow, [message], engine)


def handle_contact_events(uow: CampaignsUnitOfWork, messages: Sequence[Message], engine: Engine) -> None:
    """A batch of contact events with the effect of `handle_contact_event` on each in turn.

    Events of different contacts never touch each other's enrollments, so the batch is handled in
    waves of at most one event per contact (a contact's later events in later waves, in order),
    each wave with one statement per kind of read or write whatever its size: a dozen statements
    per event, one after the other, made the round trips the worker's limit (stored -> requested
    p50 8 s at 100 events/s on a loaded box).
    """
    waves: list[list[Message]] = []
    seen: Counter[str] = Counter()
    for message in messages:
        n = seen[message.payload["contact_id"]]
        seen[message.payload["contact_id"]] += 1
        if n == len(waves):
            waves.append([])
        waves[n].append(message)
    for wave in waves:
        _handle_wave(uow, wave, engine)


@dataclass
class _Entry:
    """A campaign an event triggers for its contact, before the re-entry check."""

    campaign_id: str
    version: int
    campaign: Campaign
    payload: dict
    contact: dict
    ctx: ContactContext


def _handle_wave(uow: CampaignsUnitOfWork, wave: list[Message], engine: Engine) -> None:
    stored = uow.contacts.record_events([{k: m.payload[k] for k in ("event_id", "contact_id", "type", "occurred_at",
                                                                     "data")} for m in wave])
    # An event that reached us twice (a republish, not a redelivery) took effect the first time.
    payloads = [m.payload for m in wave if m.payload["event_id"] in stored]
    if not payloads:
        return
    now = engine.clock.now()
    contact_ids = [p["contact_id"] for p in payloads]
    rows = uow.contacts.get_many(contact_ids)
    running = uow.enrollments.lock_running_many(contact_ids)
    triggered = uow.campaigns.triggered_by({p["type"] for p in payloads})
    entries: list[_Entry] = []
    for p in payloads:
        contact = contact_view(rows.get(p["contact_id"]), p["contact_id"])
        event = event_view(p["event_id"], p["type"], p["occurred_at"], p["data"])
        ctx = ContactContext(uow.contacts, contact, event, now)
        _exit_goals(uow, engine, p, event, ctx, now, running.get(p["contact_id"], []))
        for campaign_id, version in triggered.get(p["type"], []):
            campaign = engine.catalog.get(uow.campaigns, campaign_id, version)
            if campaign is not None and matches_trigger(campaign, event, ctx):
                entries.append(_Entry(campaign_id, version, campaign, p, contact, ctx))
    _enroll(uow, entries, now)


def _exit_goals(uow: CampaignsUnitOfWork, engine: Engine, p: dict, event: dict, ctx: ContactContext,
                now: datetime, running_enrollments: list[Enrollment]) -> None:
    for running in running_enrollments:
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


def _enroll(uow: CampaignsUnitOfWork, entries: list[_Entry], now: datetime) -> None:
    """Enroll the contacts whose earlier enrollments allow it (read after the exit goals ended theirs),
    then take each new enrollment as far as it goes now."""
    history: dict[tuple[str, str], list[datetime | None]] = {}
    for campaign_id in {e.campaign_id for e in entries}:
        contact_ids = [e.payload["contact_id"] for e in entries if e.campaign_id == campaign_id]
        for contact_id, ended_at, _ in uow.enrollments.history(campaign_id, contact_ids):
            history.setdefault((campaign_id, contact_id), []).append(ended_at)
    admitted = [(e, Enrollment(campaign_id=e.campaign_id, version=e.version, contact_id=e.payload["contact_id"],
                               enrollment_id=str(uuid.uuid4()), occurrence=e.payload["event_id"],
                               trigger_event=e.ctx.event))
                for e in entries if may_reenter(e.campaign.reentry,
                                                history.get((e.campaign_id, e.payload["contact_id"]), []), now)]
    enrolled = uow.enrollments.enroll_many([enrollment for _, enrollment in admitted], now)
    writes = Writes()
    lookup = TemplateLookup(uow.templates)
    for entry, enrollment in admitted:
        if enrollment.enrollment_id in enrolled:
            settled = plan(entry.campaign, enrollment, entry.contact, entry.ctx, now, lookup, writes)
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
