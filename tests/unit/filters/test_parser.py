"""Parsing: the shape of the AST, precedence, functions, allowed roots and the hostile-input limits."""

from datetime import timedelta
from decimal import Decimal

import pytest

from shared.filters import (
    And,
    Compare,
    Count,
    Did,
    Field,
    FilterSyntaxError,
    HasConsent,
    InList,
    IsNull,
    Literal,
    Not,
    Or,
    Suppressed,
    fields,
    parse,
)


def eq(path: str, value: object) -> Compare:
    return Compare("==", Field(tuple(path.split("."))), Literal(value))


def test_literals_and_paths() -> None:
    assert parse("contact.attributes.tier == 'gold'") == eq("contact.attributes.tier", "gold")
    assert parse('tier == "a \\"b\\" \\\\ \\n"') == eq("tier", 'a "b" \\ \n')
    assert parse("amount >= 10000") == Compare(">=", Field(("amount",)), Literal(10000))
    assert parse("rate < 2.5") == Compare("<", Field(("rate",)), Literal(Decimal("2.5")))
    assert parse("balance > -3") == Compare(">", Field(("balance",)), Literal(-3))
    assert parse("vip == TRUE") == eq("vip", True)
    assert parse("vip != False") == Compare("!=", Field(("vip",)), Literal(False))
    assert parse("locale == NULL") == eq("locale", None)
    assert parse("event.type == 'x'") == eq("event.type", "x")


def test_literal_on_the_left_is_flipped() -> None:
    assert parse("500 < amount") == Compare(">", Field(("amount",)), Literal(500))
    assert parse("3 <= count('login')") == Compare(">=", Count("login"), Literal(3))


def test_list_null_and_contains() -> None:
    assert parse("tier in ['a', 'b', 3]") == InList(
        Field(("tier",)), (Literal("a"), Literal("b"), Literal(3))
    )
    assert parse("tier NOT IN []") == InList(Field(("tier",)), (), negated=True)
    assert parse("email is null") == IsNull(Field(("email",)))
    assert parse("email IS NOT NULL") == IsNull(Field(("email",)), negated=True)
    assert parse("tags contains 'vip'") == Compare("contains", Field(("tags",)), Literal("vip"))


def test_precedence_not_over_and_over_or() -> None:
    a, b, c = eq("a", 1), eq("b", 2), eq("c", 3)
    assert parse("a == 1 or b == 2 and c == 3") == Or((a, And((b, c))))
    assert parse("a == 1 and b == 2 or c == 3") == Or((And((a, b)), c))
    assert parse("not a == 1 and b == 2") == And((Not(a), b))
    assert parse("not (a == 1 and b == 2)") == Not(And((a, b)))
    assert parse("(a == 1 or b == 2) and c == 3") == And((Or((a, b)), c))
    assert parse("a == 1 or b == 2 or c == 3") == Or((a, b, c))
    assert parse("a == 1 AnD b == 2 and c == 3") == And((a, b, c))
    assert parse("a == 1 and (b == 2 and c == 3)") == And((a, And((b, c))))
    assert parse("not not a == 1") == Not(Not(a))


def test_functions() -> None:
    assert parse("has_consent('email')") == HasConsent("email")
    assert parse("has_consent(channel='sms')") == HasConsent("sms")
    assert parse("suppressed()") == Suppressed()
    assert parse("suppressed('email')") == Suppressed("email")
    assert parse("suppressed(channel='email')") == Suppressed("email")
    assert parse("suppressed(topic='mortgage')") == Suppressed(topic="mortgage")
    assert parse("did('product_purchased', within='30d', where=product == 'mortgage')") == Did(
        "product_purchased", timedelta(days=30), eq("product", "mortgage")
    )
    assert parse("count('withdrawal', within='7d', where=amount > 100) >= 3") == Compare(
        ">=",
        Count("withdrawal", timedelta(days=7), Compare(">", Field(("amount",)), Literal(100))),
        Literal(3),
    )
    assert parse("did('x', where=a == 1 or b == 2)") == Did("x", None, Or((eq("a", 1), eq("b", 2))))


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("12h", 43200), ("30d", 2592000), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse(f"did('x', within='{text}')") == Did("x", timedelta(seconds=seconds))


def test_allowed_roots() -> None:
    roots = {"contact", "event"}
    assert parse("contact.tier == 'a' and did('x', where=amount > 1)", allowed_roots=roots)
    with pytest.raises(FilterSyntaxError) as error:
        parse("contact.tier == 'a' and secret.key == 1", allowed_roots=roots)
    assert error.value.position == 24
    assert "secret.key" in error.value.message


def test_fields_excludes_event_data_inside_where() -> None:
    expr = parse(
        "tier == 'a' and (event.amount > 5 or not locale is null) and did('x', where=product == 'y')"
    )
    assert fields(expr) == {("tier",), ("event", "amount"), ("locale",)}


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "expected a condition"),
        ("tier == 'a')", 11, "unexpected ')'"),
        ("(tier == 'a'", 12, "unexpected end of filter"),
        ("tier = 'a'", 5, "use '=='"),
        ("tier == 'a", 8, "unterminated string"),
        ("tier == 'a\\q'", 10, "unknown escape"),
        ("tier && x", 5, "unexpected character '&'"),
        ("tier", 4, "expected a comparison"),
        ("tier ==", 7, "unexpected end of filter"),
        ("1 == 2", 0, "needs a field"),
        ("a == b", 2, "two fields"),
        ("x in [null]", 6, "lists hold"),
        ("x in ['a' 'b']", 10, "expected ','"),
        ("x is nil", 5, "expected 'null'"),
        ("frobnicate('x')", 0, "unknown function 'frobnicate'"),
        ("did()", 4, "needs the event type"),
        ("did('x', within='3y')", 16, "within must be a duration"),
        ("did('x', within='0d')", 16, "within must be a duration"),
        ("did('x', colour='red')", 9, "no argument 'colour'"),
        ("did('x', where=did('y'))", 15, "not allowed inside where"),
        ("count('x') > 'many'", 11, "only be compared with a number"),
        ("count('x')", 10, "expected a comparison"),
        ("has_consent()", 12, "needs the channel"),
        ("has_consent('')", 12, "must not be empty"),
        ("a.", 2, "expected a name after '.'"),
        ("amount == 10abc", 10, "malformed number"),
        ("and == 1", 0, "unexpected 'and'"),
    ],
)
def test_errors_carry_message_and_position(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as error:
        parse(text)
    assert error.value.position == position
    assert message in error.value.message
    assert str(error.value) == f"{error.value.message} at position {position}"


def test_error_str_format() -> None:
    with pytest.raises(FilterSyntaxError, match=r"^unexpected '\)' at position 12$"):
        parse("tier == 'a' )")


def test_limits_against_hostile_input() -> None:
    with pytest.raises(FilterSyntaxError, match="longer than 4000"):
        parse("a == 1 and " * 400 + "a == 1")
    with pytest.raises(FilterSyntaxError, match="nested deeper than 32"):
        parse("(" * 33 + "a == 1" + ")" * 33)
    assert parse("(" * 32 + "a == 1" + ")" * 32) == eq("a", 1)
    with pytest.raises(FilterSyntaxError, match="nested deeper than 32"):
        parse("not " * 40 + "a == 1")
    with pytest.raises(FilterSyntaxError, match="list longer than 1000"):
        parse("a in [" + ", ".join(["1"] * 1001) + "]")
    assert len(parse("a in [" + ",".join(["1"] * 1000) + "]").values) == 1000  # type: ignore[attr-defined]


def test_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse("(")
