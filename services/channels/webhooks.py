"""Provider webhooks: email bounces and complaints, SMS receipts and inbound STOP.

Providers hold no API key; instead every body is signed with the shared WEBHOOK_SECRET:
`X-Touchpoint-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. `@public_webhook` marks a view
as authenticating itself (see shared.http.auth) and checks that signature before anything is parsed:
a missing or wrong signature is 401, and with no secret configured every webhook is refused (403).
"""

from __future__ import annotations

import functools
import json
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
        return view(*args, **kwargs)

    setattr(wrapper, ROLES_ATTR, ("signed-webhook",))
    setattr(wrapper, SELF_AUTHENTICATED_ATTR, True)
    return wrapper


def _body(schema: Schema) -> dict[str, Any]:
    try:
        raw = json.loads(request.get_data(cache=True) or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(400, "Malformed request body", f"body is not JSON: {exc}", kind="malformed-body") from exc
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
