"""The control-group section of a campaign report: treated against held-back contacts, with the lift.

The counts come from `repository.reports.ReportQueries.control_split`: a contact is *control* when
the gate held a marketing send of the campaign back for the global control group (`suppressed`,
reason `control_group`), *treated* when a send of the campaign got past that check (sent, deferred,
capped, failed in delivery, ...), and *mixed* when both happened (the control group was switched on,
off or widened while the campaign ran): mixed contacts are counted in neither group. A contact is
*converted* when an enrollment of theirs that reached the gate ended on an exit goal.

The statistics are `shared.control_group.conversion_lift`: the two conversion rates, their
difference with a 95 % Wald interval and the relative lift. The interval is only shown when each
group holds at least `MIN_GROUP` contacts; below that the normal approximation behind it is too
rough to be worth a number, and the figures are null with `reason` saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.control_group import conversion_lift

MIN_GROUP = 30  # contacts each group needs before the difference, its interval and the lift are shown
METHOD = "wald"  # the interval of shared.control_group.conversion_lift
GROUPS = ("treated", "control", "mixed")


def _group(contacts: int, converted: int) -> dict[str, Any]:
    return {"contacts": contacts, "converted": converted, "rate": converted / contacts if contacts else None}


def control_group_section(counts: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
    """The report section for ``counts``: {"treated"|"control"|"mixed": (contacts, converted)}, missing = (0, 0).

    `difference` (treated rate minus control rate), `ci95` ({low, high} of the difference) and `lift`
    (difference / control rate) are null with a `reason` when they cannot be given:
    `no_control_group` (no contact was held back), `no_treated_contacts`, `too_few_contacts` (a group
    below `MIN_GROUP`), or `no_control_conversions` (the lift alone is null: nothing to divide by).
    """
    treated, control = counts.get("treated", (0, 0)), counts.get("control", (0, 0))
    section: dict[str, Any] = {"treated": _group(*treated), "control": _group(*control),
                               "mixed": counts.get("mixed", (0, 0))[0], "difference": None, "ci95": None,
                               "lift": None, "method": METHOD, "min_group": MIN_GROUP, "reason": None}
    if control[0] == 0:
        return {**section, "reason": "no_control_group"}
    if treated[0] == 0:
        return {**section, "reason": "no_treated_contacts"}
    if min(treated[0], control[0]) < MIN_GROUP:
        return {**section, "reason": "too_few_contacts"}
    result = conversion_lift(treated[0], treated[1], control[0], control[1])
    low, high = result.ci95 or (None, None)
    return {**section, "difference": result.difference, "ci95": {"low": low, "high": high}, "lift": result.lift,
            "reason": None if result.lift is not None else "no_control_conversions"}


def fold_split(rows: list[tuple[str | None, str, bool, int]]) -> dict[str | None, dict[str, tuple[int, int]]]:
    """{variant: {group: (contacts, converted)}} from `control_split` rows (variant, group, converted, count)."""
    folded: dict[str | None, dict[str, tuple[int, int]]] = {}
    for variant, group, converted, count in rows:
        contacts, conversions = folded.setdefault(variant, {}).get(group, (0, 0))
        folded[variant][group] = (contacts + count, conversions + (count if converted else 0))
    return folded
