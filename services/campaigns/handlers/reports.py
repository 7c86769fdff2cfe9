"""The campaign report: enrollments, each step's requests and outcomes, and A/B variants, counted;
conversions of treated contacts against the global control group, for the campaign and per variant."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from services.campaigns.domain.lift import control_group_section, fold_split
from services.campaigns.handlers.definitions import get_campaign
from services.campaigns.unit_of_work import CampaignsUnitOfWork

# Outcomes counted per step; refusals are also broken down by reason (suppressed) or rule (capped).
STEP_COUNTS = ("requested", "sent", "deferred", "suppressed", "capped", "expired", "failed", "delivered",
               "bounced", "opened", "clicked", "answered")
ENROLLMENT_STATUSES = ("active", "completed", "converted", "exited")


def _step_entry() -> dict[str, Any]:
    return {**dict.fromkeys(STEP_COUNTS, 0), "converted": 0, "suppressed_by_reason": {}, "capped_by_rule": {}}


def campaign_report(uow: CampaignsUnitOfWork, campaign_id: str) -> dict[str, Any]:
    """Counts of one campaign, folded from a few GROUP BY queries (`repository.reports.ReportQueries`); 404 if unknown."""
    get_campaign(uow, campaign_id)
    queries = uow.reports
    by_status = dict.fromkeys(ENROLLMENT_STATUSES, 0)
    variants: dict[str, dict[str, int]] = defaultdict(lambda: {"enrolled": 0, "converted": 0, "requested": 0,
                                                               "sent": 0})
    for status, variant, count in queries.enrollments(campaign_id):
        by_status[status] = by_status.get(status, 0) + count
        if variant is not None:
            variants[variant]["enrolled"] += count
            if status == "converted":
                variants[variant]["converted"] += count
    steps: dict[str, dict[str, Any]] = defaultdict(_step_entry)
    for step_id, variant, count in queries.requests(campaign_id):
        entry = steps[step_id]
        entry["requested"] += count
        if variant is not None:
            variants[variant]["requested"] += count
    for step_id, variant, outcome, reason, rule_id, count in queries.outcomes(campaign_id):
        entry = steps[step_id]
        if outcome in entry:
            entry[outcome] += count
        if outcome == "suppressed":
            key = reason or "unknown"
            entry["suppressed_by_reason"][key] = entry["suppressed_by_reason"].get(key, 0) + count
        elif outcome == "capped":
            key = rule_id or reason or "unknown"
            entry["capped_by_rule"][key] = entry["capped_by_rule"].get(key, 0) + count
        if outcome == "sent" and variant is not None:
            variants[variant]["sent"] += count
    for step_id, count in queries.template_failures(campaign_id):
        steps[step_id]["failed"] += count  # failed before a request: the template did not render
        steps[step_id]["requested"] -= count
    # Converted after this step: enrollments that reached the step and then met a goal.
    for step_id, count in queries.converted_after(campaign_id):
        steps[step_id]["converted"] = count
    runs = queries.broadcasts(campaign_id)
    for run in runs:
        for key in ("started_at", "finished_at"):
            run[key] = run[key].isoformat() if run[key] else None
    # Control membership as the gate recorded it (domain/lift.py), for the campaign and per variant.
    split = queries.control_split(campaign_id)
    overall = fold_split([row[1:] for row in split if not row[0]]).get(None, {})
    by_variant = fold_split([row[1:] for row in split if row[0]])
    return {"campaign_id": campaign_id,
            "enrollments": {**by_status, "enrolled": sum(by_status.values())},
            "steps": dict(steps),
            "variants": {name: {**counts, "control_group": control_group_section(by_variant.get(name, {}))}
                         for name, counts in variants.items()},
            "control_group": control_group_section(overall), "broadcasts": runs}
