"""The audit trail at the HTTP edge: `record_change` for views that change something, and `GET /audit`.

A view that changes state records it inside the unit of work it changes it in, after the handler:

    with unit_of_work() as uow:
        campaign = definitions.update_campaign(uow, campaign_id, body, known_channels())
        record_change(uow, "campaign.update", "campaign", campaign_id, before=old, after=campaign)
        return campaign

so the record commits or rolls back with the change. Who: the request's API key (name, role,
id); when: the service's injected clock (`shared.http.context.clock()`, the one its units of work
stamp with); what: the action, the entity's type and id, and a bounded before/after
(`shared.audit.details`: at most 4 KiB, only the fields that changed). `subject_id` names the
contact whose personal data the before/after may hold, so erasing that contact redacts them.

`GET /audit` (operators) reads the service's own trail, newest first, with filters and a cursor;
`GET /api-keys/audit` answers the same way from the auth database's trail (shared/http/keys_api.py).
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.audit.log import AuditFilter, AuditLog, entry_view
from shared.http.auth import roles_required
from shared.http.context import clock, reading
from shared.http.cursor import decode_cursor, next_page

blp = Blueprint("audit", __name__, url_prefix="/audit", description="Audit trail (operators)")


def record_change(uow: Any, action: str, entity_type: str, entity_id: str, *, before: Any = None,
                  after: Any = None, subject_id: str | None = None) -> None:
    """Record a change made by the current request in `uow`'s transaction (any unit of work with `.audit`)."""
    uow.audit.actor = g.get("api_key")  # unit_of_work() set it already; a view's own factory may not have
    uow.audit.record(action, entity_type, str(entity_id), at=clock().now(), before=before, after=after,
                     subject_id=subject_id)


class AuditQuerySchema(Schema):
    """Filters and paging of the audit trail, newest first: pass a page's `next_cursor` as `cursor` for the next."""

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(validate=validate.Length(min=1, max=512),
                           metadata={"description": "the `next_cursor` of the previous page (400 if not one)"})
    actor = fields.String(validate=validate.Length(min=1, max=200),
                          metadata={"description": "the name or the id of the API key that made the change"})
    action = fields.String(validate=validate.Length(min=1, max=64),
                           metadata={"description": "e.g. `campaign.update`, `contact.erase`"})
    entity_type = fields.String(validate=validate.Length(min=1, max=32))
    entity_id = fields.String(validate=validate.Length(min=1, max=128))
    since = fields.AwareDateTime(metadata={"description": "records at or after this instant (with a UTC offset)"})
    until = fields.AwareDateTime(metadata={"description": "records before this instant (with a UTC offset)"})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if "since" in data and "until" in data and data["until"] <= data["since"]:
            raise ValidationError("must be after since", "until")


class AuditActorSchema(Schema):
    """The API key that made a change."""

    key_id = fields.String()
    name = fields.String()
    role = fields.String()


class AuditEntrySchema(Schema):
    """One change: who (null: no API key, an admin command), what, when, and its bounded before/after."""

    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.Nested(AuditActorSchema, allow_none=True)
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    details = fields.Dict(allow_none=True, metadata={
        "description": "`before` and `after` (only the changed fields, at most 4 KiB as JSON), or "
                       "`truncated` with the `changed` field names; personal values read `[erased]` after erasure"})
    redacted_at = fields.DateTime(allow_none=True, metadata={"description": "when erasure redacted the details"})


class AuditPageSchema(Schema):
    """A page of the audit trail, newest first."""

    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.String(allow_none=True)


def audit_page(query: dict[str, Any], read: Any) -> dict[str, Any]:
    """One page for `query` (AuditQuerySchema); `read(filter, limit, before_id)` fetches the rows."""
    position = decode_cursor(query.get("cursor"), {"before": int})
    where = AuditFilter(**{k: query.get(k) for k in ("actor", "action", "entity_type", "entity_id", "since", "until")})
    rows = read(where, query["limit"] + 1, position["before"] if position else None)
    page, next_cursor = next_page(rows, query["limit"], lambda last: {"before": last["id"]})
    return {"items": [entry_view(row) for row in page], "next_cursor": next_cursor}


@blp.route("")
class Audit(MethodView):
    """This service's audit trail."""

    @roles_required("operator")
    @blp.arguments(AuditQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, AuditPageSchema)
    def get(self, query):
        """Changes made through this service's API, newest first, filtered by actor, action, entity and time."""
        with reading() as conn:
            return audit_page(query, AuditLog(conn).page)
