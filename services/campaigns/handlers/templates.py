"""Message templates per channel, and previews of templates and campaigns against a sample contact."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from services.campaigns.domain.steps import REGISTRY
from services.campaigns.domain.templates import PARTS, TemplateError, preview, validate_template
from services.campaigns.handlers.context import event_view
from services.campaigns.handlers.definitions import get_campaign
from services.campaigns.handlers.enrollment import TemplateLookup
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from shared.errors import Conflict, Invalid, NotFound


def _parts(body: Mapping[str, Any]) -> dict[str, Any]:
    return {part: body.get(part) for part in PARTS if body.get(part) is not None}


def check_template(body: Mapping[str, Any]) -> None:
    """Raise a 422 problem naming the part (subject, body, html) that does not compile."""
    errors: dict[str, list[str]] = {}
    for problem in validate_template(_parts(body)):
        part, _, text = problem.partition(": ")
        key = part if part in PARTS else "_schema"
        errors.setdefault(key, []).append(text if key != "_schema" else problem)
    if errors:
        raise Invalid(f"invalid: {', '.join(errors)}", errors, title="Invalid template")


def get_template(uow: CampaignsUnitOfWork, template_id: str) -> dict[str, Any]:
    """One template, or a 404 problem."""
    row = uow.templates.get(template_id)
    if row is None:
        raise NotFound(f"no template {template_id}")
    return row


def list_templates(uow: CampaignsUnitOfWork, channel: str | None) -> list[dict[str, Any]]:
    """Templates by name, optionally of one channel."""
    return uow.templates.page(channel)


def save_template(uow: CampaignsUnitOfWork, body: Mapping[str, Any], template_id: str | None = None
                  ) -> dict[str, Any]:
    """Create a template, or replace one (its channel may not change under campaigns that use it)."""
    check_template(body)
    values = {k: body.get(k) for k in ("name", "channel", "subject", "body", "html")}
    if template_id is None:
        template_id = str(uuid.uuid4())
        uow.templates.add(template_id, values)
    else:
        current = get_template(uow, template_id)
        if current["channel"] != values["channel"] and uow.campaigns.uses_template(template_id):
            raise Conflict("campaigns use this template; its channel cannot change",
                          {"channel": ["in use by campaigns"]})
        uow.templates.replace(template_id, values)
    return get_template(uow, template_id)


def delete_template(uow: CampaignsUnitOfWork, template_id: str) -> None:
    """Delete a template no campaign uses."""
    get_template(uow, template_id)
    if uow.campaigns.uses_template(template_id):
        raise Conflict("campaigns that are not archived use this template")
    uow.templates.delete(template_id)


def _sample_event(event: Mapping[str, Any]) -> dict[str, Any]:
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    rest = {k: v for k, v in event.items() if k not in ("data", "type", "event_id", "occurred_at")}
    return event_view(str(event.get("event_id", "sample")), str(event.get("type", "sample")),
                      str(event.get("occurred_at", "")), {**rest, **data})


def preview_template(uow: CampaignsUnitOfWork, template_id: str, contact: Mapping[str, Any],
                     event: Mapping[str, Any]) -> dict[str, Any]:
    """Render a stored template for a sample contact and event."""
    stored = get_template(uow, template_id)
    try:
        rendered = preview(_parts(stored), contact, _sample_event(event))
    except TemplateError as exc:
        raise Invalid(str(exc), {"template": [str(exc)]}, title="Template cannot render") from exc
    return {"channel": stored["channel"], "subject": rendered.subject, "body": rendered.body, "html": rendered.html}


def preview_campaign(uow: CampaignsUnitOfWork, campaign_id: str, contact: Mapping[str, Any],
                     event: Mapping[str, Any], step_id: str | None) -> list[dict[str, Any]]:
    """Render the campaign's send steps (or one of them) for a sample contact and event; 404 if unknown."""
    definition = get_campaign(uow, campaign_id)["definition"]
    lookup = TemplateLookup(uow.templates)
    out, errors = [], {}
    steps = [(i, s) for i, s in enumerate(definition.get("steps", []))
             if s.get("type") in REGISTRY and REGISTRY[s["type"]].sends]
    if step_id is not None:
        steps = [(i, s) for i, s in steps if s.get("id") == step_id]
        if not steps:
            raise Invalid(f"no send step {step_id!r}", {"step_id": ["not a send step"]}, title="Unknown step")
    for index, step in steps:
        try:
            rendered = preview(lookup.parts(step["template"]), contact, _sample_event(event))
        except TemplateError as exc:
            errors[f"steps[{index}].template"] = [str(exc)]
            continue
        out.append({"step_id": step["id"], "channel": step["channel"], "subject": rendered.subject,
                    "body": rendered.body, "html": rendered.html})
    if errors:
        raise Invalid(f"invalid: {', '.join(errors)}", errors, title="Template cannot render")
    return out
