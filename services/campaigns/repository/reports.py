"""The counting queries behind the campaign report: a few GROUP BYs over enrollments, sends and runs.

Each method answers plain tuples; `handlers/reports.py` folds them into the report.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from services.campaigns.repository.tables import broadcast_runs, enrollments, send_outcomes, step_sends


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
