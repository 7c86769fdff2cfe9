"""Proof sends of a campaign: render every send step for a sample (or a given) contact and have the channels
service deliver each, marked as a proof, to the seed addresses of its channel (domain/proof.py).

Nothing of the contact's is touched: no enrollment, no `message.requested`, so the gate, the touch ledger,
caps, capacity and the campaign report never see a proof, and the contact's suppressions do not stop it
(it goes to the seeds, not to the contact).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.campaigns.domain.proof import SAMPLE_CONTACT, ProofStep, proof_plan
from services.campaigns.handlers.context import contact_view
from services.campaigns.handlers.definitions import get_campaign
from services.campaigns.handlers.templates import preview_campaign
from services.campaigns.proof_sender import ProofSender, ProofUnavailable
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from shared.errors import Conflict, NotFound


@dataclass(frozen=True)
class PreparedProof:
    """A proof ready to send: the campaign's header, the contact it renders for, each step rendered."""

    campaign_id: str
    category: str
    topic: str | None
    contact_id: str | None  # None: the sample contact
    steps: Sequence[tuple[ProofStep, Mapping[str, Any]]]


def prepare_proof(uow: CampaignsUnitOfWork, campaign_id: str, contact_id: str | None,
                  contact: Mapping[str, Any] | None, event: Mapping[str, Any], step_id: str | None) -> PreparedProof:
    """Render the campaign's send steps (or `step_id`) for the contact `contact_id` (its local copy), the sample
    `contact`, or the built-in sample; 404 for an unknown campaign or contact, 409 without seed addresses."""
    definition = get_campaign(uow, campaign_id)["definition"]
    if not definition.get("proof_recipients"):
        raise Conflict("the campaign has no proof_recipients: set seed addresses per channel in its definition",
                       {"proof_recipients": ["no seed addresses configured"]})
    if contact_id is not None:
        row = uow.contacts.get(contact_id)
        if row is None:
            raise NotFound(f"no contact {contact_id}")
        contact = contact_view(row, contact_id)
    rendered = {r["step_id"]: r for r in preview_campaign(uow, campaign_id, contact or SAMPLE_CONTACT, event,
                                                          step_id)}
    steps = [(step, rendered[step.step_id]) for step in proof_plan(definition, step_id)]
    return PreparedProof(campaign_id, definition["category"], definition.get("topic"), contact_id, steps)


def send_proof(prepared: PreparedProof, sender: ProofSender) -> dict[str, Any]:
    """Deliver each rendered step to its seeds through `sender`; the answer lists every step, what was sent to
    whom, and why a step was not (no seed for its channel, or channels could not take it)."""
    proof_id = uuid.uuid4().hex
    out = []
    for index, (step, message) in enumerate(prepared.steps):
        entry = {**message, "recipients": list(step.recipients), "deliveries": [], "skipped": step.skipped}
        if step.skipped is None:
            try:
                entry["deliveries"] = sender.send({
                    "proof_id": f"{proof_id}.{index}", "channel": step.channel,
                    "category": prepared.category, "topic": prepared.topic, "campaign_id": prepared.campaign_id,
                    "step_id": step.step_id, "contact_id": prepared.contact_id,
                    "content": {part: message[part] for part in ("subject", "body", "html")},
                    "recipients": list(step.recipients)})
            except ProofUnavailable as exc:
                entry["skipped"] = f"the channels service did not take it: {exc}"
        out.append(entry)
    return {"proof_id": proof_id, "campaign_id": prepared.campaign_id, "contact_id": prepared.contact_id,
            "steps": out}
