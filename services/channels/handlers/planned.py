"""Planned sends: what the look-ahead rule holds cap slots for (docs/channels.md, "Look-ahead").

Two sources. Campaigns announces each drip send step that waits in the scheduler (`send.planned`) and
withdraws it when the enrollment ends or the campaign stops (`send.plan_cancelled`); the gate plans each
request it defers, for when it comes back. A plan ends when its message reaches the gate (whatever the
decision), when it is cancelled, and is deleted a while after it was due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from services.channels.domain import Decision, OutboundMessage, Outcome, PlannedSend, deferred_plan_id
from services.channels.unit_of_work import ChannelsUnitOfWork
from shared.messaging import Message

# Plans (live or ended) are kept this long after they were due: long enough that a `send.planned` arriving
# late finds the record of its end, short enough that the table holds only the coming week or so.
KEEP_AFTER_DUE = timedelta(days=1)


def handle_plans(uow: ChannelsUnitOfWork, messages: Sequence[Message]) -> None:
    """Batch handler of `channels.plans`: apply `send.planned` / `send.plan_cancelled` in order, then prune."""
    for message in messages:
        p = message.payload
        if message.type == "send.planned":
            uow.planned.plan([{**p, "changed_at": p["planned_at"]}])
        else:
            uow.planned.cancel(p["cancelled_at"], plan_id=p.get("plan_id"), campaign_id=p.get("campaign_id"))
    uow.planned.prune(uow.clock.now() - KEEP_AFTER_DUE)


def settle_plans(uow: ChannelsUnitOfWork, decided: Sequence[tuple[OutboundMessage, Decision]],
                 planned: Mapping[str, Sequence[PlannedSend]], now: datetime) -> None:
    """After a gate batch: the plans (`planned`: the contacts' live plans as loaded) of the decided messages
    end, and each deferred request is planned for its return, as `domain.apply_decision` did in memory."""
    uow.planned.end([p.plan_id for m, _ in decided for p in planned.get(m.contact_id, ()) if p.is_for(m)], now)
    uow.planned.plan([
        {"plan_id": deferred_plan_id(m.request_id), "contact_id": m.contact_id, "channel": m.channel,
         "category": m.category.value, "priority": m.priority, "due_at": d.defer_until,
         "campaign_id": m.campaign_id, "request_id": m.request_id, "changed_at": now}
        for m, d in decided if d.outcome is Outcome.DEFER])
