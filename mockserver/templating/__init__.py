"""Response templates: Jinja2 in a sandbox, compiled when a stub loads, rendered per request.

Owns the template language of `template: true` stubs: which strings are templates, the context
they see (`request`, `hits`, helpers), how a whole-expression value keeps its JSON type, and how
a failure becomes a TemplateError; `sandbox` owns the environment and the limits. Pure: no I/O.
Jinja2 is imported on the first compile, so a server without templates never loads it.

The rules users see:
- A string containing `{{`, `{%` or `{#` is a template; dict keys never are.
- A string that is exactly one `{{ expression }}`, nothing around it, renders to the value:
  `amount: "{{ request.json.amount }}"` gives the integer 2000. Anything else renders to text.
- A missing field renders as nothing: `{{ request.json.a.b }}` is "" in text and null as a
  whole value, and `| default(...)` works on it; computing with it is an error. An unknown
  top-level name (`reqest`) fails when the stub loads.
- In a dict, `a.b` is the key `b` when there is one: `request.json.items` is the JSON field.
"""

from __future__ import annotations

import collections
import math
import random
import re
import time
import uuid as uuid_module
from abc import ABC, abstractmethod
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, Protocol

from pydantic import JsonValue

from mockserver.clock import REAL, ClockSetting
from mockserver.errors import TemplateCompileError, TemplateError
from mockserver.incoming import IncomingRequest
from mockserver.templating.sandbox import (
    BUDGET,
    MAX_OUTPUT_CHARS,
    Budget,
    Refused,
    environment,
    guard_tree,
)

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2 import nodes as jinja_nodes
    from jinja2.runtime import Context

__all__ = [
    "CONTEXT_NAMES",
    "MAX_OUTPUT_CHARS",
    "Renderable",
    "compile_template_value",
    "now",
    "random_hex",
    "random_int",
    "render_header",
    "render_text",
    "template_context",
    "uuid",
]

CONTEXT_NAMES: Final = frozenset({"request", "hits", "now", "uuid", "random_int", "random_hex"})
UNMATCHED_CONTEXT_NAMES: Final = CONTEXT_NAMES | {"miss"}
"""An `unmatched: true` stub's templates also see `miss`: why nothing matched."""
_TEMPLATE_MARKERS: Final = ("{{", "{%", "{#")
_MAX_JSON_INT_BITS: Final = 14_000  # ~4,200 digits: Python's int -> str limit is 4,300
_OFFSET: Final = re.compile(r"([+-])((?:\d+[smhdw])+)")
_OFFSET_PART: Final = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Renderable(Protocol):
    """A compiled response value. Parts without templates are shared: serialize, don't mutate."""

    field: str

    def render(self, context: Mapping[str, object]) -> JsonValue: ...


# --- compiling ----------------------------------------------------------------------------------


def compile_template_value(
    value: JsonValue, field: str, names: frozenset[str] = CONTEXT_NAMES
) -> Renderable:
    """Compile every template string in `value`; the rest stays constant.

    {"id": "ch_{{ uuid() }}", "n": 1} -> a Renderable giving {"id": "ch_3f2a...", "n": 1}.

    Raises:
        TemplateCompileError: a template with a syntax error or an unknown name.
    """
    return _compile(value, field, (), names)


def _compile(
    value: JsonValue, field: str, loc: tuple[str | int, ...], names: frozenset[str]
) -> _Node:
    if isinstance(value, str):
        if any(marker in value for marker in _TEMPLATE_MARKERS):
            return _compile_string(value, field, loc, names)
        return _Constant(field, value)
    if isinstance(value, dict):
        fields = {k: _compile(v, f"{field}.{k}", (*loc, k), names) for k, v in value.items()}
        if all(isinstance(child, _Constant) for child in fields.values()):
            return _Constant(field, value)
        return _Dict(field, fields)
    if isinstance(value, list):
        items = [_compile(v, f"{field}[{i}]", (*loc, i), names) for i, v in enumerate(value)]
        if all(isinstance(child, _Constant) for child in items):
            return _Constant(field, value)
        return _List(field, items)
    return _Constant(field, value)


def _compile_string(
    source: str, field: str, loc: tuple[str | int, ...], names: frozenset[str]
) -> _Node:
    from jinja2 import TemplateSyntaxError, meta, nodes

    env = environment()
    try:
        tree = env.parse(source)
        unknown = meta.find_undeclared_variables(tree) - names - env.globals.keys()
        if unknown:
            name = min(unknown)
            line = next(n.lineno for n in tree.find_all(nodes.Name) if n.name == name)
            known = ", ".join(sorted(names | env.globals.keys()))
            raise TemplateCompileError(
                field, loc, line, f"unknown name {name!r} in template (known: {known})"
            )
        for found in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            reason = "a template cannot extend, include or import another: there is no loader"
            raise TemplateCompileError(field, loc, found.lineno, reason)
        expression = _single_expression(tree)
        if expression is not None:  # evaluated like env.compile_expression, but guarded
            result = nodes.Name("result", "store")
            tree = nodes.Template([nodes.Assign(result, expression, lineno=1)], lineno=1)
        guarded = guard_tree(tree, buffered=False)
        guarded.set_environment(env)
        template = env.from_string(guarded)  # type: ignore[arg-type]  # a Template node
    except TemplateSyntaxError as error:
        reason = f"template syntax error: {error.message or error}"
        raise TemplateCompileError(field, loc, error.lineno or 1, reason) from None
    if expression is not None:
        return _Expression(field, template)
    return _Text(field, template)


def _single_expression(tree: jinja_nodes.Template) -> jinja_nodes.Expr | None:
    """The expression of a template that is exactly "{{ expr }}", else None."""
    from jinja2 import nodes

    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return None
    expression = body[0].nodes[0]
    return None if isinstance(expression, nodes.TemplateData) else expression


# --- rendering ----------------------------------------------------------------------------------


class _Node(ABC):
    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field

    def render(self, context: Mapping[str, object]) -> JsonValue:
        # Merged once per render and shared by every template in it: Jinja's own new_context()
        # would copy its ChainMap of globals per template, most of a small render's time.
        variables = {**environment().globals, **context}
        budget = Budget()
        token = BUDGET.set(budget)
        try:
            return self._render(variables, budget)
        finally:
            BUDGET.reset(token)

    @abstractmethod
    def _render(self, context: dict[str, object], budget: Budget) -> JsonValue: ...


class _Constant(_Node):
    __slots__ = ("value",)

    def __init__(self, field: str, value: JsonValue) -> None:
        super().__init__(field)
        self.value = value

    def render(self, context: Mapping[str, object]) -> JsonValue:
        return self.value  # shared: callers serialize it, never mutate it

    def _render(self, context: dict[str, object], budget: Budget) -> JsonValue:
        return self.value


class _Dict(_Node):
    __slots__ = ("fields",)

    def __init__(self, field: str, fields: dict[str, _Node]) -> None:
        super().__init__(field)
        self.fields = fields

    def _render(self, context: dict[str, object], budget: Budget) -> JsonValue:
        return {key: child._render(context, budget) for key, child in self.fields.items()}


class _List(_Node):
    __slots__ = ("items",)

    def __init__(self, field: str, items: list[_Node]) -> None:
        super().__init__(field)
        self.items = items

    def _render(self, context: dict[str, object], budget: Budget) -> JsonValue:
        return [child._render(context, budget) for child in self.items]


class _Text(_Node):
    __slots__ = ("template",)

    def __init__(self, field: str, template: Template) -> None:
        super().__init__(field)
        self.template = template

    def _render(self, context: dict[str, object], budget: Budget) -> JsonValue:
        parts: list[str] = []
        try:
            # Streamed piece by piece, so a runaway loop stops at the cap, not after it.
            for piece in self.template.root_render_func(_jinja_context(self.template, context)):
                budget.add_chars(len(piece))
                parts.append(piece)
        except Exception as error:
            raise TemplateError(self.field, _describe(error)) from error
        return "".join(parts)


class _Expression(_Node):
    __slots__ = ("template",)

    def __init__(self, field: str, template: Template) -> None:
        super().__init__(field)
        self.template = template

    def _render(self, context: dict[str, object], budget: Budget) -> JsonValue:
        try:
            jinja_context = _jinja_context(self.template, context)
            # the expression's template only assigns `result`: run it for that side effect
            collections.deque(self.template.root_render_func(jinja_context), maxlen=0)
            return _to_json(jinja_context.vars["result"], budget)
        except Exception as error:
            raise TemplateError(self.field, _describe(error)) from error


def _jinja_context(template: Template, variables: dict[str, object]) -> Context:
    """What Template.new_context(variables, shared=True) gives, without copying its globals."""
    env = template.environment
    return env.context_class(env, variables, template.name, template.blocks)


def render_text(renderable: Renderable, context: Mapping[str, object]) -> str:
    """Render a body: the text Jinja would print ("" for null, `str()` of anything else)."""
    value = renderable.render(context)
    return "" if value is None else str(value)


def render_header(renderable: Renderable, context: Mapping[str, object]) -> str:
    """Render a header value; CR, LF or NUL in it would split or corrupt the response."""
    text = render_text(renderable, context)
    if "\r" in text or "\n" in text or "\0" in text:
        shown = text if len(text) <= 60 else text[:60] + "..."
        raise TemplateError(renderable.field, f"header value contains CR, LF or NUL: {shown!r}")
    return text


def _describe(error: BaseException) -> str:
    from jinja2.exceptions import SecurityError, UndefinedError

    if isinstance(error, Refused):
        return str(error)
    if isinstance(error, SecurityError):
        return f"refused by the sandbox: {error}"
    if isinstance(error, UndefinedError):
        return f"undefined value: {error}"
    if isinstance(error, RecursionError):
        return "nested too deeply (recursion limit)"
    return f"{type(error).__name__}: {error}"


def _to_json(value: object, budget: Budget) -> JsonValue:
    """The value of a whole-expression template as JSON, counted against the output budget."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        budget.add_chars(len(value))
        return str(value)  # a Markup becomes a plain str
    if isinstance(value, int):
        if value.bit_length() > _MAX_JSON_INT_BITS:
            raise Refused("renders to an integer too large for JSON")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Refused(f"renders to {value}, which JSON cannot carry")
        return value
    from jinja2 import Undefined  # here, past the common cases: an import costs a dict lookup

    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        budget.add_chars(len(value))
        result: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise Refused(f"renders to a dict with a {type(key).__name__} key")
            result[str(key)] = _to_json(item, budget)
        return result
    if isinstance(value, list | tuple | range | Iterator | KeysView | ValuesView | ItemsView):
        items = list(value)  # a generator (`| map(...)`) becomes the list it yields
        budget.add_chars(len(items))
        return [_to_json(item, budget) for item in items]
    raise Refused(f"renders to a {type(value).__name__}, which is not a JSON value")


# --- the context --------------------------------------------------------------------------------


class RequestFields(dict[str, object]):
    """The template's `request`: each field is computed when a template first reads it.

    A template usually reads one or two fields, and headers, cookies, form and JSON each cost a
    parse. Membership is answered for every field (the sandbox's `a.b` looks the key up first);
    anything that walks the whole mapping (`{{ request }}`, a loop) computes every field first.
    """

    __slots__ = ("_params", "_request")

    FIELDS: Final = (
        "method", "path", "namespace", "path_prefix", "path_params", "query", "query_all",
        "headers", "cookies", "json", "form", "form_all", "body",
    )  # fmt: skip

    def __init__(self, request: IncomingRequest, path_params: Mapping[str, str]) -> None:
        super().__init__()
        self._request = request
        self._params = path_params

    def __missing__(self, key: str) -> object:
        if key not in self.FIELDS:
            raise KeyError(key)
        value = self._compute(key)
        self[key] = value
        return value

    def _compute(self, key: str) -> object:  # one branch per field
        request = self._request
        if key == "method":
            return request.method
        if key == "path":
            return request.path
        if key == "namespace":
            return request.namespace  # absolute links back to the mock keep the /~ns prefix
        if key == "path_prefix":
            return f"/~{request.namespace}" if request.namespace else ""
        if key == "path_params":
            return self._params
        if key == "query":
            return {name: values[0] for name, values in request.query.items() if values}
        if key == "query_all":
            return request.query
        if key == "headers":
            return request.headers
        if key == "cookies":
            return request.cookies
        if key == "json":
            return request.json_or_none()
        if key == "form":
            return {name: values[0] for name, values in request.form.items() if values}
        if key == "form_all":
            return request.form
        text = request.text  # "body"
        return text if text is not None else request.body.decode("utf-8", "replace")

    def _complete(self) -> None:
        for key in self.FIELDS:
            if not dict.__contains__(self, key):
                self[key] = self._compute(key)

    def __contains__(self, key: object) -> bool:
        return key in self.FIELDS

    def __iter__(self) -> Iterator[str]:
        self._complete()
        return super().__iter__()

    def __len__(self) -> int:
        return len(self.FIELDS)

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        self._complete()
        return super().keys()

    def values(self) -> ValuesView[object]:  # type: ignore[override]
        self._complete()
        return super().values()

    def items(self) -> ItemsView[str, object]:  # type: ignore[override]
        self._complete()
        return super().items()

    def get(self, key: str, default: object = None) -> object:
        return self[key] if key in self.FIELDS else default


def template_context(
    request: IncomingRequest,
    path_params: Mapping[str, str],
    hits: int,
    clock: ClockSetting = REAL,
) -> dict[str, object]:
    """What a template sees: `request`, `hits` (the stub's count, as the caller gives it), helpers.

    `now()` reads `clock`, the namespace's (real time unless frozen or offset through the admin
    API).

    `request.query.tag` and `request.form.tag` are the first value of a repeated name;
    `request.query_all.tag` and `request.form_all.tag` are the list of all of them. Headers have
    lower-case names and repeated ones joined with ", ". `json` is None when the body is not JSON;
    `body` is the body as text (invalid UTF-8 replaced with U+FFFD). Fields are computed when
    first read; no copies: the immutable sandbox cannot change them, and _to_json copies what it
    returns.
    """
    return {
        "request": RequestFields(request, path_params),
        "hits": hits,
        "now": now if clock.mode == "real" else _now_on(clock),
        "uuid": uuid,
        "random_int": random_int,
        "random_hex": random_hex,
    }


def now(offset: str = "") -> str:
    """The time in UTC, ISO 8601 to the second: now('+1h30m') -> "2026-11-25T11:30:00Z".

    Units: s, m, h, d, w; a sign is required.
    """
    return _shown(datetime.now(UTC), offset)


def _now_on(clock: ClockSetting) -> Callable[[str], str]:
    """`now()` on a frozen or offset clock."""

    def now(offset: str = "") -> str:
        return _shown(clock.now(time.time()), offset)

    return now


def _shown(moment: datetime, offset: str) -> str:
    if offset:
        found = _OFFSET.fullmatch(offset.strip()) if isinstance(offset, str) else None
        if found is None:
            raise ValueError(f"now(): offset {offset!r} must look like '+1h', '-30m' or '+1d12h'")
        seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _OFFSET_PART.findall(found[2]))
        moment += timedelta(seconds=seconds if found[1] == "+" else -seconds)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"  # year 0900 too


def uuid() -> str:
    """A random UUID (version 4): "9b2e0c1e-4a3f-4c1d-8e8f-2b7d1a6c5e40"."""
    return str(uuid_module.uuid4())


def random_int(low: int, high: int) -> int:
    """A random integer with low <= n <= high."""
    if isinstance(low, bool) or isinstance(high, bool):
        raise ValueError("random_int(a, b) takes two integers")
    if not isinstance(low, int) or not isinstance(high, int) or low > high:
        raise ValueError(f"random_int(a, b) needs integers with a <= b, got {low!r}, {high!r}")
    return random.randint(low, high)


def random_hex(length: int) -> str:
    """`length` random lower-case hex digits: random_hex(8) -> "3fa91c0b"."""
    if isinstance(length, bool) or not isinstance(length, int):
        raise ValueError(f"random_hex(n) takes an integer, got {length!r}")
    if not 0 <= length <= MAX_OUTPUT_CHARS:
        raise ValueError(f"random_hex(n) needs 0 <= n <= {MAX_OUTPUT_CHARS:,}, got {length}")
    return random.randbytes((length + 1) // 2).hex()[:length]
