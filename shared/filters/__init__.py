"""The safe filter language: segments (compiled to SQL) and trigger/branch conditions (evaluated in Python).

    tier == 'gold' and not suppressed('email')
    has_consent('email') and did('product_purchased', within='30d', where=product == 'mortgage')
    count('withdrawal', within='7d', where=amount > 100) >= 3 or event.amount > 10000

No eval(): text is tokenized (tokens.py) and parsed by a small Pratt parser (parser.py, whose docstring
holds the EBNF grammar) into frozen dataclasses (nodes.py). This package is the language both services
share; each runs it its own way: campaigns evaluates an AST in Python (`services.campaigns.domain.filters`)
and contacts compiles it to SQL (`services.contacts.filters`). Both follow the comparison rules in
values.py, so a segment counted in SQL and a condition checked in Python agree.
"""

from shared.filters.errors import FilterSyntaxError
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

__all__ = [
    "And",
    "Compare",
    "Count",
    "Did",
    "Expr",
    "Field",
    "FilterSyntaxError",
    "HasConsent",
    "InList",
    "IsNull",
    "Literal",
    "Not",
    "Or",
    "Suppressed",
    "fields",
    "parse",
]
