"""Trigger and branch conditions evaluated in Python: campaigns is the only service that runs a filter
against one contact (and its triggering event).

The language itself (parser, AST, comparison rules) is `shared.filters`; `evaluate` follows
`shared/filters/values.py`, as the contacts service's SQL compiler does, so both agree.
"""

from services.campaigns.domain.filters.context import MappingContext
from services.campaigns.domain.filters.evaluate import EvaluationContext, evaluate

__all__ = ["EvaluationContext", "MappingContext", "evaluate"]
