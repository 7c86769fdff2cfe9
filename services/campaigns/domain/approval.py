"""Approval of a campaign before it runs (definition setting `requires_approval: true`).

Every change of a campaign's definition is a new *revision* (a save that changes nothing is not). An
approval names the revision it approves and who approved it; it is *current* while the campaign is
still at that revision, so any change after it voids it. The rules:

- the approver must be another API key than the one that made the last change (four eyes); the
  roles that may approve are those that may change a campaign (marketer, operator);
- activating (or resuming) a campaign that requires approval needs a current approval;
- an active campaign that requires approval cannot be changed while it runs (the change would go
  live unapproved): pause it, change it, have it approved, resume it;
- once a definition has asked for approval, the campaign keeps requiring it: taking the setting out
  is itself a change a single key could otherwise make to skip the second pair of eyes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApprovalState:
    """What the approval rules read of a stored campaign."""

    required: bool
    revision: int
    changed_by: str | None
    approved_revision: int | None

    @property
    def current(self) -> bool:
        """Whether an approval holds for the campaign as it is now."""
        return self.approved_revision is not None and self.approved_revision == self.revision


def state_of(row: Mapping[str, Any]) -> ApprovalState:
    """The approval state of a stored campaign row."""
    return ApprovalState(bool(row.get("approval_required")), int(row.get("revision") or 1), row.get("changed_by"),
                         row.get("approved_revision"))


def still_required(previously: bool, definition: Mapping[str, Any]) -> bool:
    """Whether the campaign requires approval after saving `definition` (once required, always required)."""
    return previously or definition.get("requires_approval") is True


def run_refusal(state: ApprovalState) -> str | None:
    """Why the campaign may not be activated or resumed now, or None."""
    if state.required and not state.current:
        if state.approved_revision is None:
            return "the campaign requires approval by a second key before it runs (POST .../approval)"
        return (f"the approval of revision {state.approved_revision} was voided by a change (now revision "
                f"{state.revision}); it needs a new approval")
    return None


def change_refusal(state: ApprovalState, status: str) -> str | None:
    """Why the campaign's definition may not be changed in `status`, or None."""
    if state.required and status == "active":
        return "an active campaign that requires approval cannot be changed: pause it first, then have the " \
               "change approved before resuming"
    return None


def approval_refusal(state: ApprovalState, approver: str, reviewed: int | None) -> str | None:
    """Why `approver` (an API key id) may not approve the campaign now, or None; `reviewed` is the revision the
    approver looked at, when they said."""
    if state.changed_by is not None and approver == state.changed_by:
        return "the key that last changed the campaign cannot approve it; a second key must"
    if reviewed is not None and reviewed != state.revision:
        return f"the campaign is at revision {state.revision}, not {reviewed}: review it again"
    return None
