"""Use cases around an adapter call: lease due jobs, re-check a contact right before sending, record results.

The delivery worker (services/channels/delivery.py) runs them in three short transactions per chunk so
no lock is held while a provider is called: `lease` (jobs and the rules, once per batch), `recheck`
(the chunk's contacts, read once), then the adapter calls, then `record` (one commit per chunk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.channels.adapters.base import DeliveryResult, Recipient, RenderedMessage, RetryPolicy
from services.channels.domain import ContactPolicyState, PolicyRules, still_deliverable
from services.channels.handlers.states import load_states
from services.channels.messages import load_request, outbound, outcome_payload
from services.channels.repository.contacts import profile_fields
from services.channels.unit_of_work import ChannelsUnitOfWork


@dataclass
class Result:
    """What became of one leased job."""

    job: Any
    state: str  # the job's next state: pending (retry later), sent, failed, dead, cancelled
    result: DeliveryResult
    outcome: str | None  # the message.<outcome> to publish
    reason: str | None
    rule_id: str | None = None


@dataclass
class Chunk:
    """A chunk's contacts as re-read right before its sends."""

    profiles: dict[str, Any]
    states: dict[str, ContactPolicyState]


def lease(uow: ChannelsUnitOfWork, channel: str, limit: int, lease_for: timedelta
          ) -> tuple[list[Any], PolicyRules | None]:
    """Lease up to `limit` due jobs of `channel`, with the rules their re-check uses (loaded once per batch)."""
    jobs = uow.jobs.lease(channel, limit, lease_for)
    if not jobs:
        return [], None
    rules, _ = uow.rules.load()
    return jobs, rules


def recheck(uow: ChannelsUnitOfWork, jobs: Sequence[Any]) -> Chunk:
    """Read the chunk's contacts once: profiles (for the address) and their suppressions and consents."""
    profiles = uow.contacts.profiles(sorted({job.contact_id for job in jobs}))
    return Chunk(profiles, load_states(uow, profiles, None))


def prepare(job: Any, chunk: Chunk, rules: PolicyRules, now: datetime) -> Result | RenderedMessage:
    """The message to hand to the adapter, or the result of a job that must not be sent any more."""
    if job.request is None:  # erased since the decision
        return Result(job, "cancelled", DeliveryResult("failed", None, "contact erased"), "suppressed",
                      "suppressed:global:erased")
    request = load_request(job.request)
    state = chunk.states.get(job.contact_id)
    # A suppression or refusal that reached the service after the decision cancels the send (invariant 2).
    block = still_deliverable(outbound(request), state, rules, now) if state else None
    if block is not None:
        return Result(job, "cancelled", DeliveryResult("failed", None, block.detail), "suppressed",
                      f"at_delivery:{block.reason}", block.rule_id)
    return render(job, request, chunk.profiles.get(job.contact_id))


def classify(job: Any, result: DeliveryResult, retry_policy: RetryPolicy) -> Result:
    """What an adapter's answer means for the job: sent, retry later, or failed/dead for good."""
    if result.status == "sent":
        return Result(job, "sent", result, "sent", "sent")
    if result.status == "retry" and job.attempts < retry_policy.max_attempts:
        return Result(job, "pending", result, None, None)
    final = "failed" if result.status == "failed" else "dead"
    return Result(job, final, result, "failed", f"delivery:{final}")


def render(job: Any, request: dict[str, Any], profile: Any) -> RenderedMessage:
    """The message as the adapter gets it, addressed from the freshest copy of the contact."""
    known = {k: v for k, v in profile_fields(profile).items() if v}
    given = request.get("recipient") or {}
    # The contact copy is fresher than what the requester knew; fall back to the request.
    pick = {k: known.get(k) or given.get(k) for k in ("email", "phone", "first_name", "last_name")}
    return RenderedMessage(request_id=job.request_id, contact_id=job.contact_id, channel=job.channel,
                           category=job.category, content=request["content"], recipient=Recipient(**pick),
                           campaign_id=request.get("campaign_id"), step_id=request.get("step_id"),
                           priority=request.get("priority") or 0, expires_at=request.get("expires_at"),
                           attempt=job.attempts)


def record(uow: ChannelsUnitOfWork, results: Sequence[Result], retry_policy: RetryPolicy, now: datetime) -> None:
    """Write a chunk's outcomes: job state, the touch's fate in the ledger, the outcome message."""
    for r in results:
        job, result = r.job, r.result
        if r.state == "pending":
            uow.jobs.retry_later(job.id, retry_policy.delay_after(job.attempts), result.detail)
            continue
        if not uow.jobs.finish(job.id, r.state, result.provider_id, result.detail):
            continue  # another worker took over after our lease ran out and recorded it
        if r.state == "sent":
            uow.ledger.mark_sent(job.touch_id)
        else:
            uow.ledger.release(touch_id=job.touch_id, cancelled=r.state == "cancelled")
        request = job.request or {"request_id": job.request_id, "contact_id": job.contact_id,
                                  "channel": job.channel, "category": job.category}
        uow.publish(f"message.{r.outcome}", outcome_payload(request, r.outcome, now, r.reason, r.rule_id,
                                                            result.detail or None), key=job.contact_id)
