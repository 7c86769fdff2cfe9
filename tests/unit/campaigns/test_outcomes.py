"""A step's recorded outcome only moves forward along the funnel, whatever order reports arrive in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.domain.outcomes import RANK, supersedes
from shared.contracts import OUTCOMES


def test_every_contract_outcome_has_a_rank() -> None:
    assert set(OUTCOMES) <= set(RANK)


def test_an_open_is_not_hidden_by_a_late_sent() -> None:
    assert supersedes("opened", "sent")
    assert not supersedes("sent", "opened")
    assert supersedes("sent", "deferred") and not supersedes("deferred", "sent")


def test_a_duplicate_never_replaces_the_first_decision() -> None:
    assert not supersedes("duplicate", None)
    assert not supersedes("duplicate", "deferred")


@given(st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=12))
def test_the_recorded_outcome_is_the_furthest_reported(reports: list[str]) -> None:
    recorded: str | None = None
    for outcome in reports:
        if supersedes(outcome, recorded):
            recorded = outcome
    meaningful = [o for o in reports if o != "duplicate"]
    if meaningful:
        assert RANK[recorded] == max(RANK[o] for o in meaningful)
    else:
        assert recorded is None
