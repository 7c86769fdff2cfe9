"""`send`: ask the dispatch gate to send a message on a channel; the walk goes straight on to `next`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from marshmallow import ValidationError, fields, validate

from services.campaigns.domain.enrollment import SendMessage, message_key
from services.campaigns.domain.steps.base import (
    CHANNEL,
    STEP_ID,
    Checks,
    StepShape,
    StepType,
    Strict,
    Walk,
    duration,
    is_int,
    register,
)
from services.campaigns.domain.templates import validate_template


@dataclass(frozen=True)
class SendStep:
    """Send a message on a channel with a stored template id or an inline {subject, body, html}."""

    id: str
    channel: str
    template: str | Mapping[str, str]
    priority: int | None = None
    expires_after: timedelta | None = None
    next: str | None = None


class InlineTemplateSchema(Strict):
    """A template written into the step."""

    subject = fields.String(allow_none=True)
    body = fields.String(required=True)
    html = fields.String(allow_none=True)


class TemplateRef(fields.Field):
    """A stored template's id, or an inline {subject, body, html}."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and 0 < len(value) <= 128:
            return value
        if isinstance(value, Mapping):
            return InlineTemplateSchema().load(value)
        raise ValidationError("must be a template id or an object {subject, body, html}")


class SendStepSchema(StepShape):
    """Send a message."""

    channel = fields.String(required=True, validate=CHANNEL)
    template = TemplateRef(required=True)
    priority = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))
    expires_after = fields.String()
    next = fields.String(allow_none=True, validate=STEP_ID)


def parse(raw: Mapping[str, Any]) -> SendStep:
    """The step of a valid raw definition."""
    template = raw["template"] if isinstance(raw["template"], str) else dict(raw["template"])
    return SendStep(raw["id"], raw["channel"], template, raw.get("priority"), duration(raw.get("expires_after")),
                    raw.get("next"))


def check(step: Mapping[str, Any], path: str, checks: Checks) -> None:
    """A configured channel, a valid template, an integer priority, a valid expiry."""
    if step.get("channel") not in checks.known_channels:
        checks.error(f"{path}.channel",
                     f"unknown channel {step.get('channel')!r}; known: {sorted(checks.known_channels)}")
    template = step.get("template")
    if isinstance(template, Mapping):
        for problem in validate_template(template):
            checks.error(f"{path}.template", problem)
    elif not isinstance(template, str) or not template:
        checks.error(f"{path}.template", "template must be a template id or {subject, body}")
    if "priority" in step and not is_int(step["priority"]):
        checks.error(f"{path}.priority", "priority must be an integer")
    if "expires_after" in step:
        checks.duration(step["expires_after"], f"{path}.expires_after")


def run(step: SendStep, walk: Walk) -> str | None:
    """Emit the send (keyed for idempotency) and go on: consecutive sends without a wait are allowed."""
    campaign, enrollment = walk.campaign, walk.enrollment
    walk.emit(SendMessage(
        step_id=step.id,
        channel=step.channel,
        template=step.template,
        priority=step.priority if step.priority is not None else campaign.priority,
        expires_at=walk.now + step.expires_after if step.expires_after is not None else None,
        occurrence=enrollment.occurrence,
        key=message_key(enrollment.campaign_id, enrollment.version, step.id, enrollment.contact_id,
                        enrollment.occurrence),
        category=campaign.category,
        topic=campaign.topic,
    ))
    return step.next


SEND = register(StepType("send", SendStep, SendStepSchema, parse, check, run, sends=True))
