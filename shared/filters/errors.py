"""Errors raised at the edges of the filter language: bad text, or an expression SQL cannot express."""

from __future__ import annotations


class FilterSyntaxError(ValueError):
    """A filter text that cannot be parsed; `position` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


class FilterCompileError(ValueError):
    """A well-formed filter that the given SQL resolver cannot express (e.g. `event.*` in a segment)."""
