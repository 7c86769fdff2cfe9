"""HTTP endpoints for people and the website: the call-center queue (agents) and web offers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from services.channels.handlers.call_center import (
    claim_task,
    complete_task,
    get_task,
    list_offers,
    list_tasks,
    respond_to_offer,
)
from services.channels.schemas import OfferSchema, TaskCompleteSchema, TaskQuerySchema, TaskSchema
from shared.errors import Conflict, Invalid, NotFound
from shared.http import current_key, roles_required
from shared.http.audit import record_change
from shared.http.context import unit_of_work, units_of_work
from shared.http.cursor import aware_datetime, decode_cursor, next_page
from shared.http.openapi import alt_problem

tasks_blp = Blueprint("tasks", __name__, description="The call-center task queue")
offers_blp = Blueprint("offers", __name__, description="Offers on contacts' personal web pages")


def _missing_or_conflict(task_id: int, doing: str) -> NotFound | Conflict:
    with units_of_work().read() as uow:
        task = get_task(uow, task_id)
    if task is None:
        return NotFound(f"no task {task_id}")
    return Conflict(f"task {task_id} is {task.status}; cannot {doing} it")


@tasks_blp.route("/tasks")
class Tasks(MethodView):
    """The queue."""

    @roles_required("agent")
    @tasks_blp.arguments(TaskQuerySchema, location="query")
    @tasks_blp.response(200, TaskSchema(many=True), headers={
        "X-Next-Cursor": {"description": "pass as `cursor` for the next page; absent on the last page",
                          "schema": {"type": "string"}}})
    def get(self, query):
        """Tasks by status, highest priority first; filters by contact, campaign, `mine` (claimed by the
        caller); cursor paging through the `X-Next-Cursor` header (and a `Link: rel="next"`)."""
        claimed_by = current_key().key_id if query["mine"] else None
        with units_of_work().read() as uow:
            rows = list_tasks(uow, query["status"], query["limit"] + 1, query["contact_id"], query["campaign_id"],
                              claimed_by, _decode_cursor(query["cursor"]))
        page, token = next_page(rows, query["limit"],
                                lambda last: {"priority": last.priority, "created_at": last.created_at, "id": last.id})
        headers = {}
        if token:
            headers["X-Next-Cursor"] = token
            headers["Link"] = f'<{_next_url(token)}>; rel="next"'
        return [row._mapping for row in page], 200, headers


def _decode_cursor(cursor: str | None) -> tuple[int, datetime, int] | None:
    position = decode_cursor(cursor, {"priority": int, "created_at": aware_datetime, "id": int})
    return (position["priority"], position["created_at"], position["id"]) if position else None


def _next_url(cursor: str) -> str:
    args = {k: v for k, v in request.args.items() if k != "cursor"}
    return f"{request.path}?{urlencode({**args, 'cursor': cursor})}"


@tasks_blp.route("/tasks/<int:task_id>/claim")
class ClaimTask(MethodView):
    """Take a task."""

    @roles_required("agent")
    @tasks_blp.response(200, TaskSchema)
    @alt_problem(tasks_blp, 409, "the task is not open (another agent claimed it, or it was completed or expired)")
    def post(self, task_id: int):
        """Claim an open task; of two agents racing, one wins and the other gets 409."""
        with unit_of_work() as uow:
            row = claim_task(uow, task_id, current_key().key_id)
            if row is not None:
                _record_task(uow, "task.claim", row)
        if row is None:
            raise _missing_or_conflict(task_id, "claim")
        return row._mapping


@tasks_blp.route("/tasks/<int:task_id>/complete")
class CompleteTask(MethodView):
    """Report a call."""

    @roles_required("agent")
    @tasks_blp.arguments(TaskCompleteSchema)
    @tasks_blp.response(200, TaskSchema)
    @alt_problem(tasks_blp, 409, "the task is not claimed by this agent, or already completed or expired")
    def post(self, body, task_id: int):
        """Complete a task you claimed; the outcome flows back as `interaction.recorded` (call_completed)."""
        key = current_key()
        with unit_of_work() as uow:
            row = complete_task(uow, task_id, None if key.role == "operator" else key.key_id, body["outcome"],
                                body.get("notes"))
            if row is not None:
                _record_task(uow, "task.complete", row)
        if row is None:
            raise _missing_or_conflict(task_id, "complete")
        return row._mapping


@offers_blp.route("/contacts/<string:contact_id>/offers")
class ContactOffers(MethodView):
    """What the website shows a contact."""

    @roles_required("channel_owner", "agent")
    @offers_blp.response(200, OfferSchema(many=True))
    def get(self, contact_id: str):
        """Current offers, highest priority first."""
        if not 1 <= len(contact_id) <= 128:
            raise Invalid("contact_id is 1..128 characters", {"contact_id": ["length 1..128"]})
        with units_of_work().read() as uow:
            return [row._mapping for row in list_offers(uow, contact_id)]


def _record_task(uow: Any, action: str, row: Any) -> None:
    # what happened, not what was said: the agent's notes (personal, free text) stay out of the trail
    task = row._mapping
    record_change(uow, action, "task", str(task["id"]), after={
        name: task[name] for name in ("contact_id", "campaign_id", "status", "claimed_by", "outcome")})


def _respond(offer_id: int, action: str):
    with unit_of_work() as uow:
        row = respond_to_offer(uow, offer_id, action)
        if row is not None:
            offer = row._mapping
            record_change(uow, f"offer.{action}", "offer", str(offer_id),
                          after={name: offer[name] for name in ("contact_id", "status")})
    if row is None:
        raise Conflict(f"offer {offer_id} is not active (or does not exist)")
    return row._mapping


@offers_blp.route("/offers/<int:offer_id>/accept")
class AcceptOffer(MethodView):
    """The contact took the offer."""

    @roles_required("channel_owner", "agent")
    @offers_blp.response(200, OfferSchema)
    @alt_problem(offers_blp, 409, "the offer is not active (accepted, dismissed, expired or unknown)")
    def post(self, offer_id: int):
        """Accept; flows back as `interaction.recorded` (offer_accepted)."""
        return _respond(offer_id, "accept")


@offers_blp.route("/offers/<int:offer_id>/dismiss")
class DismissOffer(MethodView):
    """The contact waved the offer away."""

    @roles_required("channel_owner", "agent")
    @offers_blp.response(200, OfferSchema)
    @alt_problem(offers_blp, 409, "the offer is not active (accepted, dismissed, expired or unknown)")
    def post(self, offer_id: int):
        """Dismiss; flows back as `interaction.recorded` (offer_dismissed)."""
        return _respond(offer_id, "dismiss")


def blueprints() -> list[Blueprint]:
    """Blueprints of this module."""
    return [tasks_blp, offers_blp]
