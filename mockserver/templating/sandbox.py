"""The box a template renders in: the Jinja2 environment and what a render may spend.

Owns the sandboxed environment (built once, on the first compile, which is where Jinja2 gets
imported), the rewrite that routes loops and built-up text through counters, and every limit:
attributes the sandbox refuses, 1 MiB of output per render, values too large to print refused
before they are built (`'x' * 10**9`, `'x'.center(10**9)`, `'%999999999d'`), 16 MiB of values
built in all, 1,000,000 loop iterations and calls, 1 s of wall-clock time, and Jinja's own
100,000 items per `range`. A broken limit raises `Refused` inside Jinja; the renderer turns it
into a TemplateError. Pure: no I/O, and nothing here is reachable by name from a template.
"""

from __future__ import annotations

import functools
import itertools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from jinja2 import nodes as jinja_nodes
    from jinja2.runtime import Context
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS: Final = 1 << 20  # per render: all text and values of one headers/body/json
MAX_STEPS: Final = 1_000_000  # loop iterations + calls + intercepted operators, per render
MAX_BUILT_CHARS: Final = 16 * MAX_OUTPUT_CHARS  # per render: every value calls and filters build
MAX_RENDER_SECONDS: Final = 1.0  # rendering runs on the event loop: a backstop, not a budget
# range() over more than 100,000 items is refused by Jinja's own sandbox (jinja2.sandbox.MAX_RANGE).

# Filter names no template can write, so users can neither call nor shadow them.
LOOP_FILTER: Final = "mockserver loop"
VALUE_FILTER: Final = "mockserver value"
OUTPUT_FILTER: Final = "mockserver output"
_PERCENT_SPEC: Final = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d*)(?:\.(\*|\d*))?")
_DIGITS: Final = re.compile(r"\d+")


class Refused(Exception):
    """A limit or rule broken inside Jinja; the leaf rendering turns it into a TemplateError."""


class Budget:
    """What one render may still spend; shared by every template of one Renderable."""

    __slots__ = ("built", "chars", "deadline", "steps")

    def __init__(self) -> None:
        self.chars = 0
        self.built = 0
        self.steps = 0
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Refused(f"more than {MAX_STEPS:,} loop iterations and calls")
        if time.monotonic() > self.deadline:
            raise Refused(f"rendering took longer than {MAX_RENDER_SECONDS:g} s")

    def add_chars(self, count: int) -> None:
        self.chars += count
        if self.chars > MAX_OUTPUT_CHARS:
            raise Refused(f"output longer than {MAX_OUTPUT_CHARS:,} characters")

    def add_built(self, count: int) -> None:
        # Each value is capped alone; this caps many of them held at once (`| map(...) | list`).
        self.built += count
        if self.built > MAX_BUILT_CHARS:
            raise Refused(f"values built add up to more than {MAX_BUILT_CHARS:,} characters")


# Rendering never awaits, so the budget of the render in progress is found here by the hooks
# Jinja calls (filters, operators, calls) without being a name templates could reach.
BUDGET: Final[ContextVar[Budget]] = ContextVar("mockserver_template_budget")


def guard_tree(node: jinja_nodes.Node, *, buffered: bool) -> jinja_nodes.Node:
    """Route loops, `~` and text built in macros and blocks through the budget filters, in place.

    Text a template prints streams out and is counted there; text built inside a macro or a
    `set`/`filter`/`call` block is held in a buffer, so it is counted as it is built.
    """
    from jinja2 import nodes

    def checked(expr: Any, name: str) -> jinja_nodes.Filter:  # Any: For.iter is typed as Node
        return nodes.Filter(expr, name, [], [], None, None, lineno=expr.lineno)

    holds_buffer = isinstance(node, nodes.Macro | nodes.CallBlock | nodes.FilterBlock)
    holds_buffer = holds_buffer or isinstance(node, nodes.AssignBlock)
    for name, value in node.iter_fields():
        inner = buffered or (holds_buffer and name == "body")
        if isinstance(value, nodes.Node):
            setattr(node, name, guard_tree(value, buffered=inner))
        elif isinstance(value, list):
            guarded = [
                guard_tree(v, buffered=inner) if isinstance(v, nodes.Node) else v for v in value
            ]
            setattr(node, name, guarded)
    if isinstance(node, nodes.For):
        node.iter = checked(node.iter, LOOP_FILTER)
    elif isinstance(node, nodes.Concat):
        return checked(node, VALUE_FILTER)
    elif isinstance(node, nodes.Output) and buffered:
        node.nodes = [
            checked(nodes.Const(n.data) if isinstance(n, nodes.TemplateData) else n, OUTPUT_FILTER)
            for n in node.nodes
        ]
    return node


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    """The one environment, built on the first compile (this is where Jinja2 gets imported)."""
    from jinja2 import ChainableUndefined, Undefined, pass_context
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})  # the ones that can grow a value

        def getattr(self, obj: Any, attribute: str) -> Any:
            if isinstance(obj, dict) and attribute in obj:  # the key, not dict.items & co
                return obj[attribute]
            return super().getattr(obj, attribute)

        def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
            # The default returns an Undefined, which a chainable undefined renders as "":
            # an escape attempt must be a loud error, not an empty string.
            kind = type(obj).__name__
            raise SecurityError(f"access to attribute {attribute!r} of {kind!r} object is unsafe")

        def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
            BUDGET.get().step()
            _refuse_if_large(_binop_size(operator, left, right), f"the result of {operator!r}")
            return _checked(self.binop_table[operator](left, right))

        def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            BUDGET.get().step()
            args = _precheck_str_method(obj, args, kwargs)
            return _checked(super().call(context, obj, *args, **kwargs))

    env = Sandbox(
        autoescape=False,  # responses are JSON and plain text, not HTML
        undefined=ChainableUndefined,
        keep_trailing_newline=True,  # a `body: |` block keeps its last newline, as untemplated
        finalize=_finalize,
    )
    del env.globals["lipsum"]  # builds any amount of text in one call
    for name, function in list(env.filters.items()):
        env.filters[name] = _guard_filter(name, function)
    # pass_context also keeps Jinja's optimizer from running these once at compile time.
    env.filters[LOOP_FILTER] = pass_context(_count_iterations)
    env.filters[VALUE_FILTER] = pass_context(lambda _context, value: _checked(value))
    env.filters[OUTPUT_FILTER] = pass_context(_count_output)
    return env


def _finalize(value: object) -> object:
    return "" if value is None else value  # JSON null prints as nothing, like a missing field


# --- hooks Jinja calls while rendering ----------------------------------------------------------


def _weight(value: object, limit: int = MAX_OUTPUT_CHARS) -> int:
    """About how many characters `value` prints as; stops counting past `limit`."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 1
    parts: Iterable[object]
    if isinstance(value, dict):
        parts = itertools.chain(value.keys(), value.values())
    elif isinstance(value, list | tuple):
        parts = value
    else:
        return 1
    total = len(value)
    for part in parts:
        if total > limit:
            break
        total += _weight(part, limit)
    return total


def _refuse_if_large(size: int, what: str) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise Refused(f"{what} would be longer than {MAX_OUTPUT_CHARS:,} characters")


def _checked(value: Any) -> Any:
    """Every value an operator, call or filter produces: refused when it is too large to print."""
    weight = _weight(value)
    if weight > MAX_OUTPUT_CHARS:
        raise Refused(f"a value longer than {MAX_OUTPUT_CHARS:,} characters")
    budget = BUDGET.get(None)
    if budget is not None:  # None while Jinja's optimizer folds constants at compile time
        budget.add_built(weight)
    return value


def _binop_size(operator: str, left: object, right: object) -> int:
    """What an operator is about to build, before it allocates: 'x' * 10**9 never runs."""
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            return (left.bit_length() + right.bit_length()) * 3 // 10
        count, sequence = (left, right) if isinstance(left, int) else (right, left)
        if isinstance(count, int) and isinstance(sequence, str | list | tuple):
            return _weight(sequence) * max(count, 0)
    elif operator == "**" and isinstance(left, int) and isinstance(right, int):
        return max(right, 0) * max(abs(left).bit_length() - 1, 0) * 3 // 10
    elif operator == "%" and isinstance(left, str):
        return len(left) + _percent_widths(left) + _weight(right)
    return 0


def _percent_widths(fmt: str) -> int:
    """ "%-10s|%.3f" -> 13: widths and precisions, each a string of that length at worst."""
    total = 0
    for found in _PERCENT_SPEC.finditer(fmt):
        for part in found.groups():
            if part == "*" or (part and len(part) > 7):  # a width from the arguments: refuse
                return MAX_OUTPUT_CHARS + 1
            total += int(part) if part else 0
    return total


def _format_widths(fmt: str) -> int:
    """ "{:>10}{:.3f}" -> 13, as `_percent_widths` for str.format."""
    total = 0
    for _literal, _name, spec, _conversion in string.Formatter().parse(fmt):
        if spec and "{" in spec:  # a nested width from the arguments: refuse
            return MAX_OUTPUT_CHARS + 1
        for digits in _DIGITS.findall(spec or ""):
            total += int(digits) if len(digits) <= 7 else MAX_OUTPUT_CHARS + 1
    return total


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _size_of_join(items: object, separator: object = "", *_: object) -> int:
    if isinstance(items, str):
        return len(items) * (1 + _weight(separator))
    if not isinstance(items, list | tuple):
        return 0
    return _weight(items) + len(items) * _weight(separator)


def _size_of_replace(text: object, old: object, new: object, count: object = None) -> int:
    if not isinstance(text, str) or not isinstance(old, str):
        return 0
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * _weight(new)


# Expanding filters: the size of their result from their arguments (Jinja's own signatures).
_FILTER_SIZES: Final[dict[str, Callable[..., int]]] = {
    "center": lambda value, width=80: max(_weight(value), _int(width)),
    "indent": lambda s, width=4, first=False, blank=False: (
        _weight(s)
        + (str(s).count("\n") + 1) * (_int(width) if isinstance(width, int) else _weight(width))
    ),
    "join": lambda value, d="", attribute=None: _size_of_join(value, d),
    "replace": _size_of_replace,
    "format": lambda value, *args, **kwargs: (
        _weight(value) + _percent_widths(str(value)) + _weight(list(args)) + _weight(kwargs)
    ),
    "wordwrap": lambda s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True: (
        _weight(s) + (_weight(s) // max(_int(width, 1), 1) + 1) * _weight(wrapstring or "\n")
    ),
    "batch": lambda value, linecount, fill_with=None: 0 if fill_with is None else _int(linecount),
    "slice": lambda value, slices, fill_with=None: _int(slices),
}
# Expanding methods of str, likewise: `'x'.center(10**9)`.
_METHOD_SIZES: Final[dict[str, Callable[..., int]]] = {
    "center": lambda s, width, *_: max(len(s), _int(width)),
    "ljust": lambda s, width, *_: max(len(s), _int(width)),
    "rjust": lambda s, width, *_: max(len(s), _int(width)),
    "zfill": lambda s, width: max(len(s), _int(width)),
    "expandtabs": lambda s, tabsize=8: len(s) + s.count("\t") * _int(tabsize),
    "replace": lambda s, old, new, count=-1: _size_of_replace(s, old, new, count),
    "join": lambda s, iterable: _size_of_join(iterable, s),
    "format": lambda s, *args, **kwargs: (
        len(s) + _format_widths(s) + _weight(list(args)) + _weight(kwargs)
    ),
    "format_map": lambda s, mapping: len(s) + _format_widths(s) + _weight(mapping),
}


def _estimate(
    size_of: Callable[..., int], args: Sequence[object], kwargs: Mapping[str, Any]
) -> int:
    try:
        return size_of(*args, **kwargs)
    except (TypeError, ValueError):  # bad arguments: the real call reports them
        return 0


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    size_of = _FILTER_SIZES.get(name)
    skip = 1 if hasattr(function, "jinja_pass_arg") else 0  # the context Jinja passes first

    @functools.wraps(function)  # keeps jinja_pass_arg, which Jinja reads to call it
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name == "join" and len(args) > skip and not isinstance(args[skip], list | tuple | str):
            args = (*args[:skip], list(args[skip]), *args[skip + 1 :])  # sized before joined
        if size_of is not None:
            _refuse_if_large(_estimate(size_of, args[skip:], kwargs), f"the result of {name!r}")
        return _checked(function(*args, **kwargs))

    return guarded


def _precheck_str_method(
    obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    method = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return args
    name = getattr(method, "__name__", "")
    size_of = _METHOD_SIZES.get(name)
    if size_of is None:
        return args
    if name == "join" and len(args) == 1 and not isinstance(args[0], list | tuple | str):
        args = (list(args[0]),)
    _refuse_if_large(_estimate(size_of, (owner, *args), kwargs), f"the result of str.{name}()")
    return args


def _count_iterations(_context: Context, iterable: Iterable[object]) -> Iterator[object]:
    budget = BUDGET.get()
    for item in iterable:
        budget.step()
        yield item


def _count_output(_context: Context, value: object) -> str:
    text = "" if value is None else str(value)
    BUDGET.get().add_chars(len(text))
    return text
