"""The dispatch gate: `message.requested` in, one decision per request out, atomic with its touch.

One database transaction per consumer batch. Inside it, the batch's contacts are locked in id order
(`contact_state.lock_contacts`), their touches, suppressions and consents are loaded once, and each
request is decided by the pure `domain.decide` against a state that includes the touches reserved
earlier in the same batch. A send writes a `touches` row (state `reserved`, counted by every cap at
once) and a `deliveries` job; nothing is sent here: delivery workers take the job after commit.

Idempotency (documented in docs/channels.md):
- a request that already has a final decision is skipped: no new decision, nothing published
  (the first decision's outcome message is already on its way);
- a deferred request comes back with `deferrals` one higher and is decided again; the same
  (request_id, deferrals) seen twice is skipped the same way;
- a *different* request for a (campaign, step, contact, occurrence) that already holds a live
  touch is recorded as `duplicate` and published as `message.duplicate`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, tuple_

from services.channels.contact_state import load_states, lock_contacts
from services.channels.domain import (
    ContactPolicyState,
    Decision,
    OutboundMessage,
    Outcome,
    PolicyRules,
    Touch,
    TouchState,
    decide,
)
from services.channels.repository import decisions, deliveries, touches
from services.channels.rules import load_rules
from shared.contracts import MessageRequested
from shared.messaging import Message, UnitOfWork

Clock = Callable[[], datetime]

# The gate's outcomes in the words of `message.<outcome>` (shared.contracts.OUTCOMES).
OUTCOME_WORDS = {Outcome.SEND: "send", Outcome.DEFER: "deferred", Outcome.SUPPRESS: "suppressed",
                 Outcome.CAP: "capped", Outcome.EXPIRE: "expired"}
DUPLICATE = "duplicate"
_REQUEST_SCHEMA = MessageRequested()


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def outbound(request: dict[str, Any]) -> OutboundMessage:
    """The domain's view of a loaded `message.requested` payload."""
    return OutboundMessage(channel=request["channel"], category=request["category"],
                           contact_id=request["contact_id"], campaign_id=request.get("campaign_id"),
                           topic=request.get("topic"), priority=request.get("priority") or 0,
                           expires_at=request.get("expires_at"))


def dump_request(request: dict[str, Any]) -> dict[str, Any]:
    """A loaded request back in its JSON wire form."""
    return _REQUEST_SCHEMA.dump(request)


def outcome_payload(request: dict[str, Any], outcome: str, decided_at: datetime, reason: str | None = None,
                    rule_id: str | None = None, detail: str | None = None) -> dict[str, Any]:
    """The `message.<outcome>` payload (contract MessageOutcome) of a request."""
    return {"request_id": request["request_id"], "contact_id": request["contact_id"],
            "channel": request["channel"], "outcome": outcome, "reason": reason, "rule_id": rule_id,
            "detail": detail, "campaign_id": request.get("campaign_id"),
            "campaign_version": request.get("campaign_version"), "step_id": request.get("step_id"),
            "occurrence": request.get("occurrence"), "category": request.get("category"),
            "decided_at": decided_at.isoformat()}


def step_key(request: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """(campaign, step, contact, occurrence) of a campaign step's message; None for other messages."""
    if not request.get("campaign_id") or not request.get("step_id"):
        return None
    return (request["campaign_id"], request["step_id"], request["contact_id"], request.get("occurrence") or "")


def horizon(rules: PolicyRules) -> timedelta:
    """How far back touches can matter to any rule (the largest cap window or the marketing gap)."""
    spans = [cap.window for cap in rules.caps]
    if rules.min_marketing_gap:
        spans.append(rules.min_marketing_gap)
    return max(spans, default=timedelta(0))


class DispatchGate:
    """The batch handler of the `channels.dispatch` queue."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock

    def __call__(self, uow: UnitOfWork, messages: Sequence[Message]) -> None:
        """Decide every request of the batch in the unit of work's transaction."""
        conn = uow.conn
        now = self.clock().astimezone(UTC)
        rules, _ = load_rules(conn)
        requests = [m.payload for m in messages]
        profiles = lock_contacts(conn, (r["contact_id"] for r in requests))
        fallback_tz = {r["contact_id"]: (r.get("recipient") or {}).get("time_zone") for r in requests}
        states = load_states(conn, profiles, now - horizon(rules), fallback_tz)
        seen = self._prior_decisions(conn, requests)
        live = self._live_steps(conn, requests)
        by_contact: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for request in requests:
            by_contact[request["contact_id"]].append(request)
        decision_rows: list[dict[str, Any]] = []
        sends: list[dict[str, Any]] = []
        for contact_id in sorted(by_contact):
            state = states[contact_id]
            # Higher priority first when one batch holds competing messages for the contact.
            for request in sorted(by_contact[contact_id], key=lambda r: -(r.get("priority") or 0)):
                attempt = request.get("deferrals") or 0
                prior = seen[request["request_id"]]
                if attempt in prior or any(o != "deferred" for o in prior.values()):
                    continue  # a redelivery of something already decided
                key = step_key(request)
                if key is not None and key in live:
                    decision = Decision(Outcome.SUPPRESS, "duplicate:step_occurrence",
                                        detail="this campaign step already has a send for this occurrence")
                    word = DUPLICATE
                else:
                    decision = decide(outbound(request), state, rules, now)
                    word = OUTCOME_WORDS[decision.outcome]
                prior[attempt] = word
                decision_rows.append(self._decision_row(request, attempt, word, decision, now))
                if decision.outcome is Outcome.SEND:
                    state = self._reserve(state, request, now)
                    sends.append(request)
                    if key is not None:
                        live.add(key)
                else:
                    self._announce(uow, request, word, decision, now)
        if decision_rows:
            conn.execute(insert(decisions), decision_rows)
        if sends:
            self._write_sends(uow, sends, now)

    # -- reading ----------------------------------------------------------------------------------
    @staticmethod
    def _prior_decisions(conn, requests: Sequence[dict[str, Any]]) -> dict[str, dict[int, str]]:
        seen: dict[str, dict[int, str]] = defaultdict(dict)
        ids = sorted({r["request_id"] for r in requests})
        for row in conn.execute(select(decisions.c.request_id, decisions.c.attempt, decisions.c.outcome)
                                .where(decisions.c.request_id.in_(ids))):
            seen[row.request_id][row.attempt] = row.outcome
        return seen

    @staticmethod
    def _live_steps(conn, requests: Sequence[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
        keys = {k for k in map(step_key, requests) if k is not None}
        if not keys:
            return set()
        occurrence = touches.c.occurrence
        query = select(touches.c.campaign_id, touches.c.step_id, touches.c.contact_id, occurrence).where(
            tuple_(touches.c.campaign_id, touches.c.step_id, touches.c.contact_id).in_(
                sorted({k[:3] for k in keys})),
            touches.c.state.in_(("reserved", "sent")))
        return {(r.campaign_id, r.step_id, r.contact_id, r.occurrence or "") for r in conn.execute(query)}

    # -- writing ----------------------------------------------------------------------------------
    @staticmethod
    def _decision_row(request: dict[str, Any], attempt: int, word: str, decision: Decision,
                      now: datetime) -> dict[str, Any]:
        return {"request_id": request["request_id"], "attempt": attempt, "contact_id": request["contact_id"],
                "channel": request["channel"], "category": request["category"],
                "campaign_id": request.get("campaign_id"), "step_id": request.get("step_id"),
                "occurrence": request.get("occurrence"), "outcome": word, "reason": decision.reason,
                "rule_id": decision.rule_id, "detail": decision.detail, "defer_until": decision.defer_until,
                "decided_at": now}

    @staticmethod
    def _reserve(state: ContactPolicyState, request: dict[str, Any], now: datetime) -> ContactPolicyState:
        touch = Touch(request["channel"], request["category"], request.get("campaign_id"), request.get("topic"),
                      now, TouchState.RESERVED)
        return dataclasses.replace(state, touches=state.touches + (touch,))

    @staticmethod
    def _announce(uow: UnitOfWork, request: dict[str, Any], word: str, decision: Decision, now: datetime) -> None:
        payload = outcome_payload(request, word, now, decision.reason, decision.rule_id, decision.detail)
        if decision.outcome is Outcome.DEFER:
            assert decision.defer_until is not None
            payload["defer_until"] = decision.defer_until.isoformat()
            # The scheduler publishes `request` verbatim at defer_until; the bumped counter lets the
            # gate tell that comeback from a redelivery of the original.
            payload["request"] = {**dump_request(request), "deferrals": (request.get("deferrals") or 0) + 1}
        uow.publish(f"message.{word}", payload, key=request["contact_id"])

    @staticmethod
    def _write_sends(uow: UnitOfWork, sends: Sequence[dict[str, Any]], now: datetime) -> None:
        conn = uow.conn
        rows = [{"request_id": r["request_id"], "contact_id": r["contact_id"], "channel": r["channel"],
                 "category": r["category"], "campaign_id": r.get("campaign_id"), "step_id": r.get("step_id"),
                 "occurrence": r.get("occurrence"), "topic": r.get("topic"), "at": now, "state": "reserved"}
                for r in sends]
        ids = {row.request_id: row.id for row in
               conn.execute(insert(touches).returning(touches.c.id, touches.c.request_id), rows)}
        conn.execute(insert(deliveries), [
            {"request_id": r["request_id"], "touch_id": ids[r["request_id"]], "contact_id": r["contact_id"],
             "channel": r["channel"], "category": r["category"], "state": "pending", "attempts": 0,
             # Real time, not the gate's clock: delivery workers compare it with the database's now().
             "next_attempt_at": datetime.now(UTC), "request": dump_request(r)} for r in sends])
