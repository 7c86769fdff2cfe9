"""HTTP layer of the channels service: policy rules, decisions, dry runs, deliveries.

Views parse with a schema, call a use case of `handlers.policy` in a unit of work and dump with a
schema. Agents' and the website's endpoints are in `agents.py`, provider webhooks in `webhooks.py`.
"""

from __future__ import annotations

from datetime import UTC

from flask.views import MethodView
from flask_smorest import Blueprint

from services.channels.handlers import policy
from services.channels.rules import from_document
from services.channels.schemas import (
    DecisionQuerySchema,
    DecisionSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    DryRunResultSchema,
    DryRunSchema,
    PolicySchema,
)
from services.channels.web import context, unit_of_work
from shared.http import Problem, roles_required

policy_blp = Blueprint("policy", __name__, description="The contact policy of the dispatch gate")
decisions_blp = Blueprint("decisions", __name__, description="Why a contact did or did not get a message")
deliveries_blp = Blueprint("deliveries", __name__, description="Send jobs, retries and dead letters")


@policy_blp.route("/policy")
class Policy(MethodView):
    """The rules every outbound message is checked against."""

    @roles_required("operator", "marketer")
    @policy_blp.response(200, PolicySchema)
    def get(self):
        """The current rules (the shipped defaults until an operator changes them)."""
        with unit_of_work()() as uow:
            return policy.current_policy(uow)

    @roles_required("operator")
    @policy_blp.arguments(PolicySchema)
    @policy_blp.response(200, PolicySchema)
    def put(self, body):
        """Replace the rules; the gate uses them from its next batch on."""
        try:
            rules = from_document(body)
        except ValueError as exc:
            raise Problem(422, "Invalid policy", str(exc), errors={"caps": [str(exc)]}, kind="validation") from exc
        with unit_of_work()() as uow:
            return policy.replace_policy(uow, rules)


@decisions_blp.route("/decisions")
class Decisions(MethodView):
    """The decision record."""

    @roles_required("operator", "marketer", "agent")
    @decisions_blp.arguments(DecisionQuerySchema, location="query")
    @decisions_blp.response(200, DecisionSchema(many=True))
    def get(self, query):
        """Decisions by contact, request or campaign, newest first, with the delivery state of sends."""
        with unit_of_work().read() as uow:
            return policy.find_decisions(uow, query)


@decisions_blp.route("/dry-run")
class DryRun(MethodView):
    """Ask the gate without reserving anything."""

    @roles_required("operator", "marketer", "agent")
    @decisions_blp.arguments(DryRunSchema)
    @decisions_blp.response(200, DryRunResultSchema)
    def post(self, body):
        """What the gate would decide for this message now (or at `at`); nothing is written."""
        at = (body.get("at") or context().extra["clock"]()).astimezone(UTC)
        with unit_of_work().read() as uow:  # a dry run never writes, not even the seeded defaults
            return policy.dry_run(uow, body, at)


@deliveries_blp.route("/deliveries")
class Deliveries(MethodView):
    """Send jobs."""

    @roles_required("operator")
    @deliveries_blp.arguments(DeliveryQuerySchema, location="query")
    @deliveries_blp.response(200, DeliverySchema(many=True))
    def get(self, query):
        """Send jobs by state (`dead`: retries exhausted), channel or contact, newest first."""
        with unit_of_work().read() as uow:
            return policy.find_deliveries(uow, query)


def blueprints() -> list[Blueprint]:
    """Blueprints of this module."""
    return [policy_blp, decisions_blp, deliveries_blp]
