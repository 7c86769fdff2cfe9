"""Provider webhooks: email bounces and complaints, SMS receipts and inbound STOP.

Providers hold no API key; instead every body is signed with the shared WEBHOOK_SECRET:
`X-Touchpoint-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. `@public_webhook` marks a view
as authenticating itself (see shared.http.auth) and checks that signature before anything is parsed:
a missing or wrong signature is 401, and with no secret configured every webhook is refused (403).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError
from sqlalchemy import select, update

from services.channels.api import context
from services.channels.contact_copy import suppress_locally
from services.channels.gate import outcome_payload
from services.channels.repository import TABLES, contact_policy, deliveries, touches
from services.channels.schemas import EmailEventSchema, SmsInboundSchema, SmsReceiptSchema
from services.channels.signing import SIGNATURE_HEADER, verify
from shared.http import Problem
from shared.http.auth import ROLES_ATTR, SELF_AUTHENTICATED_ATTR
from shared.http.guard import admit_body, json_body
from shared.messaging import UnitOfWork, UnitOfWorkFactory

blp = Blueprint("webhooks", __name__, url_prefix="/webhooks", description="Signed provider callbacks")
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "end", "quit", "cancel", "stop all"})


def public_webhook(view: Callable) -> Callable:
    """Admit a request without an API key when its body carries a valid signature; 401/403 otherwise."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        secret = context().settings.webhook_secret
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
        raise Problem(400, "Malformed request body", "body must be a JSON object", kind="malformed-body")
    try:
        return schema.load(raw)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise Problem(422, "Validation failed", f"invalid field(s): {', '.join(map(str, errors))}", errors=errors,
                      kind="validation") from exc


def _uow() -> UnitOfWorkFactory:
    return UnitOfWorkFactory(context().engine, TABLES, "channels")


def _accepted(**body: Any) -> Response:
    response = jsonify(status="accepted", **body)
    response.status_code = 202
    return response


def _announce(uow: UnitOfWork, job, outcome: str, reason: str, detail: str | None) -> None:
    payload = outcome_payload(job.request or {"request_id": job.request_id, "contact_id": job.contact_id,
                                              "channel": job.channel}, outcome, datetime.now(UTC), reason,
                              detail=detail)
    uow.publish(f"message.{outcome}", payload, key=job.contact_id)


@blp.route("/email", methods=["POST"])
@documented(EmailEventSchema, {**_SUPPRESSED, "reason": {"type": "string", "enum": ["bounced", "complained"]}})
@public_webhook
def email_event() -> Response:
    """A bounce or complaint: suppress email for the contact here at once and ask contacts to record it."""
    body = _body(EmailEventSchema())
    reason = "bounced" if body["type"] == "bounce" else "complained"
    with _uow()() as uow:
        job = None
        if body.get("request_id"):
            job = uow.conn.execute(select(deliveries).where(deliveries.c.request_id == body["request_id"])).first()
        if job is not None:
            contact_ids = [job.contact_id]
        elif body.get("contact_id"):
            contact_ids = [body["contact_id"]]
        else:
            contact_ids = list(uow.conn.execute(select(contact_policy.c.contact_id)
                                                .where(contact_policy.c.email == body.get("email"))).scalars())
        if not contact_ids:
            raise Problem(404, "Not Found", "no contact matches the request id or address", kind="not-found")
        for contact_id in sorted(contact_ids):
            suppress_locally(uow, contact_id, "email", reason, "email_webhook",
                             {"request_id": body.get("request_id")})
        if job is not None:
            _announce(uow, job, reason, f"provider:{body['type']}", body.get("detail"))
    return _accepted(suppressed=sorted(contact_ids), reason=reason)


@blp.route("/sms/receipts", methods=["POST"])
@documented(SmsReceiptSchema, {"request_id": {"type": "string"}})
@public_webhook
def sms_receipt() -> Response:
    """A gateway delivery receipt: `delivered`, or `failed`/`undelivered` which releases the touch."""
    body = _body(SmsReceiptSchema())
    with _uow()() as uow:
        job = uow.conn.execute(select(deliveries).where(deliveries.c.provider_id == body["id"],
                                                        deliveries.c.channel == "sms")).first()
        if job is None:
            raise Problem(404, "Not Found", f"no SMS with gateway id {body['id']}", kind="not-found")
        detail = f"receipt: {body['status']}" + (f" ({body['detail']})" if body.get("detail") else "")
        uow.conn.execute(update(deliveries).where(deliveries.c.id == job.id).values(detail=detail))
        if body["status"] == "delivered":
            _announce(uow, job, "delivered", "receipt:delivered", body.get("detail"))
        else:
            uow.conn.execute(update(touches).where(touches.c.id == job.touch_id).values(state="failed"))
            _announce(uow, job, "failed", f"receipt:{body['status']}", body.get("detail"))
    return _accepted(request_id=job.request_id)


@blp.route("/sms/inbound", methods=["POST"])
@documented(SmsInboundSchema, {**_SUPPRESSED, "action": {"type": "string", "enum": ["ignored", "suppressed"]}})
@public_webhook
def sms_inbound() -> Response:
    """A message from a contact; STOP (and its synonyms) becomes an SMS suppression."""
    body = _body(SmsInboundSchema())
    if " ".join(body["text"].lower().split()) not in STOP_WORDS:
        return _accepted(action="ignored")
    with _uow()() as uow:
        contact_ids = sorted(uow.conn.execute(select(contact_policy.c.contact_id)
                                              .where(contact_policy.c.phone == body["sender"])).scalars())
        for contact_id in contact_ids:
            suppress_locally(uow, contact_id, "sms", "stop", "sms_inbound")
    return _accepted(action="suppressed", suppressed=contact_ids)
