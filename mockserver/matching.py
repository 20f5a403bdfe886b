"""Request matching: compile a stub's `request` once, then compare requests against it.

`compile_request()` turns a `RequestSpec` into a `RequestMatcher` at load time: regexes, path
templates, JSONPath queries and JSON Schema validators are built there, so the request path only
compares. `match_request()` answers `Match` or `Miss`: a miss names the first field that differed,
spelled as in the stub file, with what was expected and what arrived. Fields are checked in a fixed
order (method, host, path, query, headers, cookies, body). Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import JsonValue

from mockserver import multipart
from mockserver.incoming import IncomingRequest, NotJson, decoded_segment, segment_path
from mockserver.spec import PATH_PARAM, BodyMatcher, PathMatcher, RequestSpec, ValueMatcher


@dataclass(frozen=True, slots=True)
class Miss:
    """Why a request did not match: the first field that differed.

    `field` is spelled as in the stub file ("body.form.currency"), `expected` describes the
    matcher ("equals 'usd'"), `actual` is what the request had (None when it lacked the field).
    `score` is the share of the declared fields that matched, and `path_matched` says whether
    path and host matched; both rank near misses and are only computed when asked for.
    """

    field: str
    expected: str
    actual: JsonValue
    score: float = 0.0
    path_matched: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """A request that matched, with the `{name}` segments its path template captured."""

    path_params: Mapping[str, str] = field(default_factory=dict)


# --- value matchers -------------------------------------------------------------------------


class ValueCheck(ABC):
    """A compiled value matcher over the values of one field (none when it is absent)."""

    __slots__ = ("expected",)

    def __init__(self, expected: str) -> None:
        self.expected = expected

    @abstractmethod
    def holds(self, values: Sequence[str]) -> bool: ...


class _Leaf(ValueCheck):
    """A check of single values: it holds when any value of the field passes it."""

    __slots__ = ()

    def holds(self, values: Sequence[str]) -> bool:
        return any(self.holds_one(value) for value in values)

    @abstractmethod
    def holds_one(self, value: str) -> bool: ...


class _Equals(_Leaf):
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__(f"equals {text!r}")
        self.text = text

    def holds(self, values: Sequence[str]) -> bool:
        return self.text in values

    def holds_one(self, value: str) -> bool:
        return value == self.text


class _Contains(_Leaf):
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__(f"contains {text!r}")
        self.text = text

    def holds_one(self, value: str) -> bool:
        return self.text in value


class _StartsWith(_Leaf):
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__(f"starts with {text!r}")
        self.text = text

    def holds_one(self, value: str) -> bool:
        return value.startswith(self.text)


REGEX_TIMEOUT: Final = 0.1
"""Seconds one regular-expression match may take: catastrophic backtracking (`(a+)+$` against
"aaaa...b") would otherwise stall every request on the event loop. The `regex` package runs the
same Python `re` syntax with a timeout; a match that times out counts as no match."""


class _Matches(_Leaf):
    __slots__ = ("pattern",)

    def __init__(self, pattern: re.Pattern[str]) -> None:
        super().__init__(f"matches {pattern.pattern!r}")
        import regex  # lazily: only stubs with `matches` need it (~6 ms at start-up)

        self.pattern = regex.compile(pattern.pattern, pattern.flags & ~re.UNICODE)

    def holds_one(self, value: str) -> bool:
        try:
            return self.pattern.fullmatch(value, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            return False


class _Present(ValueCheck):
    __slots__ = ("wanted",)

    def __init__(self, wanted: bool) -> None:
        super().__init__("present" if wanted else "absent")
        self.wanted = wanted

    def holds(self, values: Sequence[str]) -> bool:
        return bool(values) == self.wanted


class _Not(ValueCheck):
    __slots__ = ("inner",)

    def __init__(self, inner: ValueCheck) -> None:
        super().__init__(f"not {inner.expected}")
        self.inner = inner

    def holds(self, values: Sequence[str]) -> bool:
        return not self.inner.holds(values)


class _AnyOf(ValueCheck):
    __slots__ = ("inner",)

    def __init__(self, inner: Sequence[ValueCheck]) -> None:
        super().__init__("any of (" + ", ".join(check.expected for check in inner) + ")")
        self.inner = tuple(inner)

    def holds(self, values: Sequence[str]) -> bool:
        return any(check.holds(values) for check in self.inner)


class _AllOf(ValueCheck):
    __slots__ = ("inner",)

    def __init__(self, inner: Sequence[ValueCheck]) -> None:
        super().__init__("all of (" + ", ".join(check.expected for check in inner) + ")")
        self.inner = tuple(inner)

    def holds(self, values: Sequence[str]) -> bool:
        return all(check.holds(values) for check in self.inner)


def compile_value(matcher: ValueMatcher) -> ValueCheck:
    """{starts_with: "Bearer "} -> a check whose `expected` reads "starts with 'Bearer '"."""
    if matcher.equals is not None:
        return _Equals(matcher.equals)
    if matcher.contains is not None:
        return _Contains(matcher.contains)
    if matcher.starts_with is not None:
        return _StartsWith(matcher.starts_with)
    if matcher.matches is not None:
        return _Matches(matcher.matches)
    if matcher.present is not None:
        return _Present(matcher.present)
    if matcher.not_ is not None:
        return _Not(compile_value(matcher.not_))
    if matcher.any_of is not None:
        return _AnyOf([compile_value(inner) for inner in matcher.any_of])
    if matcher.all_of is not None:
        return _AllOf([compile_value(inner) for inner in matcher.all_of])
    raise ValueError("a value matcher with no operator")  # the spec forbids it


def _actual(values: Sequence[str]) -> JsonValue:
    """What to show as `actual`: None when absent, the value, or every value when repeated."""
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


# --- field checks ---------------------------------------------------------------------------


class FieldCheck(ABC):
    """One declared field of a stub. `accepts` is the request path's question and builds
    nothing; `explain` says how a request that was refused differs, for near misses only."""

    __slots__ = ()

    @abstractmethod
    def accepts(self, request: IncomingRequest) -> bool: ...

    @abstractmethod
    def explain(self, request: IncomingRequest) -> Miss: ...


class _ValuesCheck(FieldCheck):
    __slots__ = ("check", "field_name", "values_of")

    def __init__(
        self,
        field_name: str,
        check: ValueCheck,
        values_of: Callable[[IncomingRequest], Sequence[str]],
    ) -> None:
        self.field_name = field_name
        self.check = check
        self.values_of = values_of

    def accepts(self, request: IncomingRequest) -> bool:
        return self.check.holds(self.values_of(request))

    def explain(self, request: IncomingRequest) -> Miss:
        return Miss(self.field_name, self.check.expected, _actual(self.values_of(request)))


def _query_values(name: str) -> Callable[[IncomingRequest], Sequence[str]]:
    return lambda request: request.query.get(name, ())


def _header_values(name: str) -> Callable[[IncomingRequest], Sequence[str]]:
    lowered = name.lower()

    def values(request: IncomingRequest) -> Sequence[str]:
        value = request.headers.get(lowered)
        return () if value is None else (value,)

    return values


def _cookie_values(name: str) -> Callable[[IncomingRequest], Sequence[str]]:
    def values(request: IncomingRequest) -> Sequence[str]:
        value = request.cookies.get(name)
        return () if value is None else (value,)

    return values


def _form_values(name: str) -> Callable[[IncomingRequest], Sequence[str]]:
    return lambda request: request.form.get(name, ())


def _part_values(name: str, what: str) -> Callable[[IncomingRequest], Sequence[str]]:
    """The file names, Content-Types or texts of the parts named `name` (a name may repeat:
    several files under one field); none when the body is not multipart."""

    def values(request: IncomingRequest) -> Sequence[str]:
        found = multipart.parts(request.headers.get("content-type", ""), request.body)
        if not found:
            return ()
        texts = []
        for part in found:
            if part.name == name:
                text = part.text if what == "body" else getattr(part, what)
                if text is not None:
                    texts.append(text)
        return texts

    return values


def _body_text(request: IncomingRequest) -> Sequence[str]:
    text = request.text
    return () if text is None else (text,)


def json_text(value: object) -> str:
    """How a JSON scalar compares with a value matcher: "usd" -> usd, 3 -> "3", true -> "true"."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _describe_json(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, str):
        return f"equals {value!r}"
    return f"equals {json_text(value)}"


def json_difference(expected: object, actual: object, where: str) -> Miss | None:
    """The first place where `actual` does not contain `expected`.

    Objects compare as subsets, arrays element by element with equal length, numbers by value
    (2000 == 2000.0), booleans only with booleans.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return Miss(where, "an object", actual)  # type: ignore[arg-type]
        for key, wanted in expected.items():
            child = f"{where}.{key}"
            if key not in actual:
                return Miss(child, _describe_json(wanted), None)
            miss = json_difference(wanted, actual[key], child)
            if miss is not None:
                return miss
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return Miss(where, _describe_json(expected), actual)  # type: ignore[arg-type]
        for index, (wanted, got) in enumerate(zip(expected, actual, strict=True)):
            miss = json_difference(wanted, got, f"{where}[{index}]")
            if miss is not None:
                return miss
        return None
    if _json_scalar_equal(expected, actual):
        return None
    return Miss(where, _describe_json(expected), actual)  # type: ignore[arg-type]


def _json_scalar_equal(expected: object, actual: object) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


_ABSENT: Final = object()

_JsonLeaf = tuple[tuple[str | int, ...], str, object]
"""(where, kind, value): one constraint of a flattened `body.json`; `where` is a key/index path."""


def _flatten_json(expected: object, where: tuple[str | int, ...], leaves: list[_JsonLeaf]) -> None:
    """{a: {b: 1}, c: [x]} -> [((a, b), number, 1), ((c,), length, 1), ((c, 0), text, x)]."""
    if isinstance(expected, dict):
        if not expected:
            leaves.append((where, "object", None))
        for key, value in expected.items():
            _flatten_json(value, (*where, key), leaves)
    elif isinstance(expected, list):
        leaves.append((where, "length", len(expected)))
        for index, value in enumerate(expected):
            _flatten_json(value, (*where, index), leaves)
    elif expected is None:
        leaves.append((where, "null", None))
    elif isinstance(expected, bool):
        leaves.append((where, "bool", expected))
    elif isinstance(expected, int | float):
        leaves.append((where, "number", expected))
    else:
        leaves.append((where, "text", expected))


def _leaf_holds(body: object, where: tuple[str | int, ...], kind: str, value: object) -> bool:
    node = body
    for step in where:
        if type(step) is str:
            if type(node) is not dict:
                return False
            node = node.get(step, _ABSENT)
            if node is _ABSENT:
                return False
        elif type(node) is list and step < len(node):  # type: ignore[operator]  # an index
            node = node[step]  # type: ignore[index]
        else:
            return False
    if kind == "text":
        return type(node) is str and node == value
    if kind == "number":
        return (type(node) is int or type(node) is float) and node == value
    if kind == "bool":
        return node is value
    if kind == "null":
        return node is None
    if kind == "length":
        return type(node) is list and len(node) == value
    return type(node) is dict  # "object": an empty {} in the stub


class _JsonSubsetCheck(FieldCheck):
    """`body.json`: the request's JSON contains the stub's. Compiled to flat leaf constraints,
    so a decoy stub is usually refused at its first differing scalar without recursion."""

    __slots__ = ("expected", "leaves")

    def __init__(self, expected: JsonValue) -> None:
        self.expected = expected
        leaves: list[_JsonLeaf] = []
        _flatten_json(expected, (), leaves)
        self.leaves = tuple(leaves)

    def accepts(self, request: IncomingRequest) -> bool:
        body = request.json
        if isinstance(body, NotJson):
            return False
        for where, kind, value in self.leaves:  # noqa: SIM110  # a loop: no generator per call
            if not _leaf_holds(body, where, kind, value):
                return False
        return True

    def explain(self, request: IncomingRequest) -> Miss:
        body = request.json
        if isinstance(body, NotJson):
            return Miss("body.json", "a JSON body", request.text or None)
        miss = json_difference(self.expected, body, "body.json")
        return miss if miss is not None else Miss("body.json", "a JSON body", None)


class _JsonPathCheck(FieldCheck):
    __slots__ = ("check", "compiled", "field_name")

    def __init__(self, query: str, check: ValueCheck) -> None:
        from jsonpath_rfc9535 import compile as compile_jsonpath  # lazily: few stubs need it

        self.compiled = compile_jsonpath(query)
        self.field_name = f"body.json_path.{query}"
        self.check = check

    def _texts(self, request: IncomingRequest) -> list[str]:
        body = request.json
        found = [] if isinstance(body, NotJson) else self.compiled.find(body).values()
        return [json_text(value) for value in found]

    def accepts(self, request: IncomingRequest) -> bool:
        return self.check.holds(self._texts(request))

    def explain(self, request: IncomingRequest) -> Miss:
        return Miss(self.field_name, self.check.expected, _actual(self._texts(request)))


class _JsonSchemaCheck(FieldCheck):
    __slots__ = ("best_match", "validator")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        import jsonschema  # lazily: few stubs need it, and it costs ~50 ms at start-up

        self.validator = jsonschema.validators.validator_for(schema)(schema)
        self.best_match = jsonschema.exceptions.best_match

    def accepts(self, request: IncomingRequest) -> bool:
        body = request.json
        return not isinstance(body, NotJson) and self.validator.is_valid(body)

    def explain(self, request: IncomingRequest) -> Miss:
        body = request.json
        if isinstance(body, NotJson):
            return Miss("body.json_schema", "a JSON body valid against the schema", request.text)
        error = self.best_match(self.validator.iter_errors(body))
        reason = "valid" if error is None else error.message
        return Miss("body.json_schema", "valid against the schema", reason)


def _compile_body(body: BodyMatcher) -> list[FieldCheck]:
    checks: list[FieldCheck] = []
    if body.has_json:
        checks.append(_JsonSubsetCheck(body.json_))
    for query, matcher in (body.json_path or {}).items():
        checks.append(_JsonPathCheck(query, compile_value(matcher)))
    if body.json_schema is not None:
        checks.append(_JsonSchemaCheck(body.json_schema))
    for name, matcher in (body.form or {}).items():
        checks.append(_ValuesCheck(f"body.form.{name}", compile_value(matcher), _form_values(name)))
    for name, part in (body.multipart or {}).items():
        given = [
            (what, value)
            for what in ("filename", "content_type", "body")
            if (value := getattr(part, what)) is not None
        ]
        shorthand = [what for what, _ in given] == ["body"]
        for what, value in given:
            # `note: hi` is named body.multipart.note; `upload: {filename: ..}` by its key
            spelled = f"body.multipart.{name}" if shorthand else f"body.multipart.{name}.{what}"
            checks.append(_ValuesCheck(spelled, compile_value(value), _part_values(name, what)))
    for kind, raw in (
        ("equals", body.equals),
        ("contains", body.contains),
        ("matches", body.matches),
    ):
        if raw is not None:
            value_matcher = ValueMatcher.model_validate({kind: raw})
            checks.append(_ValuesCheck(f"body.{kind}", compile_value(value_matcher), _body_text))
    return checks


# --- paths ----------------------------------------------------------------------------------


def compile_path_template(template: str) -> re.Pattern[str] | None:
    """ "/v1/customers/{id}" -> ^/v1/customers/(?P<id>[^/]+)$; None for a literal path."""
    if not PATH_PARAM.search(template):
        return None
    pattern, position = "", 0
    for found in PATH_PARAM.finditer(template):
        pattern += re.escape(template[position : found.start()])
        pattern += f"(?P<{found.group(1)}>[^/]+)"
        position = found.end()
    pattern += re.escape(template[position:])
    return re.compile(pattern)


@dataclass(frozen=True, slots=True)
class PathCheck:
    """The path part of a matcher: an optional base path, then a literal, template or matcher."""

    base_path: str | None
    literal: str | None = None
    template: re.Pattern[str] | None = None
    value: ValueCheck | None = None
    expected: str = ""

    def compare(self, path: str) -> Mapping[str, str] | None:
        """The captured parameters when `path` matches, else None."""
        rest = path
        if self.base_path is not None:
            if not path.startswith(self.base_path):
                return None
            rest = path[len(self.base_path) :]
            if rest and not rest.startswith("/"):
                return None
            rest = rest or "/"
        if self.literal is not None:
            return _NO_PARAMS if rest == self.literal else None
        if self.template is not None:
            found = self.template.fullmatch(rest)
            if found is None:
                return None
            captured = found.groupdict()
            if "%" in rest:  # a segment that held "/" or "%": captured as the client meant it
                return {name: decoded_segment(value) for name, value in captured.items()}
            return captured
        if self.value is not None:
            return _NO_PARAMS if self.value.holds((rest,)) else None
        return _NO_PARAMS

    @property
    def full_literal(self) -> str | None:
        """The whole literal path a request must have, for the index; None when not literal."""
        if self.literal is None:
            return None
        if self.base_path is None:
            return self.literal
        # "/" under a base path also accepts the bare base path: not one key, so not indexed
        return None if self.literal == "/" else self.base_path + self.literal


_NO_PARAMS: Final[Mapping[str, str]] = {}


def _compile_path(path: PathMatcher | None, base_path: str | None) -> PathCheck | None:
    # a stub's path is compared in the request's form (`segment_path`): written encoded or
    # decoded, it means the same; a regex (`matches`) sees that form as it is
    if base_path is not None:
        base_path = segment_path(base_path)
    if path is not None:
        path = _in_segment_form(path)
    if path is None:
        if base_path is None:
            return None
        return PathCheck(base_path, expected=f"starts with {base_path!r}")
    under = f"under {base_path!r}: " if base_path else ""
    if path.template is not None:
        template = compile_path_template(path.template)
        if template is None:
            return PathCheck(
                base_path, literal=path.template, expected=f"{under}equals {path.template!r}"
            )
        return PathCheck(
            base_path, template=template, expected=f"{under}template {path.template!r}"
        )
    if path.equals is not None:
        return PathCheck(base_path, literal=path.equals, expected=f"{under}equals {path.equals!r}")
    check = compile_value(path)
    return PathCheck(base_path, value=check, expected=f"{under}{check.expected}")


def _in_segment_form(path: PathMatcher) -> PathMatcher:
    """ "/caf%C3%A9/{id}" -> "/café/{id}": the literal parts of a path matcher in the form
    requests are matched in."""
    update = {
        name: segment_path(value)
        for name in ("template", "equals", "starts_with", "contains")
        if isinstance(value := getattr(path, name), str) and "%" in value
    }
    return path.model_copy(update=update) if update else path


# --- the request matcher --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestMatcher:
    """A compiled `request` block (plus its document's `host` and `base_path`)."""

    methods: frozenset[str] | None
    host: str | None
    path: PathCheck | None
    checks: tuple[FieldCheck, ...]
    index_key: tuple[frozenset[str] | None, str] | None = None
    """(methods, literal full path) when the stub can be found by a dictionary lookup."""

    @property
    def declared(self) -> int:
        """How many fields the stub declares; the denominator of a near miss's score."""
        return (
            (self.methods is not None)
            + (self.host is not None)
            + (self.path is not None)
            + len(self.checks)
        )


def record_filter(matcher: RequestMatcher) -> tuple[frozenset[str] | None, str | None, bool]:
    """(methods, literal path, decisive): what a scan may compare on stored fields alone
    before rebuilding a request; `decisive` when nothing else is declared."""
    literal = None if matcher.path is None else matcher.path.full_literal
    decisive = (
        matcher.host is None
        and not matcher.checks
        and (matcher.path is None or literal is not None)
    )
    return matcher.methods, literal, decisive


def compile_request(
    spec: RequestSpec, *, base_path: str | None = None, host: str | None = None
) -> RequestMatcher:
    """Build every check of `spec` once; the order of `checks` is the order misses report."""
    checks: list[FieldCheck] = []
    for name, matcher in (spec.query or {}).items():
        checks.append(_ValuesCheck(f"query.{name}", compile_value(matcher), _query_values(name)))
    for name, matcher in (spec.headers or {}).items():
        checks.append(_ValuesCheck(f"headers.{name}", compile_value(matcher), _header_values(name)))
    for name, matcher in (spec.cookies or {}).items():
        checks.append(_ValuesCheck(f"cookies.{name}", compile_value(matcher), _cookie_values(name)))
    if spec.body is not None:
        checks.extend(_compile_body(spec.body))
    methods = None if spec.method is None else frozenset(spec.method)
    path = _compile_path(spec.path, base_path)
    literal = None if path is None else path.full_literal
    return RequestMatcher(
        methods=methods,
        host=None if host is None else host.lower(),
        path=path,
        checks=tuple(checks),
        index_key=None if literal is None else (methods, literal),
    )


def _method_miss(matcher: RequestMatcher, request: IncomingRequest) -> Miss | None:
    if matcher.methods is None or request.method in matcher.methods:
        return None
    methods = sorted(matcher.methods)
    expected = f"equals {methods[0]!r}" if len(methods) == 1 else f"one of {', '.join(methods)}"
    return Miss("method", expected, request.method)


def _host_miss(matcher: RequestMatcher, request: IncomingRequest) -> Miss | None:
    if matcher.host is None:
        return None
    # a stub host with a port compares with the whole Host header; without, with the name only
    with_port = ":" in matcher.host.rsplit("]", 1)[-1]
    host = request.headers.get("host") if with_port else request.host
    if host is not None and host.lower() == matcher.host:
        return None
    return Miss("host", f"equals {matcher.host!r}", host)


def match_request(
    matcher: RequestMatcher, request: IncomingRequest, *, score: bool = False
) -> Match | Miss:
    """Compare one request with one compiled matcher.

    Without `score` (the request path) it stops at the first miss. With it, every field is
    compared so the miss carries its score and whether path and host matched (near misses).
    """
    first: Miss | None = None
    matched = 0
    miss = _method_miss(matcher, request)
    if miss is not None:
        if not score:
            return miss
        first = miss
    else:
        matched += matcher.methods is not None
    host_miss = _host_miss(matcher, request)
    if host_miss is not None:
        if not score:
            return host_miss
        first = first or host_miss
    else:
        matched += matcher.host is not None
    params: Mapping[str, str] = _NO_PARAMS
    path_ok = True
    if matcher.path is not None:
        captured = matcher.path.compare(request.path)
        if captured is None:
            path_ok = False
            path_miss = Miss("path", matcher.path.expected, request.path)
            if not score:
                return path_miss
            first = first or path_miss
        else:
            params = captured
            matched += 1
    for check in matcher.checks:
        if check.accepts(request):
            matched += 1
            continue
        miss = check.explain(request)
        if not score:
            return miss
        first = first or miss
    if first is None:
        return Match(params)
    declared = matcher.declared
    return Miss(
        first.field,
        first.expected,
        first.actual,
        score=matched / declared if declared else 1.0,
        path_matched=path_ok and host_miss is None,
    )


def match_params(
    matcher: RequestMatcher, request: IncomingRequest, *, indexed: bool = False
) -> Mapping[str, str] | None:
    """The path parameters when `request` matches, else None: `match_request` without the
    explanation, for the request path and journal scans, where most candidates miss.

    `indexed`: the caller found this stub in the index under the request's method and path,
    so those hold already and only host and the declared fields are compared."""
    if indexed:
        if matcher.host is not None and _host_miss(matcher, request) is not None:
            return None
        for check in matcher.checks:
            if not check.accepts(request):
                return None
        return _NO_PARAMS
    if matcher.methods is not None and request.method not in matcher.methods:
        return None
    if matcher.host is not None and _host_miss(matcher, request) is not None:
        return None
    params = _NO_PARAMS
    if matcher.path is not None:
        captured = matcher.path.compare(request.path)
        if captured is None:
            return None
        params = captured
    for check in matcher.checks:
        if not check.accepts(request):
            return None
    return params
