"""The wire shapes the channels service reads and writes: requests in, outcomes and interactions out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.channels.domain import OutboundMessage, Outcome
from shared.contracts import MessageRequested
from shared.messaging.fastload import FastLoader

# The gate's outcomes in the words of `message.<outcome>` (shared.contracts.OUTCOMES) and of the
# decision record. Outcome.ALREADY_DECIDED has no word: a redelivery is neither stored nor announced.
OUTCOME_WORDS = {Outcome.SEND: "send", Outcome.DEFER: "deferred", Outcome.SUPPRESS: "suppressed",
                 Outcome.CAP: "capped", Outcome.EXPIRE: "expired", Outcome.DUPLICATE: "duplicate"}
_REQUEST_SCHEMA = MessageRequested()
# Every leased job's request is loaded again before its send: through its fields (shared/messaging/
# fastload.py), the same result or refusal as `load` at about half the CPU.
_REQUEST_LOADER = FastLoader(_REQUEST_SCHEMA)


def outbound(request: dict[str, Any]) -> OutboundMessage:
    """The domain's view of a loaded `message.requested` payload (or a dry-run body)."""
    return OutboundMessage(channel=request["channel"], category=request["category"],
                           contact_id=request["contact_id"], campaign_id=request.get("campaign_id"),
                           topic=request.get("topic"), priority=request.get("priority") or 0,
                           expires_at=request.get("expires_at"), request_id=request.get("request_id") or "",
                           attempt=request.get("deferrals") or 0, step_id=request.get("step_id"),
                           occurrence=request.get("occurrence"))


def load_request(body: dict[str, Any]) -> dict[str, Any]:
    """A `message.requested` payload from its JSON wire form."""
    return _REQUEST_LOADER.load(body)


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


def interaction_payload(contact_id: str, kind: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """An `interaction.recorded` payload (a call outcome, an offer response, a suppression request)."""
    return {"interaction_id": str(uuid.uuid4()), "contact_id": contact_id, "type": kind,
            "occurred_at": occurred_at.isoformat(), "data": data}
