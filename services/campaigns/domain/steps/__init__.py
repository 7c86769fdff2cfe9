"""The campaign step types: one module each, registered in `base.REGISTRY` when imported here.

Adding a type: write `steps/<type>.py` (see `wait.py` for a small one) and import it below;
docs/conventions.md, "How to add a campaign step type", lists the rest (tests, docs).
"""

from services.campaigns.domain.steps import branch, goal_check, send, split, wait
from services.campaigns.domain.steps.base import HALT, REGISTRY, StepType, type_of

__all__ = ["HALT", "REGISTRY", "StepType", "branch", "goal_check", "send", "split", "type_of", "wait"]
