"""Which reported outcome of a send a branch should see: the furthest one along the funnel.

Outcomes arrive at least once and out of order (an `opened` can overtake its `sent`); a step's
recorded outcome only moves forward, so a late `sent` never hides an `opened`.
"""

from __future__ import annotations

# Higher is further along. Gate refusals end the funnel at the level of `sent`; engagement
# (opened, clicked, answered) beats delivery.
RANK: dict[str, int] = {
    "requested": 0, "duplicate": 0,
    "deferred": 1,
    "sent": 2, "suppressed": 2, "capped": 2, "expired": 2, "failed": 2,
    "delivered": 3, "bounced": 3, "complained": 3,
    "opened": 4, "dismissed": 4,
    "clicked": 5, "answered": 5, "accepted": 5,
}


def supersedes(new: str, old: str | None) -> bool:
    """Whether outcome `new` should replace the recorded `old` (None: nothing recorded yet)."""
    if new == "duplicate":
        return False  # the gate saw this request before; the first decision stands
    if old is None:
        return True
    return RANK.get(new, 0) >= RANK.get(old, 0)
