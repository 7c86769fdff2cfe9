"""The control-group membership rule: stable, spread evenly, monotone in the percent, salt-dependent."""

from __future__ import annotations

import hashlib
import math

import pytest

from shared.control_group import bucket, conversion_lift, describe, in_control_group, threshold

IDS = [f"contact-{i}" for i in range(20_000)]


def test_membership_is_the_documented_hash() -> None:
    """sha256("salt:contact_id"), first 8 bytes big-endian, mod 10,000 -- other services rely on exactly this."""
    digest = hashlib.sha256(b"s1:jane").digest()
    assert bucket("jane", "s1") == int.from_bytes(digest[:8], "big") % 10_000
    assert in_control_group("jane", "s1", 100 * (bucket("jane", "s1") + 1) / 10_000)
    assert not in_control_group("jane", "s1", 100 * bucket("jane", "s1") / 10_000)


@pytest.mark.parametrize("percent", [0, 0.5, 10, 33.3, 50])
def test_the_share_of_members_is_the_percent(percent: float) -> None:
    share = sum(in_control_group(cid, "2026-h1", percent) for cid in IDS) / len(IDS)
    assert abs(share - percent / 100) < 0.01


def test_nobody_at_zero_and_raising_the_percent_keeps_every_member() -> None:
    assert not any(in_control_group(cid, "s", 0) for cid in IDS)
    small = {cid for cid in IDS if in_control_group(cid, "s", 5)}
    large = {cid for cid in IDS if in_control_group(cid, "s", 20)}
    assert small < large


def test_another_salt_draws_another_group() -> None:
    first = {cid for cid in IDS if in_control_group(cid, "a", 10)}
    second = {cid for cid in IDS if in_control_group(cid, "b", 10)}
    overlap = len(first & second) / len(first)
    assert abs(overlap - 0.10) < 0.03  # independent draws overlap by about the percent itself


def test_percent_outside_0_to_100_is_refused() -> None:
    with pytest.raises(ValueError):
        threshold(101)
    with pytest.raises(ValueError):
        threshold(-1)


def test_lift_of_known_counts() -> None:
    """1000 treated with 120 conversions against 1000 control with 100: +2 points, lift 20 %."""
    result = conversion_lift(1000, 120, 1000, 100)
    assert result.treated_rate == pytest.approx(0.12) and result.control_rate == pytest.approx(0.10)
    assert result.difference == pytest.approx(0.02) and result.lift == pytest.approx(0.2)
    error = math.sqrt(0.12 * 0.88 / 1000 + 0.1 * 0.9 / 1000)
    low, high = result.ci95
    assert low == pytest.approx(0.02 - 1.959964 * error) and high == pytest.approx(0.02 + 1.959964 * error)
    assert low < 0 < high  # not significant at this size


def test_lift_with_empty_or_unconverted_groups() -> None:
    empty = conversion_lift(100, 10, 0, 0)
    assert empty.control_rate is None and empty.difference is None and empty.ci95 is None and empty.lift is None
    zero = conversion_lift(100, 10, 100, 0)
    assert zero.difference == pytest.approx(0.1) and zero.lift is None and zero.ci95[0] > 0


def test_lift_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        conversion_lift(10, 11, 10, 1)


def test_describe_says_why_there_is_no_comparison_and_names_left_out_contacts() -> None:
    base = {"treated": {"contacts": 40, "converted": 4, "rate": 0.1}, "min_group": 30, "mixed": 0,
            "difference": None, "ci95": None, "lift": None}
    assert describe(None) == ""
    assert describe({**base, "control": {"contacts": 0, "converted": 0, "rate": None}, "reason": "no_control_group"}) \
        == "treated 4 of 40 converted (10.0 %), control 0 of 0 (n/a): no comparison yet (nobody was held back)"
    zero = {**base, "control": {"contacts": 40, "converted": 0, "rate": 0.0}, "difference": 0.1,
            "ci95": {"low": 0.007, "high": 0.193}, "mixed": 3, "reason": "no_control_conversions"}
    assert describe(zero).endswith(": +10.0 points (95 % CI +0.7 to +19.3), lift n/a (no control conversions); "
                                   "3 contacts in both (left out)")
