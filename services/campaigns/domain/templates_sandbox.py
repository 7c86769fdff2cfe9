"""The Jinja2 sandbox templates render in: every operation that can grow is charged to a `Budget`.

How each bound is enforced (the limits are in `template_bounds.Bounds`):
- work: each loop item, call, attribute or item lookup, filter and operator is a step; loops are
  instrumented at compile time (their iterable goes through `Budget.guard`), so an empty nested loop
  is counted too; the CPU time of the rendering thread is checked every 1,024 steps;
- output: every `{{ }}` passes `finalize`, and each loop item / macro call charges the literal text of
  its body, so text built in macros and set blocks counts before it is joined; the rendered part is
  counted chunk by chunk as it streams out;
- values: operators and filters that can grow a value are checked before they run (`'x' * n`,
  `n ** m`, `'%99999s' % x`, `|center`, `|replace`, `|join`, ...) and their results after; `range()`
  is capped; str.format is refused; the immutable sandbox forbids mutating lists and dicts;
- depth: nested calls (macros, caller(), loop functions) are counted; recursive loops are refused.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

from services.campaigns.domain.template_bounds import BoundExceeded, Bounds, Budget, weight

CURRENT: ContextVar[Budget | None] = ContextVar("template_budget", default=None)
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {"*": operator.mul, "**": operator.pow, "%": operator.mod,
                                                    "+": operator.add}
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
# Names that lead from a value to the interpreter (frames, code, globals) without a leading underscore.
UNSAFE_NAMES = frozenset({"mro", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
                          "ag_code", "ag_frame", "ag_await", "f_globals", "f_locals", "f_builtins", "f_back",
                          "f_code", "tb_frame", "tb_next", "func_globals", "func_code", "im_func", "im_self",
                          "format", "format_map"})


def budget() -> Budget:
    """The budget of the render running in this thread (a fresh one at compile time, when Jinja folds
    constants: that work is bounded by the template's own size)."""
    current = CURRENT.get()
    return current if current is not None else Budget()


def _text_weight(body: list[nodes.Node]) -> int:
    return sum(len(data.data) for node in body for data in node.find_all(nodes.TemplateData))


def _charge(name: str, *args: nodes.Expr, lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name, lineno=lineno), list(args), [], None, None, lineno=lineno)


class _Instrument(NodeTransformer):
    """Rewrites a parsed template so loops, macros and `~` report to the budget."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = _charge("tp_loop", node.iter, nodes.Const(_text_weight(node.body), lineno=node.lineno),
                            lineno=node.lineno)
        return node

    def _charge_body(self, node: nodes.Macro | nodes.CallBlock) -> nodes.Node:
        self.generic_visit(node)
        cost = nodes.Const(_text_weight(node.body), lineno=node.lineno)
        node.body.insert(0, nodes.ExprStmt(_charge("tp_produced", cost, lineno=node.lineno), lineno=node.lineno))
        return node

    visit_Macro = _charge_body
    visit_CallBlock = _charge_body

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        self.generic_visit(node)
        return _charge("tp_value", node, lineno=node.lineno)


def unsafe_constructs(tree: nodes.Template) -> list[str]:
    """What in a parsed template reaches for Python internals or other templates (refused at save time)."""
    found: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Const, nodes.For, nodes.Extends,
                               nodes.Include, nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Getattr) and (node.attr.startswith("_") or node.attr in UNSAFE_NAMES):
            found.append(f"attribute {node.attr!r}")
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and (
                "__" in node.value or node.value in UNSAFE_NAMES):
            found.append(f"the name {node.value!r}")
        elif isinstance(node, nodes.For) and node.recursive:
            found.append("recursive loops")
        elif isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            found.append("extends, include and import (templates stand alone)")
    return list(dict.fromkeys(found))


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, charging a `Budget` for every operation that costs or grows."""

    intercepted_binops = frozenset(_OPERATORS)

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}
        self.globals.pop("lipsum", None)  # its word counts are unbounded
        self.globals["range"] = _range

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        tree = _Instrument().visit(tree)
        tree.set_environment(self)
        return tree

    def tp_loop(self, iterable: Any, text: int) -> Iterator[Any]:
        """The iterable of a `for`, charged per item (plus the literal text of the loop body)."""
        return budget().guard(iterable, extra_output=text, sized=False)

    def tp_produced(self, text: int) -> None:
        """Charge the literal text of a macro or call block body, once per call."""
        budget().charge_output(text)

    def tp_value(self, value: Any) -> Any:
        """The result of `~`, checked against the value bound."""
        return budget().check_value(value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`obj.attribute`, one step."""
        budget().charge_step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """`obj[argument]`, one step."""
        budget().charge_step()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        """`*`, `**`, `%`, `+`: refused before they run when the result would be too large."""
        current = budget()
        current.charge_step()
        {"*": current.multiply, "**": current.power, "%": current.modulo, "+": current.add}[operator_name](
            left, right)
        return current.check_value(_OPERATORS[operator_name](left, right))

    def format_string(self, s: str, args: Any, kwargs: Any, format_func: Any = None) -> str:
        """str.format takes widths from its arguments where no bound can see them: refused."""
        raise SecurityError("str.format is not available in templates; use the format filter")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        """A call, one step and one level deeper; widths and sizes of string methods checked first."""
        current = budget()
        current.charge_step()
        current.enter()
        try:
            args = _check_method(current, __obj, args)
            result = super().call(__context, __obj, *args, **kwargs)
        except RecursionError as exc:
            raise BoundExceeded("calls nested too deeply") from exc
        finally:
            current.leave()
        if getattr(__obj, "__self__", None) is __self:  # the sandbox's own hooks (tp_loop...) check themselves
            return result
        if isinstance(result, Iterator):
            return current.guard(result)
        if isinstance(__obj, Macro):  # a macro's text is bounded by what it produced, not as a value
            return result
        return current.check_value(result)


def _check_method(current: Budget, method: Any, args: tuple) -> tuple:
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if not isinstance(owner, str):
        return args
    if name in _WIDTH_METHODS and args:
        current.check_width(args[0], f"str.{name} width")
        if name == "expandtabs" and isinstance(args[0], int):
            current.check_size(len(owner) + owner.count("\t") * args[0], "expanding tabs")
    elif name == "replace" and len(args) >= 2:
        _check_replace(current, owner, *args[:3])
    elif name == "join" and args:
        items = list(current.guard(args[0]))
        current.check_size(weight(items, current.bounds.max_value) + len(owner) * len(items), "joining")
        return (items, *args[1:])
    return args


def _check_replace(current: Budget, text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not all(isinstance(v, str) for v in (text, old, new)):
        return
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    current.check_size(len(text) + times * max(len(new) - len(old), 0), "replacing")


def _range(*args: Any) -> range:
    """range(), with at most `max_range` items."""
    result = range(*args)
    limit = budget().bounds.max_range
    if len(result) > limit:
        raise BoundExceeded(f"range() of more than {limit:,} items")
    return result


@pass_context
def _finalize(context: Any, value: Any) -> str:
    """Every `{{ }}` output: counted as it is produced, wherever it ends up."""
    text = value if isinstance(value, str) else str(value)
    budget().charge_output(len(text))
    return text


def _precheck(current: Budget, name: str, args: list, kwargs: dict) -> None:
    """Refuse a filter call before it runs when its result would exceed a bound."""
    value = args[0] if args else None

    def arg(position: int, key: str, default: Any = None) -> Any:
        return args[position] if len(args) > position else kwargs.get(key, default)

    if name == "center":
        current.check_width(arg(1, "width", 80), "center width")
    elif name == "indent" and isinstance(value, str):
        width = arg(1, "width", 4)
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        current.check_width(size, "indent width")
        current.check_size(len(value) + (value.count("\n") + 1) * size, "indenting")
    elif name == "replace":
        _check_replace(current, value, arg(1, "old"), arg(2, "new"), arg(3, "count"))
    elif name == "wordwrap" and isinstance(value, str):
        width, wrap = arg(1, "width", 79), arg(3, "wrapstring") or "\n"
        if isinstance(width, int) and width > 0 and isinstance(wrap, str):
            current.check_size(len(value) + (len(value) // width + 1) * len(wrap), "wrapping")
    elif name == "format" and isinstance(value, str):
        current.check_printf(value)
    elif name in ("batch", "slice"):
        count = arg(1, "linecount" if name == "batch" else "slices")
        if isinstance(count, int):
            current.check_size(count, f"|{name}")
    elif name == "urlize":
        extra = sum(len(str(arg(i, key) or "")) for i, key in ((3, "target"), (4, "rel"), (5, "extra_schemes")))
        current.check_width(extra, "urlize target/rel length")


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a built-in filter: one step, lazy inputs guarded, prechecks, result checked.

    The wrapper takes the context, which also keeps Jinja from running filters at compile time (where
    no render's budget applies)."""
    passes = _PassArg.from_obj(func)

    @pass_context
    def bounded(context: Any, *args: Any, **kwargs: Any) -> Any:
        current = budget()
        current.charge_step()
        values = [current.guard(a) if isinstance(a, Iterator) else a for a in args]
        if name == "join" and values and not isinstance(values[0], str):
            values[0] = list(current.guard(values[0]))
            separator = values[1] if len(values) > 1 else kwargs.get("d", "")
            current.check_size(weight(values[0], current.bounds.max_value)
                               + len(str(separator)) * len(values[0]), "joining")
        _precheck(current, name, values, kwargs)
        prefix = {_PassArg.context: (context,), _PassArg.eval_context: (context.eval_ctx,),
                  _PassArg.environment: (context.environment,)}.get(passes, ())
        result = func(*prefix, *values, **kwargs)
        if isinstance(result, Iterator):
            return current.guard(result)
        return current.check_value(result)

    bounded.__name__ = f"bounded_{name}"
    return bounded


__all__ = ["CURRENT", "BoundExceeded", "BoundedSandbox", "Bounds", "Budget", "budget", "unsafe_constructs"]
