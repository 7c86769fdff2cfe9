"""The safe filter language: segments (compiled to SQL) and trigger/branch conditions (evaluated in Python).

    tier == 'gold' and not suppressed('email')
    has_consent('email') and did('product_purchased', within='30d', where=product == 'mortgage')
    count('withdrawal', within='7d', where=amount > 100) >= 3 or event.amount > 10000

No eval(): text is tokenized (tokens.py) and parsed by a small Pratt parser (parser.py, whose docstring
holds the EBNF grammar) into frozen dataclasses (nodes.py). `evaluate` runs an AST against an
EvaluationContext; `compile_sql` turns it into a SQLAlchemy boolean through a SqlResolver. Both follow
the comparison rules in values.py, so a segment counted in SQL and a condition checked in Python agree.
"""

from shared.filters.context import MappingContext
from shared.filters.errors import FilterCompileError, FilterSyntaxError
from shared.filters.evaluate import EvaluationContext, evaluate
from shared.filters.nodes import (
    And,
    Compare,
    Count,
    Did,
    Expr,
    Field,
    HasConsent,
    InList,
    IsNull,
    Literal,
    Not,
    Or,
    Suppressed,
    fields,
)
from shared.filters.parser import parse
from shared.filters.sql import SqlField, SqlResolver, compile_sql
from shared.filters.sql_tables import JsonbTableResolver

__all__ = [
    "And",
    "Compare",
    "Count",
    "Did",
    "EvaluationContext",
    "Expr",
    "Field",
    "FilterCompileError",
    "FilterSyntaxError",
    "HasConsent",
    "InList",
    "IsNull",
    "JsonbTableResolver",
    "Literal",
    "MappingContext",
    "Not",
    "Or",
    "SqlField",
    "SqlResolver",
    "Suppressed",
    "compile_sql",
    "evaluate",
    "fields",
    "parse",
]
