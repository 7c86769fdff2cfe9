"""Tokenizer for the filter language: turns text into a list of positioned tokens.

Tokens: STRING ('..' or ".." with backslash escapes), NUMBER (10000, 2.5), NAME (ASCII identifiers;
keywords are NAMEs compared case-insensitively by the parser), OP (== != < <= > >= = ( ) [ ] , . -)
and a final EOF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from shared.filters.errors import FilterSyntaxError

MAX_TEXT_LENGTH = 4000
MAX_NUMBER_LENGTH = 100

TokenKind = Literal["STRING", "NUMBER", "NAME", "OP", "EOF"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "=", "(", ")", "[", "]", ",", ".", "-")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class Token:
    """One lexical unit and the 0-based offset where it starts."""

    kind: TokenKind
    text: str
    position: int
    value: str | int | Decimal | None = None

    def describe(self) -> str:
        """How the token is named in an error message."""
        return "end of filter" if self.kind == "EOF" else repr(self.text)


def tokenize(text: str) -> list[Token]:
    """Split filter text into tokens, ending with EOF; raises FilterSyntaxError on bad characters."""
    if len(text) > MAX_TEXT_LENGTH:
        raise FilterSyntaxError(f"filter is longer than {MAX_TEXT_LENGTH} characters", MAX_TEXT_LENGTH)
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in _WHITESPACE:
            pos += 1
        elif char in "'\"":
            token = _string(text, pos)
            tokens.append(token)
            pos += len(token.text)
        elif "0" <= char <= "9":
            token = _number(text, pos)
            tokens.append(token)
            pos += len(token.text)
        elif match := _NAME.match(text, pos):
            tokens.append(Token("NAME", match.group(), pos, match.group()))
            pos = match.end()
        else:
            op = next((op for op in _OPERATORS if text.startswith(op, pos)), None)
            if op is None:
                raise FilterSyntaxError(f"unexpected character {char!r}", pos)
            tokens.append(Token("OP", op, pos))
            pos += len(op)
    tokens.append(Token("EOF", "", len(text)))
    return tokens


def _string(text: str, start: int) -> Token:
    quote = text[start]
    chars: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return Token("STRING", text[start : pos + 1], start, "".join(chars))
        if char == "\0":
            # PostgreSQL text cannot hold NUL; refuse it here rather than fail inside a query.
            raise FilterSyntaxError("NUL character in string", pos)
        if char == "\\":
            escaped = text[pos + 1] if pos + 1 < len(text) else ""
            if escaped not in _ESCAPES:
                raise FilterSyntaxError(f"unknown escape '\\{escaped}' in string", pos)
            chars.append(_ESCAPES[escaped])
            pos += 2
        else:
            chars.append(char)
            pos += 1
    raise FilterSyntaxError("unterminated string", start)


def _number(text: str, start: int) -> Token:
    match = _NUMBER.match(text, start)
    assert match is not None  # called only on a digit
    end = match.end()
    if end < len(text) and (text[end].isalnum() or text[end] in "_."):
        raise FilterSyntaxError(f"malformed number {text[start : end + 1]!r}", start)
    literal = match.group()
    if len(literal) > MAX_NUMBER_LENGTH:
        raise FilterSyntaxError(f"number longer than {MAX_NUMBER_LENGTH} characters", start)
    value: int | Decimal = Decimal(literal) if "." in literal else int(literal)
    return Token("NUMBER", literal, start, value)
