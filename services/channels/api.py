"""HTTP layer of the channels service: policy rules, decisions, dry runs, deliveries.

Agents' and the website's endpoints are in `agents.py`, provider webhooks in `webhooks.py`.
"""

from __future__ import annotations

from datetime import UTC

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from services.channels.contact_state import load_states
from services.channels.domain import decide
from services.channels.gate import OUTCOME_WORDS, horizon, outbound
from services.channels.repository import contact_policy, decisions, deliveries
from services.channels.rules import from_document, load_rules, save_rules, to_document
from services.channels.schemas import (
    DecisionQuerySchema,
    DecisionSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    DryRunResultSchema,
    DryRunSchema,
    PolicySchema,
)
from shared.http import Problem, roles_required
from shared.http.app import ServiceContext

policy_blp = Blueprint("policy", __name__, description="The contact policy of the dispatch gate")
decisions_blp = Blueprint("decisions", __name__, description="Why a contact did or did not get a message")
deliveries_blp = Blueprint("deliveries", __name__, description="Send jobs, retries and dead letters")


def context() -> ServiceContext:
    """The service context of the running app."""
    return current_app.extensions["touchpoint"]


@policy_blp.route("/policy")
class Policy(MethodView):
    """The rules every outbound message is checked against."""

    @roles_required("operator", "marketer")
    @policy_blp.response(200, PolicySchema)
    def get(self):
        """The current rules (the shipped defaults until an operator changes them)."""
        with context().engine.begin() as conn:
            rules, version = load_rules(conn)
        return {**to_document(rules), "version": version}

    @roles_required("operator")
    @policy_blp.arguments(PolicySchema)
    @policy_blp.response(200, PolicySchema)
    def put(self, body):
        """Replace the rules; the gate uses them from its next batch on."""
        try:
            rules = from_document(body)
        except ValueError as exc:
            raise Problem(422, "Invalid policy", str(exc), errors={"caps": [str(exc)]}, kind="validation") from exc
        with context().engine.begin() as conn:
            version = save_rules(conn, rules)
        return {**to_document(rules), "version": version}


@decisions_blp.route("/decisions")
class Decisions(MethodView):
    """The decision record."""

    @roles_required("operator", "marketer", "agent")
    @decisions_blp.arguments(DecisionQuerySchema, location="query")
    @decisions_blp.response(200, DecisionSchema(many=True))
    def get(self, query):
        """Decisions by contact, request or campaign, newest first, with the delivery state of sends."""
        stmt = select(decisions, deliveries.c.state.label("d_state"), deliveries.c.attempts,
                      deliveries.c.provider_id, deliveries.c.detail.label("d_detail"),
                      deliveries.c.updated_at.label("d_updated_at")).outerjoin(
            deliveries, (deliveries.c.request_id == decisions.c.request_id) & (decisions.c.outcome == "send"))
        for name in ("contact_id", "request_id", "campaign_id"):
            if query.get(name):
                stmt = stmt.where(decisions.c[name] == query[name])
        stmt = stmt.order_by(decisions.c.decided_at.desc(), decisions.c.id.desc()).limit(query["limit"])
        with context().engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [{**row._mapping, "delivery": None if row.d_state is None else {
            "state": row.d_state, "attempts": row.attempts, "provider_id": row.provider_id,
            "detail": row.d_detail, "updated_at": row.d_updated_at}} for row in rows]


@decisions_blp.route("/dry-run")
class DryRun(MethodView):
    """Ask the gate without reserving anything."""

    @roles_required("operator", "marketer", "agent")
    @decisions_blp.arguments(DryRunSchema)
    @decisions_blp.response(200, DryRunResultSchema)
    def post(self, body):
        """What the gate would decide for this message now (or at `at`); nothing is written."""
        ctx = context()
        at = (body.get("at") or ctx.extra["clock"]()).astimezone(UTC)
        with ctx.engine.connect() as conn:
            rules, _ = load_rules(conn)
            profile = conn.execute(select(contact_policy)
                                   .where(contact_policy.c.contact_id == body["contact_id"])).first()
            state = load_states(conn, {body["contact_id"]: profile}, at - horizon(rules))[body["contact_id"]]
            conn.rollback()  # a dry run never writes, not even the seeded defaults
        decision = decide(outbound(body), state, rules, at)
        return {"outcome": OUTCOME_WORDS[decision.outcome], "reason": decision.reason, "rule_id": decision.rule_id,
                "detail": decision.detail, "defer_until": decision.defer_until, "evaluated_at": at}


@deliveries_blp.route("/deliveries")
class Deliveries(MethodView):
    """Send jobs."""

    @roles_required("operator")
    @deliveries_blp.arguments(DeliveryQuerySchema, location="query")
    @deliveries_blp.response(200, DeliverySchema(many=True))
    def get(self, query):
        """Send jobs by state (`dead`: retries exhausted), channel or contact, newest first."""
        stmt = select(deliveries)
        for name in ("state", "channel", "contact_id"):
            if query.get(name):
                stmt = stmt.where(deliveries.c[name] == query[name])
        with context().engine.connect() as conn:
            return conn.execute(stmt.order_by(deliveries.c.id.desc()).limit(query["limit"])).mappings().all()


def blueprints() -> list[Blueprint]:
    """The service's blueprints."""
    from services.channels.agents import blueprints as agent_blueprints
    from services.channels.webhooks import blp as webhooks_blp

    return [policy_blp, decisions_blp, deliveries_blp, *agent_blueprints(), webhooks_blp]
