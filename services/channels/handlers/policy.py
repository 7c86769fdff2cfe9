"""Use cases behind the policy API: the rules, dry runs, and the decision and delivery records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.channels.domain import PLAN_GRACE, PolicyRules, decide
from services.channels.handlers.gate import capacity_windows, horizon
from services.channels.handlers.states import load_states
from services.channels.messages import OUTCOME_WORDS, outbound
from services.channels.rules import to_document
from services.channels.unit_of_work import ChannelsUnitOfWork
from shared.http.merge_patch import merge_patch

NULLABLE_MEMBERS = ("min_marketing_gap_seconds", "control_group")


def current_policy(uow: ChannelsUnitOfWork) -> dict[str, Any]:
    """The rules as a document with their version (seeds the shipped defaults on first read)."""
    rules, version = uow.rules.load()
    return {**to_document(rules), "version": version}


def replace_policy(uow: ChannelsUnitOfWork, rules: PolicyRules) -> dict[str, Any]:
    """Replace the rules; the gate uses them from its next batch on."""
    version = uow.rules.save(rules)
    return {**to_document(rules), "version": version}


def patch_policy(uow: ChannelsUnitOfWork, patch: dict[str, Any],
                 validated: Callable[[dict[str, Any]], PolicyRules]) -> dict[str, Any]:
    """Apply a JSON merge patch (RFC 7396) to the stored rules under the rules row lock, so concurrent
    patches apply one after the other; `validated` turns the merged document into rules or raises."""
    current, _ = uow.rules.lock_document()
    merged = merge_patch(current, patch)
    for name in NULLABLE_MEMBERS:
        # a merge patch's null removes the member, but the document says "off" with a null member;
        # stored documents from before control_group existed lack it and mean "off" too
        merged.setdefault(name, None)
    rules = validated(merged)
    version = uow.rules.save(rules)
    return {**to_document(rules), "version": version}


def dry_run(uow: ChannelsUnitOfWork, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    """What the gate would decide for a message at `at`; meant for a read-only unit of work."""
    rules, _ = uow.rules.load()
    contact_id = body["contact_id"]
    profile = uow.contacts.profiles([contact_id]).get(contact_id)
    state = load_states(uow, {contact_id: profile}, at - horizon(rules), plans_due_after=at - PLAN_GRACE)[contact_id]
    message = outbound(body)
    usage = uow.ledger.capacity.peek(capacity_windows(rules, [message], at))  # counts as they stand, unlocked
    decision = decide(message, state, rules, at, usage)
    return {"outcome": OUTCOME_WORDS[decision.outcome], "reason": decision.reason, "rule_id": decision.rule_id,
            "detail": decision.detail, "defer_until": decision.defer_until, "yielded_to": decision.yielded_to,
            "evaluated_at": at}


def find_decisions(uow: ChannelsUnitOfWork, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Decisions by contact, request or campaign, newest first, with the delivery state of sends."""
    return [{**row._mapping, "delivery": None if row.d_state is None else {
        "state": row.d_state, "attempts": row.attempts, "provider_id": row.provider_id,
        "detail": row.d_detail, "updated_at": row.d_updated_at}} for row in uow.decisions.search(query, query["limit"])]


def find_deliveries(uow: ChannelsUnitOfWork, query: dict[str, Any]) -> list[Any]:
    """Send jobs by state, channel or contact, newest first."""
    return uow.jobs.search(query, query["limit"])
