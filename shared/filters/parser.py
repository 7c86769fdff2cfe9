"""Recursive-descent (Pratt) parser for the filter language.

Grammar (EBNF; keywords are case-insensitive, `not` binds tighter than `and`, `and` tighter than `or`):

    filter     = expr EOF ;
    expr       = unary { ("and" | "or") unary } ;          (* Pratt loop: or=1, and=2 *)
    unary      = "not" unary | "(" expr ")" | predicate ;
    predicate  = "has_consent" "(" channel ")"
               | "suppressed" "(" [ channel ] [ "," "topic" "=" STRING ] ")"
               | "did" "(" event_args ")"
               | operand "is" [ "not" ] "null"
               | operand [ "not" ] "in" list
               | field "contains" literal
               | operand compare_op operand ;              (* exactly one side a field or count() *)
    channel    = STRING | "channel" "=" STRING ;
    event_args = STRING [ "," "within" "=" DURATION ] [ "," "where" "=" expr ] ;
    operand    = field | literal | "count" "(" event_args ")" ;
    field      = NAME { "." NAME } ;                       (* first NAME not a keyword *)
    literal    = STRING | [ "-" ] NUMBER | "true" | "false" | "null" ;
    list       = "[" [ literal { "," literal } ] "]" ;      (* no null in lists *)
    compare_op = "==" | "!=" | "<" | "<=" | ">" | ">=" ;
    DURATION   = "'" digits ( "s" | "m" | "h" | "d" | "w" ) "'" ;

Inside `where=` bare paths name fields of the event's data, and did()/count()/has_consent()/suppressed()
are not allowed. Limits: 4,000 characters, nesting depth 32, 1,000 list items.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from shared.filters.durations import parse_duration
from shared.filters.errors import FilterSyntaxError
from shared.filters.nodes import (
    COMPARISON_OPS,
    FLIPPED_OPS,
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
    Operand,
    Or,
    Suppressed,
)
from shared.filters.tokens import Token, tokenize

MAX_DEPTH = 32
MAX_LIST_LENGTH = 1000
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "contains"})
FUNCTIONS = frozenset({"has_consent", "suppressed", "did", "count"})
_BINDING_POWER = {"or": 1, "and": 2}


def parse(text: str, allowed_roots: set[str] | None = None) -> Expr:
    """Parse filter text into an AST; raises FilterSyntaxError (with a position) on any problem."""
    if not isinstance(text, str):
        raise TypeError(f"filter text must be a str, not {type(text).__name__}")
    return _Parser(tokenize(text), allowed_roots).parse()


class _Parser:
    def __init__(self, tokens: list[Token], allowed_roots: set[str] | None) -> None:
        self.tokens = tokens
        self.index = 0
        self.allowed_roots = allowed_roots
        self.depth = 0
        self.in_where = False

    # -- token helpers -------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.current
        if token.kind != "EOF":
            self.index += 1
        return token

    def keyword(self, token: Token | None = None) -> str | None:
        token = token or self.current
        word = token.text.lower()
        return word if token.kind == "NAME" and word in KEYWORDS else None

    def at_op(self, op: str) -> bool:
        return self.current.kind == "OP" and self.current.text == op

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.unexpected(f"expected '{op}'")
        return self.advance()

    def unexpected(self, hint: str | None = None, token: Token | None = None) -> FilterSyntaxError:
        token = token or self.current
        message = f"unexpected {token.describe()}"
        if token.kind == "OP" and token.text == "=":
            hint = "use '==' to compare"
        return FilterSyntaxError(f"{message} ({hint})" if hint else message, token.position)

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterSyntaxError(f"filter nested deeper than {MAX_DEPTH} levels", token.position)

    # -- boolean structure -----------------------------------------------------------------------

    def parse(self) -> Expr:
        expr = self.expression(0)
        if self.current.kind != "EOF":
            raise self.unexpected()
        return expr

    def expression(self, min_power: int) -> Expr:
        left = self.unary()
        while (op := self.keyword()) in _BINDING_POWER and _BINDING_POWER[op] >= min_power:
            power = _BINDING_POWER[op]
            items = [left]
            while self.keyword() == op:
                self.advance()
                items.append(self.expression(power + 1))
            left = And(tuple(items)) if op == "and" else Or(tuple(items))
        return left

    def unary(self) -> Expr:
        token = self.current
        if self.keyword() == "not":
            self.enter(self.advance())
            expr: Expr = Not(self.unary())
            self.depth -= 1
            return expr
        if self.at_op("("):
            self.enter(self.advance())
            expr = self.expression(0)
            self.expect_op(")")
            self.depth -= 1
            return expr
        if token.kind == "EOF":
            raise FilterSyntaxError("expected a condition", token.position)
        return self.predicate()

    # -- predicates ------------------------------------------------------------------------------

    def predicate(self) -> Expr:
        start = self.current
        if self.is_call("has_consent"):
            return self.has_consent()
        if self.is_call("suppressed"):
            return self.suppressed()
        if self.is_call("did"):
            event_type, within, where = self.event_args("did")
            return Did(event_type, within, where)
        left = self.operand()
        word = self.keyword()
        if word == "is":
            return self.is_null(left)
        if word in ("in", "not"):
            return self.in_list(left)
        if word == "contains":
            self.advance()
            if not isinstance(left, Field):
                raise FilterSyntaxError("'contains' needs a field on its left", start.position)
            return Compare("contains", left, self.contains_value())
        if self.current.kind == "OP" and self.current.text in COMPARISON_OPS:
            op_token = self.advance()
            return self.comparison(op_token, left, self.operand(), start)
        raise self.unexpected(f"expected a comparison after {left.to_text()!r}")

    def comparison(self, op_token: Token, left: Operand, right: Operand, start: Token) -> Compare:
        op = op_token.text
        if isinstance(left, Literal) and not isinstance(right, Literal):
            left, right, op = right, left, FLIPPED_OPS[op]
        if isinstance(left, Literal):
            raise FilterSyntaxError("a comparison needs a field or count() on one side", start.position)
        if not isinstance(right, Literal):
            raise FilterSyntaxError("comparing two fields is not supported", op_token.position)
        if isinstance(left, Count) and (
            isinstance(right.value, bool) or not isinstance(right.value, int | Decimal)
        ):
            raise FilterSyntaxError("count() can only be compared with a number", op_token.position)
        return Compare(op, left, right)

    def is_null(self, left: Operand) -> IsNull:
        self.advance()
        negated = self.keyword() == "not"
        if negated:
            self.advance()
        if self.keyword() != "null":
            raise self.unexpected("expected 'null'")
        self.advance()
        if not isinstance(left, Field):
            raise FilterSyntaxError("'is null' needs a field on its left", self.peek(-1).position)
        return IsNull(left, negated)

    def in_list(self, left: Operand) -> InList:
        negated = self.keyword() == "not"
        if negated:
            self.advance()
            if self.keyword() != "in":
                raise self.unexpected("expected 'in'")
        in_token = self.advance()
        if not isinstance(left, Field):
            raise FilterSyntaxError("'in' needs a field on its left", in_token.position)
        self.expect_op("[")
        values: list[Literal] = []
        while not self.at_op("]"):
            if values:
                self.expect_op(",")
            token = self.current
            value = self.literal()
            if value is None or value.value is None:
                raise self.unexpected("lists hold strings, numbers, true or false", token)
            if len(values) == MAX_LIST_LENGTH:
                raise FilterSyntaxError(f"list longer than {MAX_LIST_LENGTH} items", token.position)
            values.append(value)
        self.advance()
        return InList(left, tuple(values), negated)

    def contains_value(self) -> Literal:
        token = self.current
        value = self.literal()
        if value is None or value.value is None:
            raise self.unexpected("expected a string, number, true or false", token)
        return value

    # -- operands --------------------------------------------------------------------------------

    def operand(self) -> Operand:
        if self.is_call("count"):
            if self.in_where:
                raise FilterSyntaxError("count() is not allowed inside where", self.current.position)
            event_type, within, where = self.event_args("count")
            return Count(event_type, within, where)
        literal = self.literal()
        if literal is not None:
            return literal
        return self.field()

    def literal(self) -> Literal | None:
        token = self.current
        if token.kind in ("STRING", "NUMBER"):
            self.advance()
            return Literal(token.value)
        if token.kind == "OP" and token.text == "-" and self.peek().kind == "NUMBER":
            self.advance()
            number = self.advance().value
            if isinstance(number, Decimal):
                # copy_negate keeps every digit; unary minus would round to the 28-digit context.
                return Literal(number.copy_negate())
            assert isinstance(number, int)
            return Literal(-number)
        word = self.keyword()
        if word in ("true", "false", "null"):
            self.advance()
            return Literal({"true": True, "false": False, "null": None}[word])
        return None

    def field(self) -> Field:
        start = self.current
        if start.kind != "NAME" or self.keyword() is not None:
            raise self.unexpected("expected a field, value or condition")
        if start.text in FUNCTIONS and self.peek().kind == "OP" and self.peek().text == "(":
            raise FilterSyntaxError(f"{start.text}() is not allowed here", start.position)
        if self.peek().kind == "OP" and self.peek().text == "(":
            raise FilterSyntaxError(f"unknown function {start.text!r}", start.position)
        path = [self.advance().text]
        while self.at_op("."):
            self.advance()
            if self.current.kind != "NAME":
                raise self.unexpected("expected a name after '.'")
            path.append(self.advance().text)
        if not self.in_where and self.allowed_roots is not None and path[0] not in self.allowed_roots:
            allowed = ", ".join(sorted(self.allowed_roots))
            raise FilterSyntaxError(f"unknown field {'.'.join(path)!r} (allowed: {allowed})", start.position)
        return Field(tuple(path))

    # -- function calls --------------------------------------------------------------------------

    def is_call(self, name: str) -> bool:
        token = self.current
        follows = self.peek()
        return token.kind == "NAME" and token.text == name and follows.kind == "OP" and follows.text == "("

    def call_args(
        self, name: str, keywords: set[str]
    ) -> tuple[list[tuple[str | None, Token]], dict[str, Expr]]:
        """Positional and keyword string arguments, plus an expression for `where=`."""
        name_token = self.advance()
        if self.in_where:
            raise FilterSyntaxError(f"{name}() is not allowed inside where", name_token.position)
        self.advance()  # "("
        args: list[tuple[str | None, Token]] = []
        exprs: dict[str, Expr] = {}
        seen: set[str] = set()
        while not self.at_op(")"):
            if args or exprs:
                self.expect_op(",")
            keyword: str | None = None
            if self.current.kind == "NAME" and self.peek().kind == "OP" and self.peek().text == "=":
                key_token = self.advance()
                keyword = key_token.text
                if keyword not in keywords:
                    raise FilterSyntaxError(f"{name}() has no argument {keyword!r}", key_token.position)
                if keyword in seen:
                    raise FilterSyntaxError(f"argument {keyword!r} given twice", key_token.position)
                seen.add(keyword)
                self.advance()  # "="
            elif seen:
                raise self.unexpected("positional argument after keyword argument")
            if keyword == "where":
                exprs["where"] = self.where_expression()
                continue
            token = self.current
            if token.kind != "STRING":
                raise self.unexpected("expected a quoted string")
            if token.value == "":
                raise FilterSyntaxError("argument must not be empty", token.position)
            args.append((keyword, self.advance()))
        self.advance()  # ")"
        return args, exprs

    def where_expression(self) -> Expr:
        self.enter(self.current)
        self.in_where = True
        expr = self.expression(0)
        self.in_where = False
        self.depth -= 1
        return expr

    def single_string(
        self, name: str, args: list[tuple[str | None, Token]], position_name: str, required: bool
    ) -> tuple[str | None, list[tuple[str | None, Token]]]:
        """Take the first positional (or `position_name=`) argument; return it and the rest."""
        for index, (keyword, token) in enumerate(args):
            if keyword in (None, position_name):
                rest = args[:index] + args[index + 1 :]
                return str(token.value), rest
        if required:
            raise FilterSyntaxError(
                f"{name}() needs the {position_name} as a quoted string", self.peek(-1).position
            )
        return None, args

    def has_consent(self) -> HasConsent:
        args, _ = self.call_args("has_consent", {"channel"})
        channel, rest = self.single_string("has_consent", args, "channel", required=True)
        self.no_extra("has_consent", rest)
        assert channel is not None
        return HasConsent(channel)

    def suppressed(self) -> Suppressed:
        args, _ = self.call_args("suppressed", {"channel", "topic"})
        topic_args = [token for keyword, token in args if keyword == "topic"]
        args = [(keyword, token) for keyword, token in args if keyword != "topic"]
        channel, rest = self.single_string("suppressed", args, "channel", required=False)
        self.no_extra("suppressed", rest)
        return Suppressed(channel, str(topic_args[0].value) if topic_args else None)

    def event_args(self, name: str) -> tuple[str, timedelta | None, Expr | None]:
        args, exprs = self.call_args(name, {"within", "where"})
        within_tokens = [token for keyword, token in args if keyword == "within"]
        args = [(keyword, token) for keyword, token in args if keyword != "within"]
        event_type, rest = self.single_string(name, args, "event type", required=True)
        self.no_extra(name, rest)
        within = None
        if within_tokens:
            within = parse_duration(str(within_tokens[0].value))
            if within is None:
                raise FilterSyntaxError(
                    "within must be a duration like '90s', '15m', '12h', '30d' or '2w' (at most 36500 days)",
                    within_tokens[0].position,
                )
        assert event_type is not None
        return event_type, within, exprs.get("where")

    def no_extra(self, name: str, rest: list[tuple[str | None, Token]]) -> None:
        if rest:
            raise FilterSyntaxError(f"too many arguments to {name}()", rest[0][1].position)
