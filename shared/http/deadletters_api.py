"""Operators see and replay a service's dead letters over HTTP (the console's operator page uses this).

The service names its queues (`create_service_app(..., queues=...)`); only their dead-letter queues
are listed, read and replayed here, so a key for one service never touches another's queues.
"""

from __future__ import annotations

from dataclasses import asdict

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.errors import NotFound
from shared.http.audit import record_change
from shared.http.auth import roles_required
from shared.http.context import service_context, unit_of_work
from shared.messaging import deadletters

blp = Blueprint("dead_letters", __name__, url_prefix="/dead-letters", description="Dead letters (operators)")


class DeadQueueSchema(Schema):
    """A dead-letter queue of this service and how many messages wait in it."""

    queue = fields.String()
    work_queue = fields.String()
    messages = fields.Integer(allow_none=True, metadata={"description": "null: not declared yet"})


class DeadLetterSchema(Schema):
    """One dead message, with the reason it died."""

    queue = fields.String()
    message_id = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    error = fields.String()
    attempts = fields.Integer()
    dead_lettered_at = fields.Raw(allow_none=True)
    body = fields.Raw()


class PeekQuerySchema(Schema):
    """How many dead messages to show."""

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


class ReplaySchema(Schema):
    """How many dead messages to move back (all when absent)."""

    limit = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=100_000))


class ReplayedSchema(Schema):
    """What a replay did."""

    queue = fields.String()
    replayed = fields.Integer()


def dead_queue_names() -> list[str]:
    """The physical dead-letter queues of this service's work queues (shards included)."""
    context = service_context()
    specs = context.extra.get("queues", lambda: ())()
    return [context.topology.dead_queue_name(name) for spec in specs for name in context.topology.shard_queue_names(spec)]


def _known(queue: str) -> str:
    if queue not in dead_queue_names():
        raise NotFound(f"{queue} is not a dead-letter queue of this service")
    return queue


def _amqp_url() -> str:
    return service_context().settings.amqp_url


@blp.route("")
class DeadQueues(MethodView):
    """This service's dead-letter queues."""

    @roles_required("operator")
    @blp.response(200, DeadQueueSchema(many=True))
    def get(self):
        """Every dead-letter queue of this service with its message count."""
        names = dead_queue_names()
        found = deadletters.counts(_amqp_url(), names) if names else {}
        return [{"queue": name, "work_queue": name[: -len(".dead")], "messages": found.get(name)} for name in names]


@blp.route("/<string:queue>")
class DeadQueue(MethodView):
    """The messages of one dead-letter queue."""

    @roles_required("operator")
    @blp.arguments(PeekQuerySchema, location="query")
    @blp.response(200, DeadLetterSchema(many=True))
    def get(self, query, queue: str):
        """Read dead messages without removing them: queue, reason (`error`), attempts, body."""
        return [asdict(dead) for dead in deadletters.peek(_amqp_url(), _known(queue), query["limit"])]


@blp.route("/<string:queue>/replay")
class Replay(MethodView):
    """Give dead messages another chance."""

    @roles_required("operator")
    @blp.arguments(ReplaySchema)
    @blp.response(200, ReplayedSchema)
    def post(self, body, queue: str):
        """Move dead messages back to their work queue with a fresh retry budget."""
        if service_context().units_of_work is None:  # an app without a database of its own has no trail
            return {"queue": queue, "replayed": deadletters.replay(_amqp_url(), _known(queue), body["limit"])}
        # The broker is not in the transaction: the record commits right after the move, in the
        # transaction that was open while it ran, so a failed move leaves no record.
        with unit_of_work() as uow:
            replayed = deadletters.replay(_amqp_url(), _known(queue), body["limit"])
            record_change(uow, "dead_letters.replay", "queue", queue,
                          after={"replayed": replayed, "limit": body["limit"]})
        return {"queue": queue, "replayed": replayed}
