"""The approval rules (domain/approval.py): four eyes, voided by any change, required to run."""

from __future__ import annotations

from services.campaigns.domain.approval import (
    ApprovalState,
    approval_refusal,
    change_refusal,
    run_refusal,
    state_of,
    still_required,
)


def test_an_approval_holds_only_for_the_revision_it_names():
    assert ApprovalState(True, 3, "k1", 3).current
    assert not ApprovalState(True, 4, "k1", 3).current
    assert not ApprovalState(True, 1, "k1", None).current
    assert state_of({"revision": 2, "approval_required": True, "changed_by": "k", "approved_revision": 2}).current
    assert state_of({}) == ApprovalState(False, 1, None, None)  # a row from before approvals existed


def test_running_needs_a_current_approval_only_when_required():
    assert run_refusal(ApprovalState(False, 2, "k1", None)) is None
    assert run_refusal(ApprovalState(True, 2, "k1", 2)) is None
    assert "second key" in run_refusal(ApprovalState(True, 1, "k1", None))
    assert "voided" in run_refusal(ApprovalState(True, 5, "k1", 4))


def test_the_approver_is_another_key_and_saw_the_current_revision():
    state = ApprovalState(True, 2, "author", None)
    assert "second key" in approval_refusal(state, "author", None)
    assert approval_refusal(state, "reviewer", None) is None
    assert approval_refusal(state, "reviewer", 2) is None
    assert "review it again" in approval_refusal(state, "reviewer", 1)
    assert approval_refusal(ApprovalState(True, 1, None, None), "anyone", None) is None  # no author on record


def test_once_required_always_required_and_no_unapproved_change_goes_live():
    assert still_required(False, {"requires_approval": True})
    assert still_required(True, {"requires_approval": False})
    assert not still_required(False, {})
    assert change_refusal(ApprovalState(True, 1, "k", 1), "active")
    assert change_refusal(ApprovalState(True, 1, "k", 1), "paused") is None
    assert change_refusal(ApprovalState(False, 1, "k", None), "active") is None
