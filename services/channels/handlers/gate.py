"""The dispatch gate: `message.requested` in, one decision per request out, atomic with its touch.

One database transaction per consumer batch. Inside it, the batch's contacts are locked in id order,
the rules are loaded once, the contacts' touches, suppressions and consents, the requests' prior
decisions and the live step occurrences are loaded once, then the counters of the capacity windows the
batch may use are locked (after the contacts, in key order: no deadlock between gate workers). Each
request, highest priority first across the batch, is decided by the pure `domain.decide` against a
state and a capacity usage that include what was decided earlier in the same batch
(`domain.apply_decision`, `domain.apply_capacity`). A send reserves a touch in the ledger, takes its
capacity units in the same transaction, and writes a delivery job; nothing is sent here: delivery
workers take the job after commit.

Idempotency (documented in docs/channels.md), all decided in `domain.decide`:
- a request that already has a final decision is `already_decided`: no new decision, nothing
  published (the first decision's outcome message is already on its way);
- a deferred request comes back with `deferrals` one higher and is decided again; the same
  (request_id, deferrals) seen twice is `already_decided` the same way;
- a *different* request for a (campaign, step, contact, occurrence) that already holds a live
  touch is recorded as `duplicate` and published as `message.duplicate`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from services.channels.domain import (
    PLAN_GRACE,
    CapacityKey,
    Decision,
    OutboundMessage,
    Outcome,
    PolicyRules,
    apply_capacity,
    apply_decision,
    capacity_keys,
    decide,
)
from services.channels.handlers.planned import settle_plans
from services.channels.handlers.states import load_states
from services.channels.messages import OUTCOME_WORDS, dump_request, outbound, outcome_payload
from services.channels.unit_of_work import ChannelsUnitOfWork


def horizon(rules: PolicyRules) -> timedelta:
    """How far back touches can matter to any rule (the largest cap window or the marketing gap)."""
    spans = [cap.window for cap in rules.caps]
    if rules.min_marketing_gap:
        spans.append(rules.min_marketing_gap)
    return max(spans, default=timedelta(0))


def decide_requests(uow: ChannelsUnitOfWork, requests: Sequence[dict[str, Any]], now: datetime) -> None:
    """Decide every request of a batch (loaded `message.requested` payloads) in the unit of work."""
    rules, _ = uow.rules.load()
    profiles = uow.contacts.lock(r["contact_id"] for r in requests)
    by_contact: dict[str, list[tuple[dict[str, Any], OutboundMessage]]] = defaultdict(list)
    for request in requests:
        by_contact[request["contact_id"]].append((request, outbound(request)))
    prior = uow.decisions.prior([r["request_id"] for r in requests])
    decided = {cid: {m.request_id: prior[m.request_id] for _, m in pairs if m.request_id in prior}
               for cid, pairs in by_contact.items()}
    live = uow.ledger.live_steps(m.step_key for pairs in by_contact.values() for _, m in pairs
                                 if m.step_key is not None)
    fallback_tz = {r["contact_id"]: (r.get("recipient") or {}).get("time_zone") for r in requests}
    states = load_states(uow, profiles, now - horizon(rules), fallback_tz, decided, live, now - PLAN_GRACE)
    # Highest priority first across the whole batch (arrival order among equals), so scarce capacity goes
    # to the messages that matter most; per contact this is also the order competing messages are decided in.
    ordered = sorted(((request, message) for pairs in by_contact.values() for request, message in pairs),
                     key=lambda pair: -pair[1].priority)
    usage = uow.ledger.capacity.hold(capacity_windows(rules, [message for _, message in ordered], now))
    rows: list[dict[str, Any]] = []
    sends: list[dict[str, Any]] = []
    claims: dict[str, tuple[CapacityKey, ...]] = {}
    planned = {cid: state.planned for cid, state in states.items()}  # as loaded, to end the decided ones' plans
    settled: list[tuple[OutboundMessage, Decision]] = []
    for request, message in ordered:
        state = states[message.contact_id]
        decision = decide(message, state, rules, now, usage)
        if decision.outcome is Outcome.ALREADY_DECIDED:
            continue  # a redelivery: its outcome is recorded and on its way already
        states[message.contact_id] = apply_decision(state, message, decision, now)
        usage = apply_capacity(usage, message, decision, rules, now)
        word = OUTCOME_WORDS[decision.outcome]
        rows.append(decision_row(request, message.attempt, word, decision, now))
        settled.append((message, decision))
        if decision.outcome is Outcome.SEND:
            sends.append(request)
            claims[message.request_id] = capacity_keys(message, rules.capacity, now)
        else:
            announce(uow, request, word, decision, now)
    uow.decisions.record(rows)
    settle_plans(uow, settled, planned, now)
    if sends:
        touch_ids = uow.ledger.reserve(sends, now, claims, {rule.id: rule.limit for rule in rules.capacity})
        uow.jobs.enqueue(sends, touch_ids, [dump_request(r) for r in sends])


def capacity_windows(rules: PolicyRules, messages: Sequence[OutboundMessage], now: datetime) -> set[CapacityKey]:
    """The capacity counters a batch may take units of: the current window of each rule some message is under."""
    return {rule.key(now) for rule in rules.capacity if any(rule.applies_to(m) for m in messages)}


def decision_row(request: dict[str, Any], attempt: int, word: str, decision: Decision,
                 now: datetime) -> dict[str, Any]:
    """The decision record of one request."""
    return {"request_id": request["request_id"], "attempt": attempt, "contact_id": request["contact_id"],
            "channel": request["channel"], "category": request["category"],
            "campaign_id": request.get("campaign_id"), "step_id": request.get("step_id"),
            "occurrence": request.get("occurrence"), "outcome": word, "reason": decision.reason,
            "rule_id": decision.rule_id, "detail": decision.detail, "defer_until": decision.defer_until,
            "decided_at": now, "yielded_to": decision.yielded_to}


def announce(uow: ChannelsUnitOfWork, request: dict[str, Any], word: str, decision: Decision,
             now: datetime) -> None:
    """Publish `message.<word>` for a decision other than send."""
    payload = outcome_payload(request, word, now, decision.reason, decision.rule_id, decision.detail)
    if decision.outcome is Outcome.DEFER:
        assert decision.defer_until is not None
        payload["defer_until"] = decision.defer_until.isoformat()
        # The scheduler publishes `request` verbatim at defer_until; the bumped counter lets the
        # gate tell that comeback from a redelivery of the original.
        payload["request"] = {**dump_request(request), "deferrals": (request.get("deferrals") or 0) + 1}
    uow.publish(f"message.{word}", payload, key=request["contact_id"])
