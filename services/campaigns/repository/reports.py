"""The counting queries behind the campaign report: a few GROUP BYs over enrollments, sends and runs.

Each method answers plain tuples; `handlers/reports.py` folds them into the report.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, not_, or_, select, union_all

from services.campaigns.repository.tables import broadcast_runs, enrollments, send_outcomes, step_sends

_o = send_outcomes.c
# The gate held the send back for the global control group (services/channels/domain/policy.py).
HELD_BACK = and_(_o.outcome == "suppressed", _o.reason == "control_group")
# The send got past the control-group check. The gate checks, in order, a repeated step (duplicate),
# expiry, suppression and consent, then the control group; so every outcome shows the check was
# passed except those: `duplicate`, `expired` for the plain reason `expired`, and `suppressed`, unless
# the refusal came at delivery (`at_delivery:...`, after the gate had decided to send).
PASSED_CHECK = not_(or_(
    _o.outcome == "duplicate",
    and_(_o.outcome == "expired", func.coalesce(_o.reason, "expired") == "expired"),
    and_(_o.outcome == "suppressed", not_(func.coalesce(_o.reason, "").startswith("at_delivery:", autoescape=True)))))


class ReportQueries:
    """The report's reads of one campaign, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def enrollments(self, campaign_id: str) -> list[tuple[str, str | None, int]]:
        """(status, variant, count) of the campaign's enrollments."""
        return [tuple(r) for r in self.conn.execute(
            select(enrollments.c.status, enrollments.c.variant, func.count())
            .where(enrollments.c.campaign_id == campaign_id)
            .group_by(enrollments.c.status, enrollments.c.variant))]

    def requests(self, campaign_id: str) -> list[tuple[str, str | None, int]]:
        """(step_id, variant, count) of the sends the campaign recorded."""
        return [tuple(r) for r in self.conn.execute(
            select(step_sends.c.step_id, step_sends.c.variant, func.count())
            .where(step_sends.c.campaign_id == campaign_id)
            .group_by(step_sends.c.step_id, step_sends.c.variant))]

    def outcomes(self, campaign_id: str) -> list[tuple[str, str | None, str, str | None, str | None, int]]:
        """(step_id, variant, outcome, reason, rule_id, count) of the outcomes reported for its sends."""
        return [tuple(r) for r in self.conn.execute(
            select(step_sends.c.step_id, step_sends.c.variant, send_outcomes.c.outcome, send_outcomes.c.reason,
                   send_outcomes.c.rule_id, func.count())
            .join(send_outcomes, send_outcomes.c.request_id == step_sends.c.request_id)
            .where(step_sends.c.campaign_id == campaign_id)
            .group_by(step_sends.c.step_id, step_sends.c.variant, send_outcomes.c.outcome, send_outcomes.c.reason,
                      send_outcomes.c.rule_id))]

    def template_failures(self, campaign_id: str) -> list[tuple[str, int]]:
        """(step_id, count) of sends that failed before a request: the template did not render."""
        return [tuple(r) for r in self.conn.execute(
            select(step_sends.c.step_id, func.count())
            .where(step_sends.c.campaign_id == campaign_id, step_sends.c.status == "failed",
                   step_sends.c.reason.like("template:%"))
            .group_by(step_sends.c.step_id))]

    def converted_after(self, campaign_id: str) -> list[tuple[str, int]]:
        """(step_id, count) of converted enrollments that reached the step."""
        return [tuple(r) for r in self.conn.execute(
            select(step_sends.c.step_id, func.count(func.distinct(enrollments.c.enrollment_id)))
            .join(enrollments, enrollments.c.enrollment_id == step_sends.c.enrollment_id)
            .where(step_sends.c.campaign_id == campaign_id, enrollments.c.status == "converted")
            .group_by(step_sends.c.step_id))]

    def broadcasts(self, campaign_id: str) -> list[dict[str, Any]]:
        """The campaign's broadcast runs (occurrence, version, pages, enrolled, started_at, finished_at), oldest first."""
        return [dict(r) for r in self.conn.execute(
            select(broadcast_runs.c.occurrence, broadcast_runs.c.version, broadcast_runs.c.pages,
                   broadcast_runs.c.enrolled, broadcast_runs.c.started_at, broadcast_runs.c.finished_at)
            .where(broadcast_runs.c.campaign_id == campaign_id).order_by(broadcast_runs.c.started_at)).mappings()]

    def control_split(self, campaign_id: str) -> list[tuple[bool, str | None, str, bool, int]]:
        """(per_variant, variant, group, converted, contacts) of the contacts whose sends reached the gate.

        group is `control` (held back for the control group), `treated` (past that check) or `mixed`
        (both, in different sends); converted says an enrollment of the contact that reached the gate
        ended on an exit goal. Each contact counts once in the campaign's rows (per_variant False,
        variant None) and once per A/B variant it was enrolled in (per_variant True).
        """
        e, s = enrollments.c, step_sends.c
        # One pass over the campaign's outcomes, per contact and variant; the campaign's rows fold it again.
        by_variant = (
            select(s.contact_id, e.variant, func.bool_or(HELD_BACK).label("held"),
                   func.bool_or(PASSED_CHECK).label("passed"),
                   func.bool_or(e.status == "converted").label("converted"))
            .select_from(step_sends.join(send_outcomes, _o.request_id == s.request_id)
                         .join(enrollments, e.enrollment_id == s.enrollment_id))
            .where(s.campaign_id == campaign_id)
            .group_by(s.contact_id, e.variant)).cte("by_variant")
        v = by_variant.c
        by_contact = (
            select(func.bool_or(v.held).label("held"), func.bool_or(v.passed).label("passed"),
                   func.bool_or(v.converted).label("converted"))
            .group_by(v.contact_id)).cte("by_contact")

        def counted(source: Any, per_variant: bool) -> Any:
            c = source.c
            group = case((and_(c.held, c.passed), "mixed"), (c.held, "control"), else_="treated")
            variant = c.variant if per_variant else literal(None, type_=enrollments.c.variant.type)
            return (select(literal(per_variant).label("per_variant"), variant.label("variant"),
                           group.label("arm"), c.converted, func.count())
                    .where(or_(c.held, c.passed)).group_by(variant, group, c.converted))

        return [tuple(r) for r in self.conn.execute(union_all(counted(by_variant, True), counted(by_contact, False)))]
