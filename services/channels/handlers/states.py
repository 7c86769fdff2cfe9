"""The domain's view of contacts, assembled from the contact copy and the touch ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.channels.domain import ContactPolicyState, PriorDecisions, StepKey
from services.channels.unit_of_work import ChannelsUnitOfWork


def load_states(uow: ChannelsUnitOfWork, profiles: Mapping[str, Any], touches_since: datetime | None,
                fallback_time_zones: Mapping[str, str | None] | None = None,
                decided: Mapping[str, Mapping[str, PriorDecisions]] | None = None,
                live_steps: set[StepKey] | frozenset[StepKey] = frozenset(),
                plans_due_after: datetime | None = None) -> dict[str, ContactPolicyState]:
    """The policy state of each contact in `profiles`: active suppressions, consents, counted touches
    (none when `touches_since` is None), live plans due after `plans_due_after` (none when it is None),
    and, for the gate, prior decisions and live step occurrences."""
    ids = sorted(profiles)
    if not ids:
        return {}
    suppressions, consents = uow.contacts.facts(ids)
    touches = uow.ledger.counted_since(ids, touches_since) if touches_since is not None else {}
    planned = uow.planned.of_contacts(ids, plans_due_after) if plans_due_after is not None else {}
    fallback = fallback_time_zones or {}
    decided = decided or {}
    live: dict[str, set[StepKey]] = defaultdict(set)
    for key in live_steps:
        live[key[2]].add(key)
    # Most contacts of a large batch have no fact at all; their states differ only by time zone, and a state is
    # immutable, so one is shared per zone instead of building (and checking) thousands of equal ones.
    bare: dict[str | None, ContactPolicyState] = {}
    states: dict[str, ContactPolicyState] = {}
    for cid in ids:
        time_zone = getattr(profiles[cid], "time_zone", None) or fallback.get(cid)
        if (cid in consents or cid in suppressions or cid in touches or cid in planned or cid in decided
                or cid in live):
            states[cid] = ContactPolicyState(
                time_zone=time_zone, consents=consents.get(cid, {}), suppressions=tuple(suppressions.get(cid, ())),
                touches=tuple(touches.get(cid, ())), decided=decided.get(cid, {}),
                live_steps=frozenset(live.get(cid, ())), planned=tuple(planned.get(cid, ())))
        else:
            states[cid] = bare.get(time_zone) or bare.setdefault(time_zone, ContactPolicyState(time_zone=time_zone))
    return states
