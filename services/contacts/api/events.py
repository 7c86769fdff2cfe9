"""Behavioural events in: one object or a batch of up to 1,000, answered per item."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from services.contacts import schemas as s
from services.contacts.api import WRITERS
from services.contacts.handlers.events import record_events
from shared.errors import Invalid
from shared.http import roles_required
from shared.http.context import unit_of_work
from shared.http.guard import json_body, per_item_validation
from shared.http.json_input import might_hold_refused_values, refused_values
from shared.messaging.fastload import FastLoader

blp = Blueprint("events", __name__, url_prefix="/events", description="Behavioural events")
MAX_BATCH = 1000
# Every item of every POST passes here: the schema's own fields and check at a fraction of
# Schema.load's bookkeeping; an invalid item is refused by Schema.load, naming each field.
_EVENT = FastLoader(s.EventSchema())


@blp.route("")
class Events(MethodView):
    """Post events."""

    @roles_required(*WRITERS)
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": {
        "oneOf": [{"$ref": "#/components/schemas/Event"},
                  {"type": "array", "maxItems": MAX_BATCH, "items": {"$ref": "#/components/schemas/Event"}}]}}}})
    @blp.response(202, s.EventResultsSchema)
    @per_item_validation
    def post(self):
        """Store events on the timeline and publish each as contact.event.<type>; idempotent by event_id.

        Every item gets a result: accepted, duplicate (its event_id was seen before) or rejected
        with the reason (invalid fields, unknown or erased contact).
        """
        body = json_body()  # read by the guard: 415 for other media types, 400 for unreadable JSON
        items = [body] if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise Invalid("the body must be an event object or a list of them", {"_body": ["expected object or list"]})
        if not items or len(items) > MAX_BATCH:
            raise Invalid(f"post 1 to {MAX_BATCH} events at a time", {"_body": [f"1 to {MAX_BATCH} events"]})
        results: list[dict | None] = [None] * len(items)
        valid: list[tuple[int, dict]] = []
        screen = might_hold_refused_values(request.get_data(cache=True))
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                results[index] = {"index": index, "event_id": None, "status": "rejected",
                                  "reason": {"_schema": ["each event must be a JSON object"]}}
                continue
            # A control character or an out-of-range number rejects this item, not the batch.
            refused = refused_values(item) if screen else {}
            if refused:
                event_id = item.get("event_id") if "event_id" not in refused else None
                results[index] = {"index": index, "event_id": event_id if isinstance(event_id, str) else None,
                                  "status": "rejected", "reason": refused}
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
