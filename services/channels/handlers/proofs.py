"""Proof sends (`POST /proofs`): hand a marked copy of a rendered message to each seed address at once.

A proof is not a message to a contact: it does not pass the gate and writes nothing (no decision,
touch, delivery job or outcome message), so the contact's ledger, caps, capacity counters and the
campaign reports never see it, and the contact's suppressions do not stop it (domain/proof.py). It
is sent while the caller waits, once per seed address, and the answer says what became of each;
a proof that failed is sent again by asking again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.channels.adapters.base import ChannelAdapter, DeliveryResult, Recipient, RenderedMessage
from services.channels.domain.proof import proof_content, refusal, seed_address


def deliver_proofs(adapter: ChannelAdapter, proof: Mapping[str, Any], recipients: Sequence[str]
                   ) -> list[dict[str, Any]]:
    """Send `proof` (proof_id, channel, category, content, campaign_id, step_id, contact_id, topic) to each
    seed address through `adapter`; one result {to, status: sent | failed | refused, detail} per address."""
    content = proof_content(proof["content"])
    results = []
    for index, address in enumerate(recipients):
        kind, normal = seed_address(address)  # the schema has checked it; this gives the normal form
        refused = refusal(adapter.channel, adapter.seed_address, kind)
        if refused is not None:
            results.append({"to": normal, "status": "refused", "detail": refused, "provider_id": None})
            continue
        message = RenderedMessage(
            request_id=f"proof-{proof['proof_id']}-{index}", contact_id=proof.get("contact_id") or "proof",
            channel=adapter.channel, category=proof["category"], content=content,
            recipient=Recipient(email=normal) if kind == "email" else Recipient(phone=normal),
            campaign_id=proof.get("campaign_id"), step_id=proof.get("step_id"), topic=proof.get("topic"),
            proof=True)
        result = _attempt(adapter, message)
        results.append({"to": normal, "status": "sent" if result.status == "sent" else "failed",
                        "detail": result.detail, "provider_id": result.provider_id})
    return results


def _attempt(adapter: ChannelAdapter, message: RenderedMessage) -> DeliveryResult:
    try:
        return adapter.send(message)
    except Exception as exc:  # noqa: BLE001 - an adapter's exception is a failed attempt, as in delivery
        return DeliveryResult("failed", None, f"{exc.__class__.__name__}: {exc}")
