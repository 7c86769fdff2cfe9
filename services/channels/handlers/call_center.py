"""Use cases of the call-center queue and web offers, and the expiry of unclaimed call tasks.

Outcomes and offer responses flow back as `interaction.recorded`, written to the outbox in the same
transaction as the state change. An expired task releases its touch and publishes `message.expired`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.channels.messages import interaction_payload, outcome_payload
from services.channels.unit_of_work import ChannelsUnitOfWork

OFFER_RESPONSES = {"accept": "accepted", "dismiss": "dismissed"}


def _interaction(uow: ChannelsUnitOfWork, contact_id: str, kind: str, data: dict[str, Any]) -> None:
    uow.publish("interaction.recorded", interaction_payload(contact_id, kind, uow.clock.now(), data),
                key=contact_id)


def list_tasks(uow: ChannelsUnitOfWork, status: str, limit: int, contact_id: str | None = None,
               campaign_id: str | None = None, claimed_by: str | None = None,
               after: tuple[int, datetime, int] | None = None) -> list[Any]:
    """Tasks in `status`, highest priority first, oldest first within a priority, after the keyset
    `after` (priority, created_at, id) of the previous page; optionally of one contact, campaign or agent."""
    return uow.agent_queue.tasks(status, limit, contact_id, campaign_id, claimed_by, after)


def get_task(uow: ChannelsUnitOfWork, task_id: int) -> Any | None:
    """One task."""
    return uow.agent_queue.task(task_id)


def claim_task(uow: ChannelsUnitOfWork, task_id: int, agent: str) -> Any | None:
    """Give an open task to `agent`; None when it is not open (someone else won, or it expired)."""
    return uow.agent_queue.claim(task_id, agent)


def complete_task(uow: ChannelsUnitOfWork, task_id: int, agent: str | None, outcome: str,
                  notes: str | None) -> Any | None:
    """Close a claimed task (by its agent; `agent=None` for operators) and report the call's outcome."""
    row = uow.agent_queue.complete(task_id, agent, outcome, notes)
    if row is not None:
        _interaction(uow, row.contact_id, "call_completed",
                     {"outcome": outcome, "task_id": row.id, "campaign_id": row.campaign_id,
                      "request_id": row.request_id, "notes": notes})
    return row


def list_offers(uow: ChannelsUnitOfWork, contact_id: str) -> list[Any]:
    """A contact's current offers, highest priority first."""
    return uow.agent_queue.offers(contact_id)


def respond_to_offer(uow: ChannelsUnitOfWork, offer_id: int, action: str) -> Any | None:
    """Accept or dismiss an active offer; None when it is not active any more."""
    status = OFFER_RESPONSES[action]
    row = uow.agent_queue.respond(offer_id, status)
    if row is not None:
        _interaction(uow, row.contact_id, f"offer_{status}",
                     {"offer_id": row.id, "campaign_id": row.campaign_id, "request_id": row.request_id})
    return row


def expire_tasks(uow: ChannelsUnitOfWork, limit: int = 500) -> int:
    """Expire open tasks past their time: release the touch, publish `message.expired`."""
    rows = uow.agent_queue.expire_due(limit)
    if not rows:
        return 0
    ids = [r.request_id for r in rows]
    uow.ledger.release(request_ids=ids)
    jobs = uow.jobs.by_request_ids(ids)
    now = uow.clock.now()
    for row in rows:
        job = jobs.get(row.request_id)
        request = (job.request if job is not None else None) or {
            "request_id": row.request_id, "contact_id": row.contact_id, "channel": "call"}
        uow.publish("message.expired", outcome_payload(request, "expired", now, "call_task_expired",
                                                       detail="no agent claimed the call task in time"),
                    key=row.contact_id)
    return len(rows)
