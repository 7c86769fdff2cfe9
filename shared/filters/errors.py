"""The error of the filter language itself: text that cannot be parsed.

(An expression SQL cannot express is `services.contacts.filters.FilterCompileError`: only contacts compiles
filters to SQL.)
"""

from __future__ import annotations


class FilterSyntaxError(ValueError):
    """A filter text that cannot be parsed; `position` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position

