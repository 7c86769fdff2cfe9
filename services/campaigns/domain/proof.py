"""Proof sends: which send step goes to which seed addresses (`proof_recipients` of the definition).

A campaign may name seed addresses per channel,

    "proof_recipients": {"email": ["qa@example.com"], "sms": ["+436641234567"]}

each an email address or an international phone number, checked with the rules contacts uses
(`shared.addresses`). `POST /campaigns/{id}/proof` renders every send step for a sample (or a given)
contact and asks the channels service to deliver each, marked as a proof, to its channel's seeds;
a step whose channel has no seed is listed with the reason and not sent (docs/campaigns.md, "Proofs").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.campaigns.domain.steps import REGISTRY
from services.campaigns.domain.steps.base import DefinitionError
from shared.addresses import normalize_email, normalize_phone

MAX_SEEDS = 20  # per channel; channels' POST /proofs takes at most this many addresses
# The contact a proof renders for when the request names none: every field a template may read.
SAMPLE_CONTACT: Mapping[str, Any] = {
    "contact_id": "sample", "id": "sample", "external_id": "sample", "email": "jane.doe@example.com",
    "phone": "+436641234567", "first_name": "Jane", "last_name": "Doe", "locale": "en",
    "time_zone": "Europe/Vienna", "attributes": {}}
NO_SEED = "no proof recipient for this channel"


def normalize_seed(text: str) -> str:
    """An email address (it has an `@`) or an international phone number, in normal form; ValueError if neither."""
    return normalize_email(text) if "@" in text else normalize_phone(text)


def check_proof_recipients(value: Any, known_channels: set[str]) -> list[DefinitionError]:
    """The errors of a definition's `proof_recipients`, each named by its path (`proof_recipients.sms[1]`)."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [DefinitionError("proof_recipients", "must map channel names to lists of seed addresses")]
    errors = []
    for channel, seeds in value.items():
        path = f"proof_recipients.{channel}"
        if channel not in known_channels:
            errors.append(DefinitionError(path, f"unknown channel {channel!r}; known: {sorted(known_channels)}"))
        if not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_SEEDS:
            errors.append(DefinitionError(path, f"must list 1 to {MAX_SEEDS} seed addresses"))
            continue
        for index, seed in enumerate(seeds):
            if not isinstance(seed, str):
                errors.append(DefinitionError(f"{path}[{index}]", "must be a string"))
                continue
            try:
                normalize_seed(seed)
            except ValueError as exc:
                errors.append(DefinitionError(f"{path}[{index}]", f"neither an email address nor a phone number: {exc}"))
    return errors


@dataclass(frozen=True)
class ProofStep:
    """One send step of a proof: its rendered template reference and where it goes (or why nowhere)."""

    step_id: str
    channel: str
    template: str | Mapping[str, Any]
    recipients: tuple[str, ...]
    skipped: str | None = None  # why it is not sent (no seed for its channel)


def proof_plan(definition: Mapping[str, Any], step_id: str | None = None) -> list[ProofStep]:
    """Every send step of the definition (or only `step_id`), in definition order, with its channel's seeds
    (normalised, duplicates dropped); a step whose channel has none carries `skipped`."""
    seeds = definition.get("proof_recipients") or {}
    plan = []
    for step in definition.get("steps", []):
        kind = REGISTRY.get(step.get("type"))
        if kind is None or not kind.sends or (step_id is not None and step.get("id") != step_id):
            continue
        recipients = tuple(dict.fromkeys(normalize_seed(s) for s in seeds.get(step["channel"], ())))
        plan.append(ProofStep(step["id"], step["channel"], step["template"], recipients,
                              None if recipients else NO_SEED))
    return plan
