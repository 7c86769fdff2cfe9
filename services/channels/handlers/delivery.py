"""Use cases around an adapter call: lease due jobs with their re-check, record results.

The delivery worker (services/channels/delivery.py) runs them in short transactions so no lock is
held while a provider is called: `take` leases a batch of jobs and, in the same transaction, reads
the rules and the batch's contacts again (the re-check right before delivery); the sends then run
on the channel's lane; `record` writes a batch of outcomes with one statement per table and one
commit; `give_back` returns leased jobs that were never handed to the adapter (a stopping worker).
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
from services.channels.repository.jobs import JobOutcome
from services.channels.repository.ledger import LedgerState
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


@dataclass
class Taken:
    """A leased batch: messages to hand to the adapter, and jobs already settled by the re-check."""

    ready: list[tuple[Any, RenderedMessage]]
    settled: list[Result]

    def __len__(self) -> int:
        return len(self.ready) + len(self.settled)


def take(uow: ChannelsUnitOfWork, channel: str, limit: int, lease_for: timedelta, now: datetime) -> Taken:
    """Lease up to `limit` due jobs and re-check their contacts in the same transaction (one read per batch)."""
    jobs, rules = lease(uow, channel, limit, lease_for)
    taken = Taken([], [])
    if not jobs:
        return taken
    assert rules is not None
    chunk = recheck(uow, jobs)
    for job in jobs:
        prepared = prepare(job, chunk, rules, now)
        if isinstance(prepared, Result):
            taken.settled.append(prepared)
        else:
            taken.ready.append((job, prepared))
    return taken


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
    pick = {k: known.get(k) or given.get(k) for k in ("email", "phone", "first_name", "last_name", "locale")}
    return RenderedMessage(request_id=job.request_id, contact_id=job.contact_id, channel=job.channel,
                           category=job.category, content=request["content"], recipient=Recipient(**pick),
                           campaign_id=request.get("campaign_id"), step_id=request.get("step_id"),
                           priority=request.get("priority") or 0, expires_at=request.get("expires_at"),
                           attempt=job.attempts, topic=request.get("topic"))


def record(uow: ChannelsUnitOfWork, results: Sequence[Result], retry_policy: RetryPolicy, now: datetime) -> int:
    """Write a batch of outcomes: job states (one statement), the touches' fate (one statement), the
    outcome messages (one outbox insert at commit). Returns how many jobs were recorded.

    A job whose lease ran out and that another worker leased again (its `attempts` moved on) is not
    ours to record any more: the other worker records it (the send may have happened twice, which the
    provider's idempotency key / Message-ID absorbs).
    """
    outcomes = [JobOutcome(r.job.id, r.job.attempts, r.state,
                           retry_policy.delay_after(r.job.attempts) if r.state == "pending" else None,
                           None if r.state == "pending" else r.result.provider_id, r.result.detail)
                for r in results]
    recorded = uow.jobs.record(outcomes)
    finished = [r for r in results if r.job.id in recorded and r.state != "pending"]
    uow.ledger.settle([(r.job.touch_id, _TOUCH_STATE[r.state]) for r in finished])
    for r in finished:
        job, result = r.job, r.result
        request = job.request or {"request_id": job.request_id, "contact_id": job.contact_id,
                                  "channel": job.channel, "category": job.category}
        uow.publish(f"message.{r.outcome}", outcome_payload(request, r.outcome, now, r.reason, r.rule_id,
                                                            result.detail or None), key=job.contact_id)
    return len(recorded)


def give_back(uow: ChannelsUnitOfWork, jobs: Sequence[Any]) -> None:
    """Return leased jobs that were never sent: due again at once, the lease's attempt not counted."""
    uow.jobs.give_back([(job.id, job.attempts) for job in jobs])


# A finished job's touch: sent keeps counting; failed and cancelled release the reservation.
_TOUCH_STATE = {"sent": LedgerState.SENT, "failed": LedgerState.FAILED, "dead": LedgerState.FAILED,
                "cancelled": LedgerState.CANCELLED}
