"""The global control group of the gate's rules (see docs/channels.md, "Global control group")."""

from __future__ import annotations

from dataclasses import dataclass

from shared.control_group import MAX_PERCENT, in_control_group


@dataclass(frozen=True, slots=True)
class ControlGroup:
    """The global control group: ``percent`` % of contacts (0..50), drawn by ``salt``, get no marketing.

    Membership is `shared.control_group.in_control_group`, so campaign reports split contacts the same way.
    """

    percent: float
    salt: str

    def __post_init__(self) -> None:
        if isinstance(self.percent, bool) or not isinstance(self.percent, int | float):
            raise TypeError("control group percent must be a number")
        if not 0 <= self.percent <= MAX_PERCENT:
            raise ValueError(f"control group percent must be within 0..{MAX_PERCENT:g}")
        if not isinstance(self.salt, str) or not self.salt:
            raise ValueError("control group salt must be a non-empty str")

    def contains(self, contact_id: str) -> bool:
        """True when ``contact_id`` is in the control group."""
        return in_control_group(contact_id, self.salt, self.percent)
