"""Membership of the global control group: a stable, stateless rule every service computes alike.

A contact is in the control group when the bucket of ``sha256("<salt>:<contact_id>")`` falls below
the configured share. The bucket is the first 8 bytes of the digest read as a big-endian unsigned
integer, modulo 10,000 (basis points), so ``percent`` has a resolution of 0.01 %. Nothing is stored:
the same contact id, salt and percent give the same answer after a restart, in any process, in any
service (the channels gate suppresses marketing for members; campaign reports split conversions by
the same rule). Changing the salt draws a new, independent control group; raising the percent keeps
every earlier member and adds new ones (a member's bucket stays below a larger threshold).

`conversion_lift` is the comparison a report shows: conversion rates of treated and control
contacts, their difference with a 95 % confidence interval, and the relative lift; `describe` puts
the campaigns report's `control_group` section in one line for the console and the CLI.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BUCKETS = 10_000  # basis points: percent 12.34 means buckets 0..1233
MAX_PERCENT = 50.0  # the policy refuses more: a control group larger than the treated group is a mistake


def bucket(contact_id: str, salt: str) -> int:
    """The contact's bucket in 0..9999 for ``salt`` (sha256 of ``salt:contact_id``, first 8 bytes, mod 10,000)."""
    digest = hashlib.sha256(f"{salt}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def threshold(percent: float) -> int:
    """How many of the 10,000 buckets ``percent`` (0..100) covers, rounded to the nearest basis point."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be within 0..100")
    return round(percent * BUCKETS / 100)


def in_control_group(contact_id: str, salt: str, percent: float) -> bool:
    """True when ``contact_id`` belongs to the control group of ``salt`` covering ``percent`` % of contacts.

    ``percent`` 0 means nobody; membership is monotone in ``percent`` for a fixed salt.
    """
    return bucket(contact_id, salt) < threshold(percent)


@dataclass(frozen=True, slots=True)
class Lift:
    """Conversions of treated contacts against the control group, for a campaign (or one A/B variant).

    ``difference`` is the treated conversion rate minus the control rate (absolute, 0.02 = 2 points),
    ``ci95`` its 95 % confidence interval (Wald: difference +- 1.96 standard errors of two independent
    proportions; approximate for small groups or rates near 0 or 1), ``lift`` the relative change
    ``difference / control_rate`` (None while the control rate is 0). Rates are None for an empty group,
    and then so are the other figures.
    """

    treated: int
    treated_converted: int
    control: int
    control_converted: int
    treated_rate: float | None
    control_rate: float | None
    difference: float | None
    ci95: tuple[float, float] | None
    lift: float | None


Z95 = 1.959963984540054  # the two-sided 95 % quantile of the standard normal distribution


def conversion_lift(treated: int, treated_converted: int, control: int, control_converted: int) -> Lift:
    """Compare the conversion rates of ``treated`` and ``control`` contacts (counts of contacts, not sends)."""
    for total, converted in ((treated, treated_converted), (control, control_converted)):
        if total < 0 or not 0 <= converted <= total:
            raise ValueError("counts must satisfy 0 <= converted <= total")
    rate_t = treated_converted / treated if treated else None
    rate_c = control_converted / control if control else None
    if rate_t is None or rate_c is None:
        return Lift(treated, treated_converted, control, control_converted, rate_t, rate_c, None, None, None)
    difference = rate_t - rate_c
    error = math.sqrt(rate_t * (1 - rate_t) / treated + rate_c * (1 - rate_c) / control)
    ci95 = (difference - Z95 * error, difference + Z95 * error)
    lift = difference / rate_c if rate_c else None
    return Lift(treated, treated_converted, control, control_converted, rate_t, rate_c, difference, ci95, lift)


_NO_FIGURES = {"no_control_group": "nobody was held back", "no_treated_contacts": "no treated contacts",
               "too_few_contacts": "fewer than {min_group} contacts on a side"}


def _percent(value: float | None, signed: bool = False) -> str:
    return "n/a" if value is None else f"{100 * value:{'+' if signed else ''}.1f}"


def _share(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"


def describe(section: Mapping[str, Any] | None) -> str:
    """One line for people of a report's `control_group` section (the campaigns report; "" without one).

    The console and the `touchpoint` command both show it, so they say the same thing the same way.
    """
    if not section:
        return ""
    treated, control = section.get("treated") or {}, section.get("control") or {}
    line = (f"treated {treated.get('converted', 0)} of {treated.get('contacts', 0)} converted "
            f"({_share(treated.get('rate'))}), control {control.get('converted', 0)} of "
            f"{control.get('contacts', 0)} ({_share(control.get('rate'))})")
    reason = section.get("reason")
    if reason in _NO_FIGURES:
        line += f": no comparison yet ({_NO_FIGURES[reason].format(min_group=section.get('min_group', '?'))})"
    elif section.get("difference") is not None:
        ci = section.get("ci95") or {}
        line += (f": {_percent(section['difference'], True)} points (95 % CI {_percent(ci.get('low'), True)} to "
                 f"{_percent(ci.get('high'), True)}), lift "
                 + ("n/a (no control conversions)" if section.get("lift") is None
                    else f"{_percent(section['lift'], True)} %"))
    if section.get("mixed"):
        line += f"; {section['mixed']} contacts in both (left out)"
    return line
