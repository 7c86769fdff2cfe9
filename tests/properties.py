"""How hard the property tests search (imported as `tests.properties`).

Each property test names the example count of a thorough search; the everyday run (and CI) draws a
fifth of it so the whole suite stays inside its ten-minute budget. Set TOUCHPOINT_PROPERTY_SCALE=1
(or higher) for the thorough search before changing a rule those tests cover.
"""

from __future__ import annotations

import os

SCALE = float(os.environ.get("TOUCHPOINT_PROPERTY_SCALE", "0.2"))
FLOOR = 50  # below this a search rarely reaches the interesting corners


def examples(thorough: int) -> int:
    """The number of examples to draw for a test whose thorough search draws `thorough`."""
    return max(FLOOR, round(thorough * SCALE))
