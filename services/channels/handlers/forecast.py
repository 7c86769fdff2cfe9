"""Forecast: what the gate would decide right now for one message to many contacts, counted, never reserved.

The same `domain.decide` as the gate (`handlers/gate.py`), on the same state: the contacts' suppressions,
consents, counted touches and planned messages (the look-ahead rule) loaded in one batch (`load_states`),
the rules loaded once, the capacity counters of the current windows. What differs is that nothing is locked or written: the contact rows and
the capacity counters are read with plain SELECTs (a forecast neither waits for a gate batch nor makes one
wait), and each send is applied to the in-memory state and usage only (`apply_decision`, `apply_capacity`),
so the next contact of the forecast sees the units and touches the earlier ones would have taken, exactly
as within one gate batch. The caller passes back `capacity_taken` between chunks of one forecast, so a
segment forecast in several calls fills a capacity window once, not once per call.

It is a snapshot: a send, a suppression or a counter change committed after the read is not in it, and
the gate decides each real request when it comes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.channels.domain import (
    PLAN_GRACE,
    CapacityUsage,
    Decision,
    Outcome,
    apply_capacity,
    apply_decision,
    decide,
)
from services.channels.handlers.gate import capacity_windows, horizon
from services.channels.handlers.states import load_states
from services.channels.messages import OUTCOME_WORDS, outbound
from services.channels.unit_of_work import ChannelsUnitOfWork

# The outcomes a forecast counts, in the words of the decision record. A forecast message has a fresh
# request id, so it is never `already_decided`; it is `duplicate` only when the same contact is listed
# twice for the same campaign step (the live touches of earlier runs are not loaded: the occurrence of
# the run being forecast does not exist yet).
FORECAST_OUTCOMES = ("send", "deferred", "suppressed", "capped", "expired", "duplicate")
RuleKey = tuple[str, str, str | None]


def rule_key(decision: Decision) -> RuleKey:
    """(outcome, reason, rule_id) of a decision as a forecast counts it.

    A suppression's `rule_id` is the id of that contact's own suppression record, so it is dropped:
    the reason (`suppressed:<scope>:<reason>`) is what the suppressions of many contacts share.
    """
    word = OUTCOME_WORDS[decision.outcome]
    rule_id = None if decision.reason.startswith("suppressed:") else decision.rule_id
    return word, decision.reason, rule_id


def forecast(uow: ChannelsUnitOfWork, message: Mapping[str, Any], contacts: Sequence[Mapping[str, Any]],
             at: datetime, capacity_taken: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Decide `message` for each of `contacts` ({contact_id, time_zone?}) at `at`, in their order; count.

    Meant for a read-only unit of work (`units_of_work().read()`): it reads and never writes or locks.
    `capacity_taken` is how many units of each capacity rule's current window earlier chunks of the
    same forecast would take (rule id -> units); the answer's `capacity_taken` adds this chunk's.
    """
    rules, _ = uow.rules.load()
    ids = [c["contact_id"] for c in contacts]
    unique = sorted(set(ids))
    profiles = uow.contacts.profiles(unique) if unique else {}
    # As the gate: the contact copy's time zone first, the requester's (here the caller's) otherwise.
    fallback = {c["contact_id"]: c.get("time_zone") for c in contacts}
    # The contacts' planned messages too: a forecast counts the look-ahead yields the gate would make.
    states = load_states(uow, {cid: profiles.get(cid) for cid in unique}, at - horizon(rules), fallback,
                         plans_due_after=at - PLAN_GRACE)
    # A request id of its own for each, so a contact listed twice is two messages (as two requests in one
    # gate batch), not a redelivery of one.
    messages = [outbound({**message, "contact_id": cid, "request_id": f"forecast:{n}"}) for n, cid in enumerate(ids)]
    # One message for every contact: the same priority, so the gate's order is the arrival order.
    windows = capacity_windows(rules, messages[:1], at)
    usage = uow.ledger.capacity.peek(windows)  # counts as they stand, unlocked (as `dry_run`)
    earlier = capacity_taken or {}
    usage = CapacityUsage({key: usage.of(key) + earlier.get(key[0], 0) for key in windows})
    before = {key: usage.of(key) for key in windows}
    tally: Counter[RuleKey] = Counter()
    pending = Counter(ids)  # messages of each contact still to decide
    for msg in messages:
        state = states[msg.contact_id]
        decision = decide(msg, state, rules, at, usage)
        if decision.outcome is Outcome.ALREADY_DECIDED:  # not with fresh request ids; never counted
            continue
        pending[msg.contact_id] -= 1
        if pending[msg.contact_id]:  # only a contact listed again needs the state after this decision
            states[msg.contact_id] = apply_decision(state, msg, decision, at)
        usage = apply_capacity(usage, msg, decision, rules, at)
        tally[rule_key(decision)] += 1
    taken = dict(earlier)
    for key in windows:
        taken[key[0]] = earlier.get(key[0], 0) + usage.of(key) - before[key]
    return summary(tally, len(messages), at, taken)


def summary(tally: Mapping[RuleKey, int], evaluated: int, at: datetime, taken: Mapping[str, int]) -> dict[str, Any]:
    """The answer: counts per outcome (every outcome, 0 included) and per (outcome, reason, rule_id), in the
    order of the outcomes (send first), the largest first within one."""
    by_outcome = dict.fromkeys(FORECAST_OUTCOMES, 0)
    for (word, _, _), count in tally.items():
        by_outcome[word] += count
    by_rule = [{"outcome": word, "reason": reason, "rule_id": rule_id, "count": count}
               for (word, reason, rule_id), count in sorted(tally.items(), key=_row_order)]
    return {"evaluated": evaluated, "by_outcome": by_outcome, "by_rule": by_rule, "capacity_taken": dict(taken),
            "evaluated_at": at}


def _row_order(item: tuple[RuleKey, int]) -> tuple[int, int, str, str]:
    (word, reason, rule_id), count = item
    return FORECAST_OUTCOMES.index(word), -count, reason, rule_id or ""
