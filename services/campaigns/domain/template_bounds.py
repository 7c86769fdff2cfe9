"""The bounds of one template render: work, CPU time, output, value sizes, call depth.

Pure rules, no Jinja: the sandbox (`templates_sandbox.py`) asks these functions before and after each
operation that could grow without limit, so a careless or hostile template fails with a reason
instead of stalling a worker or filling its memory. Every limit is per message part (subject, body, html).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Printf-style conversions: flags, then a width and a precision that may be numbers or '*'.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


class BoundExceeded(ValueError):
    """A render went over one of its bounds; the message names the bound and its limit."""


@dataclass(frozen=True)
class Bounds:
    """The limits of one render of one template part (documented in docs/campaigns.md)."""

    max_steps: int = 100_000  # loop iterations + calls + attribute and item lookups + filter calls
    max_cpu_seconds: float = 1.0  # CPU time of the rendering thread (not wall time: load doesn't fail renders)
    max_output: int = 1_000_000  # characters of the rendered part
    max_produced: int = 2_000_000  # characters produced along the way (macros, set blocks, loop text)
    max_value: int = 100_000  # size of one value: characters of a string, items (deep) of a list or dict
    max_int_bits: int = 4_096  # about 1,233 decimal digits
    max_range: int = 10_000  # items of range()
    max_depth: int = 20  # nested calls: macros calling macros, caller(), loops in macros
    max_width: int = 1_000  # a printf width or precision ('%10s'), a padding width


def weight(value: Any, limit: int) -> int:
    """The size of `value` as the bounds count it: characters of strings, items (deep) of collections.

    Stops counting past `limit` (returns limit + 1), so weighing a huge value costs little."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | range):
            total += len(item)
        elif isinstance(item, Mapping):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 64  # a big number counts like a string of its size
        else:
            total += 1
        if total > limit:
            return limit + 1
    return total


class Budget:
    """What one render has used so far; each `charge_*` raises `BoundExceeded` past a bound."""

    def __init__(self, bounds: Bounds | None = None, clock=time.thread_time) -> None:
        self.bounds = bounds or Bounds()
        self.steps = 0
        self.produced = 0
        self.depth = 0
        self._clock = clock
        self._started = clock()

    def charge_step(self, count: int = 1) -> None:
        """Count work; every 1,024 steps also check the CPU time used."""
        before = self.steps
        self.steps += count
        if self.steps > self.bounds.max_steps:
            raise BoundExceeded(f"more than {self.bounds.max_steps:,} steps (loops, calls, lookups)")
        if before >> 10 != self.steps >> 10 and self._clock() - self._started > self.bounds.max_cpu_seconds:
            raise BoundExceeded(f"more than {self.bounds.max_cpu_seconds:g} s of CPU time")

    def charge_output(self, characters: int) -> None:
        """Count characters the template produced (even if a macro or set block throws them away)."""
        self.produced += characters
        if self.produced > self.bounds.max_produced:
            raise BoundExceeded(f"produces more than {self.bounds.max_produced:,} characters")

    def enter(self) -> None:
        """One call deeper; raise past `max_depth`."""
        self.depth += 1
        if self.depth > self.bounds.max_depth:
            raise BoundExceeded(f"calls nested deeper than {self.bounds.max_depth}")

    def leave(self) -> None:
        """One call less deep."""
        self.depth -= 1

    def check_value(self, value: Any) -> Any:
        """Return `value` when its size is within `max_value` (and an int within `max_int_bits`)."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > self.bounds.max_int_bits:
                raise BoundExceeded(f"a number larger than {self.bounds.max_int_bits} bits")
            return value
        sized = isinstance(value, str | bytes | Mapping | list | tuple | set | frozenset | range)
        if sized and weight(value, self.bounds.max_value) > self.bounds.max_value:
            raise BoundExceeded(f"a value larger than {self.bounds.max_value:,} characters or items")
        return value

    def check_size(self, size: int, what: str) -> None:
        """Refuse an operation before it runs when its result would be larger than `max_value`."""
        if size > self.bounds.max_value:
            raise BoundExceeded(f"{what} would be larger than {self.bounds.max_value:,} characters or items")

    def check_width(self, width: Any, what: str) -> None:
        """Refuse a width, padding or count above `max_width`."""
        if isinstance(width, int) and not isinstance(width, bool) and width > self.bounds.max_width:
            raise BoundExceeded(f"{what} {width} is more than {self.bounds.max_width}")

    def check_printf(self, fmt: str) -> None:
        """Refuse '*' and widths or precisions above `max_width` in a printf-style format."""
        for match in _PRINTF.finditer(fmt):
            for number in match.groups():
                if number == "*":
                    raise BoundExceeded("a '*' width or precision in a format")
                if number is not None:
                    self.check_width(int(number), "a format width")

    def guard(self, items: Iterable[Any], extra_output: int = 0, sized: bool = True) -> Iterator[Any]:
        """Yield `items`, charging one step (and `extra_output` characters) per item; when `sized`, refuse
        more than `max_value` of them in weight, so a lazy sequence stays bounded when a filter
        materialises it (a loop only walks its items: it passes `sized=False`)."""
        seen = 0
        for item in items:
            self.charge_step()
            if extra_output:
                self.charge_output(extra_output)
            if not sized:
                yield item
                continue
            seen += 1 + weight(item, self.bounds.max_value)
            if seen > self.bounds.max_value:
                raise BoundExceeded(f"a sequence larger than {self.bounds.max_value:,} items or characters")
            yield item

    # -- operators whose result can be far larger than their operands --------------------------------

    def multiply(self, left: Any, right: Any) -> None:
        """Check `left * right` before computing it."""
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | bytes | list | tuple) and isinstance(count, int):
                self.check_size(weight(seq, self.bounds.max_value) * max(count, 0), "repeating a value")
                return
        if isinstance(left, int) and isinstance(right, int):
            self._int_bits(abs(left).bit_length() + abs(right).bit_length())

    def power(self, base: Any, exponent: Any) -> None:
        """Check `base ** exponent` before computing it."""
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            self._int_bits(math.ceil(exponent * math.log2(abs(base))))

    def add(self, left: Any, right: Any) -> None:
        """Check `left + right` (strings and lists grow) before computing it."""
        if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
            limit = self.bounds.max_value
            self.check_size(weight(left, limit) + weight(right, limit), "joining two values")

    def modulo(self, left: Any, right: Any) -> None:
        """Check `left % right` (printf-style formatting when `left` is a string)."""
        if isinstance(left, str):
            self.check_printf(left)

    def _int_bits(self, bits: int) -> None:
        if bits > self.bounds.max_int_bits:
            raise BoundExceeded(f"a number larger than {self.bounds.max_int_bits} bits")
