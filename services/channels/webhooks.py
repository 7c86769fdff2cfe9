"""Provider webhooks: email bounces and complaints, SMS receipts and inbound STOP.

Providers hold no API key; instead every body is signed with the shared WEBHOOK_SECRET:
`X-Touchpoint-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. `@public_webhook` marks a view
as authenticating itself (see shared.http.auth) and checks that signature before anything is parsed:
a missing or wrong signature is 401, and with no secret configured every webhook is refused (403).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError

from services.channels.handlers import provider_events
from services.channels.schemas import EmailEventSchema, SmsInboundSchema, SmsReceiptSchema
from services.channels.signing import SIGNATURE_HEADER, verify
from shared.errors import Invalid, MalformedBody, NotFound
from shared.http import Problem
from shared.http.auth import ROLES_ATTR, SELF_AUTHENTICATED_ATTR
from shared.http.context import service_context, unit_of_work
from shared.http.guard import admit_body, json_body

blp = Blueprint("webhooks", __name__, url_prefix="/webhooks", description="Signed provider callbacks")


def public_webhook(view: Callable) -> Callable:
    """Admit a request without an API key when its body carries a valid signature; 401/403 otherwise."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        secret = service_context().settings.webhook_secret
        if not secret:
            raise Problem(403, "Forbidden", "webhooks are disabled: no WEBHOOK_SECRET is configured", kind="forbidden")
        if not verify(secret, request.get_data(cache=True), request.headers.get(SIGNATURE_HEADER)):
            raise Problem(401, "Unauthorized", f"missing or invalid {SIGNATURE_HEADER}", kind="unauthorized")
        admit_body()  # only now is the body read: application/json within the shared limits
        return view(*args, **kwargs)

    setattr(wrapper, ROLES_ATTR, ("signed-webhook",))
    setattr(wrapper, SELF_AUTHENTICATED_ATTR, True)
    return wrapper


def documented(schema: type[Schema], answer: dict[str, Any]) -> Callable:
    """The OpenAPI description of a signed webhook: its JSON body, its 202 answer, its signature scheme."""
    return blp.doc(security=[{"WebhookSignature": []}],
                   requestBody={"required": True, "content": {"application/json": {"schema": schema}}},
                   responses={"202": {"description": "Accepted", "content": {"application/json": {"schema": {
                       "type": "object", "required": ["status"],
                       "properties": {"status": {"type": "string", "enum": ["accepted"]}, **answer}}}}}})


_SUPPRESSED = {"suppressed": {"type": "array", "items": {"type": "string"}}}


def _body(schema: Schema) -> dict[str, Any]:
    raw = json_body()
    if not isinstance(raw, dict):
        raise MalformedBody("body must be a JSON object")
    try:
        return schema.load(raw)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise Invalid(f"invalid field(s): {', '.join(map(str, errors))}", errors) from exc


def _accepted(**body: Any) -> Response:
    response = jsonify(status="accepted", **body)
    response.status_code = 202
    return response


@blp.route("/email", methods=["POST"])
@documented(EmailEventSchema, {**_SUPPRESSED, "action": {"type": "string", "enum": ["suppressed", "noted"]},
                                "reason": {"type": "string", "nullable": True, "enum": ["bounced", "complained", None]}})
@public_webhook
def email_event() -> Response:
    """A hard bounce or complaint suppresses email for the contact here at once and asks contacts to record it;
    a soft bounce is only noted."""
    body = _body(EmailEventSchema())
    with unit_of_work() as uow:
        contact_ids, reason = provider_events.email_event(uow, body)
        if not contact_ids:
            raise NotFound("no contact matches the request id or address")
    if reason is None:
        return _accepted(action="noted", suppressed=[], reason=None)
    return _accepted(action="suppressed", suppressed=contact_ids, reason=reason)


@blp.route("/sms/receipts", methods=["POST"])
@documented(SmsReceiptSchema, {"request_id": {"type": "string"}})
@public_webhook
def sms_receipt() -> Response:
    """A gateway delivery receipt: `delivered`, or `failed`/`undelivered` which releases the touch."""
    body = _body(SmsReceiptSchema())
    with unit_of_work() as uow:
        request_id = provider_events.sms_receipt(uow, body)
        if request_id is None:
            raise NotFound(f"no SMS with gateway id {body['id']}")
    return _accepted(request_id=request_id)


@blp.route("/sms/inbound", methods=["POST"])
@documented(SmsInboundSchema, {**_SUPPRESSED, "action": {"type": "string", "enum": ["ignored", "suppressed"]}})
@public_webhook
def sms_inbound() -> Response:
    """A message from a contact; STOP (and its synonyms) becomes an SMS suppression."""
    body = _body(SmsInboundSchema())
    if not provider_events.is_stop(body["text"]):
        return _accepted(action="ignored")
    with unit_of_work() as uow:
        contact_ids = provider_events.sms_stop(uow, body["sender"])
    return _accepted(action="suppressed", suppressed=contact_ids)
