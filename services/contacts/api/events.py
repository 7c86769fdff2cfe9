"""Behavioural events in: one object or a batch of up to 1,000, answered per item."""

from __future__ import annotations

import json

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from services.contacts import schemas as s
from services.contacts.api import WRITERS, unit_of_work
from services.contacts.errors import Invalid, MalformedBody, UnsupportedMediaType
from services.contacts.handlers.events import record_events
from shared.http import roles_required

blp = Blueprint("events", __name__, url_prefix="/events", description="Behavioural events")
MAX_BATCH = 1000
_EVENT = s.EventSchema()


@blp.route("")
class Events(MethodView):
    """Post events."""

    @roles_required(*WRITERS)
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": {
        "oneOf": [{"$ref": "#/components/schemas/Event"},
                  {"type": "array", "maxItems": MAX_BATCH, "items": {"$ref": "#/components/schemas/Event"}}]}}}})
    @blp.response(202, s.EventResultsSchema)
    def post(self):
        """Store events on the timeline and publish each as contact.event.<type>; idempotent by event_id.

        Every item gets a result: accepted, duplicate (its event_id was seen before) or rejected
        with the reason (invalid fields, unknown or erased contact).
        """
        if not request.is_json:
            raise UnsupportedMediaType("send application/json")
        try:
            body = json.loads(request.get_data())
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedBody(f"the body is not valid JSON: {exc}", {"_body": ["invalid JSON"]}) from None
        items = [body] if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise Invalid("the body must be an event object or a list of them", {"_body": ["expected object or list"]})
        if not items or len(items) > MAX_BATCH:
            raise Invalid(f"post 1 to {MAX_BATCH} events at a time", {"_body": [f"1 to {MAX_BATCH} events"]})
        results: list[dict | None] = [None] * len(items)
        valid: list[tuple[int, dict]] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                results[index] = {"index": index, "event_id": None, "status": "rejected",
                                  "reason": {"_schema": ["each event must be a JSON object"]}}
                continue
            try:
                valid.append((index, _EVENT.load(item)))
            except ValidationError as exc:
                event_id = item.get("event_id")
                results[index] = {"index": index, "event_id": event_id if isinstance(event_id, str) else None,
                                  "status": "rejected", "reason": exc.messages}
        if valid:
            with unit_of_work() as uow:
                outcomes = record_events(uow, [item for _, item in valid])
            for (index, _), outcome in zip(valid, outcomes, strict=True):
                results[index] = {"index": index, **outcome}
        counts = {status: sum(1 for r in results if r["status"] == status)
                  for status in ("accepted", "duplicate", "rejected")}
        return {**counts, "results": results}
