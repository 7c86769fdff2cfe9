"""Properties: any AST survives a trip through text, and no text makes the parser raise anything else."""

from datetime import timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.filters import (
    And,
    Compare,
    Count,
    Did,
    Expr,
    Field,
    FilterSyntaxError,
    HasConsent,
    InList,
    IsNull,
    Literal,
    Not,
    Or,
    Suppressed,
    parse,
)
from shared.filters.durations import MAX_DURATION, UNIT_SECONDS
from shared.filters.parser import KEYWORDS, MAX_DEPTH
from tests.properties import examples

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
first_names = names.filter(lambda name: name.lower() not in KEYWORDS)
paths = st.builds(lambda first, rest: (first, *rest), first_names, st.lists(names, max_size=3))
strings = st.text(st.characters(exclude_characters="\0"), max_size=12)
non_empty = st.text(st.characters(exclude_characters="\0"), min_size=1, max_size=12)
numbers = st.integers(-(10**12), 10**12) | st.decimals(allow_nan=False, allow_infinity=False, places=3)
values = strings | numbers | st.booleans()
durations = st.builds(
    lambda amount, unit: timedelta(seconds=amount * UNIT_SECONDS[unit]),
    st.integers(1, 500),
    st.sampled_from("wdhms"),
).filter(lambda duration: duration <= MAX_DURATION)
ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def predicates(fields_allowed: bool = True) -> st.SearchStrategy[Expr]:
    field = st.builds(Field, paths)
    return st.one_of(
        st.builds(Compare, ops, field, st.builds(Literal, values | st.none())),
        st.builds(Compare, st.just("contains"), field, st.builds(Literal, values)),
        st.builds(InList, field, st.lists(st.builds(Literal, values), max_size=4).map(tuple), st.booleans()),
        st.builds(IsNull, field, st.booleans()),
    )


def boolean(leaves: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.builds(Not, children),
            st.builds(And, st.lists(children, min_size=2, max_size=3).map(tuple)),
            st.builds(Or, st.lists(children, min_size=2, max_size=3).map(tuple)),
        ),
        max_leaves=6,
    )


where_clauses = st.none() | boolean(predicates())
top_leaves = st.one_of(
    predicates(),
    st.builds(HasConsent, non_empty),
    st.builds(Suppressed, st.none() | non_empty, st.none() | non_empty),
    st.builds(Did, non_empty, st.none() | durations, where_clauses),
    st.builds(
        Compare,
        ops,
        st.builds(Count, non_empty, st.none() | durations, where_clauses),
        st.builds(Literal, numbers),
    ),
)
expressions = boolean(top_leaves)


def depth(expr: Expr) -> int:
    if isinstance(expr, Not):
        return 1 + depth(expr.item)
    if isinstance(expr, And | Or):
        return 1 + max(depth(item) for item in expr.items)
    if isinstance(expr, Did):
        return 1 + (depth(expr.where) if expr.where else 0)
    if isinstance(expr, Compare) and isinstance(expr.left, Count):
        return 1 + (depth(expr.left.where) if expr.left.where else 0)
    return 0


@settings(max_examples=examples(500), suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_text_round_trips(expr: Expr) -> None:
    assume(depth(expr) <= MAX_DEPTH and len(expr.to_text()) <= 4000)
    assert parse(str(expr)) == expr


@settings(max_examples=examples(1000))
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_filter_syntax_error(text: str) -> None:
    try:
        parse(text)
    except FilterSyntaxError as error:
        assert 0 <= error.position <= len(text)


fragments = st.sampled_from(
    [
        "tier", "contact.tier", ".", "==", "!=", "<", ">=", "=", "and", "or", "not", "in", "is", "null", "true",
        "contains", "(", ")", "[", "]", ",", "'x'", '"y\\n"', "'", "3", "-", "2.5", "did", "count", "has_consent",
        "suppressed", "within", "where", "topic", "channel", "'30d'", "'0d'", " ",
    ]
)  # fmt: skip


@settings(max_examples=examples(2000))
@given(st.lists(fragments, max_size=30).map(" ".join))
def test_token_soup_parses_or_raises_filter_syntax_error(text: str) -> None:
    try:
        parse(text, allowed_roots={"tier", "contact"})
    except FilterSyntaxError as error:
        assert 0 <= error.position <= len(text)
