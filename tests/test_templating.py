"""Templates without a server: context, helpers, types, compile errors, render errors, limits."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid as uuid_module
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import JsonValue

from mockserver import templating
from mockserver.clock import ClockSetting
from mockserver.errors import TemplateCompileError, TemplateError
from mockserver.incoming import IncomingRequest, join_headers, parse_query
from mockserver.templating import (
    MAX_OUTPUT_CHARS,
    compile_template_value,
    render_header,
    render_text,
    sandbox,
    template_context,
)

CHARGE_BODY: dict[str, JsonValue] = {
    "amount": 2000,
    "price": 19.99,
    "paid": True,
    "coupon": None,
    "name": "Ann",
    "zip": "02134",
    "items": [{"id": "it_1", "qty": 2}],
    "customer": {"email": "ann@example.com"},
}


def make_request(
    *,
    method: str = "post",
    path: str = "/v1/charges",
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> IncomingRequest:
    return IncomingRequest(
        method, path, parse_query(query), join_headers((headers or {}).items()), body
    )


CHARGE = make_request(
    query="expand=customer&tag=a&tag=b",
    headers={
        "Content-Type": "application/json",
        "X-Request-Id": "req_42",
        "Cookie": "session=abc; theme=dark",
    },
    body=json.dumps(CHARGE_BODY).encode(),
)
FORM = make_request(
    headers={"Content-Type": "application/x-www-form-urlencoded"},
    body=b"currency=usd&tag=a&tag=b",
)


def render(
    source: JsonValue,
    request: IncomingRequest = CHARGE,
    *,
    hits: int = 3,
    field: str = "response.json",
) -> JsonValue:
    context = template_context(request, {"id": "ch_1"}, hits)
    return compile_template_value(source, field).render(context)


def render_error(source: str, request: IncomingRequest = CHARGE) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render(source, request)
    return caught.value


# --- the context --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "request_", "expected"),
    [
        ("{{ request.method }}", CHARGE, "POST"),
        ("{{ request.path }}", CHARGE, "/v1/charges"),
        ("{{ request.path_params.id }}", CHARGE, "ch_1"),
        ("{{ request.query.expand }}", CHARGE, "customer"),
        ("{{ request.query.tag }}", CHARGE, "a"),
        ("{{ request.query_all.tag }}", CHARGE, ["a", "b"]),
        ("{{ request.query.absent }}", CHARGE, None),
        ("{{ request.headers['x-request-id'] }}", CHARGE, "req_42"),
        ("{{ request.headers['X-Request-Id'] }}", CHARGE, None),
        ("{{ request.cookies.session }}", CHARGE, "abc"),
        ("{{ request.json.customer.email }}", CHARGE, "ann@example.com"),
        ("{{ request.json.items[0].id }}", CHARGE, "it_1"),
        ("{{ request.json }}", FORM, None),
        ("{{ request.form.currency }}", FORM, "usd"),
        ("{{ request.form.tag }}", FORM, "a"),
        ("{{ request.form_all.tag }}", FORM, ["a", "b"]),
        ("{{ request.form }}", CHARGE, {}),
        ("{{ request.body }}", FORM, "currency=usd&tag=a&tag=b"),
        ("{{ request.body }}", make_request(body=b"ok\xff"), "ok\ufffd"),
        ("{{ hits }}", CHARGE, 3),
    ],
    ids=[
        "method",
        "path",
        "path_params",
        "query-first",
        "query-repeated-first",
        "query_all",
        "query-absent",
        "headers-lower-case",
        "headers-not-case-folded",
        "cookies",
        "json-nested",
        "json-list",
        "json-none-when-not-json",
        "form",
        "form-repeated-first",
        "form_all",
        "form-empty-when-not-form",
        "body",
        "body-invalid-utf8",
        "hits",
    ],
)
def test_context_field(source: str, request_: IncomingRequest, expected: JsonValue) -> None:
    assert render(source, request_) == expected


def test_context_names_are_the_documented_ones() -> None:
    context = template_context(CHARGE, {}, 0)
    assert set(context) == templating.CONTEXT_NAMES
    request = context["request"]
    assert isinstance(request, dict)
    assert set(request) == {
        "method", "path", "namespace", "path_prefix", "path_params", "query", "query_all",
        "headers", "cookies", "json", "form", "form_all", "body",
    }  # fmt: skip


def test_a_dict_key_wins_over_a_dict_method() -> None:
    # `items` is the JSON field, not dict.items; the method is still there when no key shadows it
    assert render("{{ request.json.items[0].qty }}") == 2
    assert render("{{ request.json.customer.items()|list }}") == [["email", "ann@example.com"]]


# --- helpers ------------------------------------------------------------------------------------


def parse_utc(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("call", "offset"),
    [
        ("now()", timedelta(0)),
        ("now('+1h')", timedelta(hours=1)),
        ("now('-30m')", timedelta(minutes=-30)),
        ("now('+2d')", timedelta(days=2)),
        ("now('+90s')", timedelta(seconds=90)),
        ("now('+1w')", timedelta(weeks=1)),
        ("now('-1d12h')", -timedelta(days=1, hours=12)),
    ],
    ids=["now", "plus-hour", "minus-minutes", "plus-days", "seconds", "week", "combined"],
)
def test_now(call: str, offset: timedelta) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    rendered = render("{{ " + call + " }}")
    assert isinstance(rendered, str)
    shown = parse_utc(rendered) - offset
    # wide margins: the test checks the offset and the format, not the clock
    assert before - timedelta(minutes=1) <= shown <= before + timedelta(minutes=5)


def test_now_reads_the_clock_it_is_given() -> None:
    compiled = compile_template_value(
        {"now": "{{ now() }}", "later": "{{ now('+1d2h') }}", "text": "at {{ now('-1s') }}"},
        "response.json",
    )
    frozen = ClockSetting.frozen_at(datetime(2026, 1, 1, 0, 0, 0, 750_000, tzinfo=UTC))
    assert compiled.render(template_context(CHARGE, {}, 1, frozen)) == {
        "now": "2026-01-01T00:00:00Z",
        "later": "2026-01-02T02:00:00Z",
        "text": "at 2025-12-31T23:59:59Z",
    }
    ancient = template_context(
        CHARGE, {}, 1, ClockSetting.frozen_at(datetime(900, 5, 6, tzinfo=UTC))
    )
    assert render_text(compile_template_value("{{ now() }}", "body"), ancient) == (
        "0900-05-06T00:00:00Z"  # four digits of year, as RFC 3339 wants
    )
    before = datetime.now(UTC).replace(microsecond=0)
    ahead = compiled.render(template_context(CHARGE, {}, 1, ClockSetting.offset_by(86_400_000)))
    assert isinstance(ahead, dict)
    shown = parse_utc(str(ahead["now"])) - timedelta(days=1)
    assert before - timedelta(minutes=1) <= shown <= before + timedelta(minutes=5)


@pytest.mark.parametrize("offset", ["1h", "+1y", "+h", "soon", "+1h-30m"], ids=str)
def test_now_rejects_a_malformed_offset(offset: str) -> None:
    error = render_error("{{ now('" + offset + "') }}")
    assert "now(): offset" in error.reason
    assert repr(offset) in error.reason


def test_uuid_is_a_random_version_4_uuid() -> None:
    first, second = render("{{ uuid() }}"), render("{{ uuid() }}")
    assert isinstance(first, str)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first
    )
    assert uuid_module.UUID(first).version == 4
    assert first != second


@pytest.mark.parametrize(("low", "high"), [(1, 3), (5, 5), (-10, -8)], ids=str)
def test_random_int_stays_within_its_bounds(low: int, high: int) -> None:
    compiled = compile_template_value(f"{{{{ random_int({low}, {high}) }}}}", "f")
    context = template_context(CHARGE, {}, 0)
    seen = {compiled.render(context) for _ in range(300)}
    assert seen <= set(range(low, high + 1))
    assert all(type(value) is int for value in seen)
    if high - low <= 2:
        assert seen == set(range(low, high + 1))  # 300 draws of <= 3 values miss one ~never


@pytest.mark.parametrize("length", [0, 1, 7, 32], ids=str)
def test_random_hex_has_the_length_asked_for(length: int) -> None:
    rendered = render(f"x{{{{ random_hex({length}) }}}}")
    assert isinstance(rendered, str)
    assert re.fullmatch(f"x[0-9a-f]{{{length}}}", rendered)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ random_int(3, 1) }}", "random_int(a, b) needs integers with a <= b"),
        ("{{ random_int('1', 2) }}", "random_int(a, b) needs integers"),
        ("{{ random_hex(-1) }}", "random_hex(n) needs 0 <= n"),
        ("{{ random_hex(2000000) }}", "random_hex(n) needs 0 <= n"),
        ("{{ random_hex('8') }}", "random_hex(n) takes an integer"),
    ],
    ids=["int-reversed", "int-not-int", "hex-negative", "hex-huge", "hex-not-int"],
)
def test_helper_arguments_are_checked(source: str, message: str) -> None:
    assert message in render_error(source).reason


# --- types --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ request.json.amount }}", 2000),
        ("{{ request.json.price }}", 19.99),
        ("{{ request.json.paid }}", True),
        ("{{ request.json.coupon }}", None),
        ("{{ request.json.missing }}", None),
        ("{{ request.json.missing.deeper }}", None),
        ("{{ request.json.name }}", "Ann"),
        ("{{ request.json.zip }}", "02134"),
        ("{{ request.json.amount * 2 }}", 4000),
        ("{{ request.json.amount > 1000 }}", True),
        ("{{ request.json.items }}", [{"id": "it_1", "qty": 2}]),
        ("{{ request.json.customer }}", {"email": "ann@example.com"}),
        ("{{ request.json.items|map(attribute='id') }}", ["it_1"]),
        ("{{ (1, 'a') }}", [1, "a"]),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{- request.json.amount -}}", 2000),
        ("{{ request.json.amount }} USD", "2000 USD"),
        ("{{ request.json.amount }}{{ request.json.amount }}", "20002000"),
        (" {{ request.json.amount }}", " 2000"),
        ("{{ request.json.amount }}\n", "2000\n"),
        ("{{ request.json.paid }} / {{ request.json.coupon }}", "True / "),
        ("[{{ request.json.missing }}]", "[]"),
        ("{# a note #}{{ request.json.amount }}", 2000),
        ("{{ request.json.missing | default('none') }}", "none"),
        ("{% if request.json.missing %}y{% else %}n{% endif %}", "n"),
    ],
    ids=[
        "int",
        "float",
        "bool",
        "null",
        "missing-is-null",
        "missing-chain-is-null",
        "string",
        "numeric-string-stays-string",
        "arithmetic",
        "comparison",
        "list",
        "dict",
        "generator-becomes-list",
        "tuple-becomes-list",
        "range-becomes-list",
        "whitespace-control",
        "text-after",
        "two-expressions",
        "text-before",
        "trailing-newline",
        "text-bool-and-null",
        "text-missing-is-empty",
        "comment",
        "default-filter",
        "missing-is-falsy",
    ],
)
def test_type_of_a_rendered_value(source: str, expected: JsonValue) -> None:
    rendered = render(source)
    assert rendered == expected
    assert type(rendered) is type(expected)


def test_nested_values_are_walked_and_constants_kept() -> None:
    source: JsonValue = {
        "id": "ch_{{ request.path_params.id }}",
        "amount": "{{ request.json.amount }}",
        "{{ key }}": "keys are never templates",
        "lines": [{"qty": "{{ request.json.items[0].qty }}", "fixed": 1}, "plain", None],
        "static": {"a": [1, 2.5, True, None, "{ not a template }"]},
    }
    assert render(source) == {
        "id": "ch_ch_1",
        "amount": 2000,
        "{{ key }}": "keys are never templates",
        "lines": [{"qty": 2, "fixed": 1}, "plain", None],
        "static": {"a": [1, 2.5, True, None, "{ not a template }"]},
    }


@pytest.mark.parametrize(
    "value",
    [5, 1.5, True, None, "plain {text}", {"a": [1, {"b": "c"}]}, []],
    ids=["int", "float", "bool", "null", "str", "nested", "empty-list"],
)
def test_a_value_without_templates_renders_to_itself(value: JsonValue) -> None:
    assert compile_template_value(value, "response.json").render({}) == value


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ request.json.amount }}", "2000"),
        ("{{ request.json.coupon }}", ""),
        ("{{ request.json.missing }}", ""),
        ("Hello {{ request.json.name }}\n", "Hello Ann\n"),
        ("line\r\nline", "line\r\nline"),
    ],
    ids=["int", "null", "missing", "text", "constant-keeps-crlf"],
)
def test_render_text(source: str, expected: str) -> None:
    compiled = compile_template_value(source, "response.body")
    assert render_text(compiled, template_context(CHARGE, {}, 0)) == expected


def test_jinja_features_users_know_still_work() -> None:
    source = (
        "{% macro row(item) %}{{ item.id }}x{{ item.qty }}{{ caller() }}{% endmacro %}"
        "{% for item in request.json['items'] %}{{ loop.index }}:"
        "{% call row(item) %}!{% endcall %}{% endfor %}"
        "{% set ns = namespace(total=0) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}"
        "{% endfor %}|{{ ns.total }}|{{ '%05d' % 42 }}|{{ '{:>4}'.format('ab') }}"
        "|{{ request.json.name|upper ~ '!' }}|{{ request.json|tojson }}"
    )
    assert render(source) == (
        f"1:it_1x2!|6|00042|  ab|ANN!|{json.dumps(CHARGE_BODY, sort_keys=True)}"
    )


# --- compile errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        ("{{ request.json.amount ", 1, "template syntax error: unexpected end of template"),
        ("a\nb\n{{ foo( }}", 3, "template syntax error: unexpected '}'"),
        ("{% if request.json.paid %}yes", 1, "template syntax error: Unexpected end of template"),
        ("{{ x|no_such_filter }}", 1, "template syntax error: No filter named 'no_such_filter'"),
        ("ok\n{{ reqest.json }}", 2, "unknown name 'reqest' in template (known: cycler, dict, "),
        ("{% include 'other.txt' %}", 1, "a template cannot extend, include or import"),
        ("{% import 'macros' as m %}", 1, "a template cannot extend, include or import"),
    ],
    ids=[
        "unclosed",
        "line-3",
        "unclosed-block",
        "unknown-filter",
        "unknown-name",
        "include",
        "import",
    ],
)
def test_a_template_that_does_not_compile(source: str, line: int, reason: str) -> None:
    with pytest.raises(TemplateCompileError) as caught:
        compile_template_value({"charge": {"amount": source}}, "response.json")
    error = caught.value
    assert (error.field, error.loc, error.line) == (
        "response.json.charge.amount",
        ("charge", "amount"),
        line,
    )
    assert error.reason.startswith(reason)
    assert str(error) == f"response.json.charge.amount: {error.reason}"


def test_a_compile_error_in_a_list_names_the_index() -> None:
    with pytest.raises(TemplateCompileError) as caught:
        compile_template_value({"lines": ["ok", {"id": "{{ }}"}]}, "response.json")
    assert (caught.value.field, caught.value.loc) == (
        "response.json.lines[1].id",
        ("lines", 1, "id"),
    )


# --- render errors and limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ request.json.missing + 1 }}", "undefined value: 'dict object' has no attribute"),
        ("{{ request.json.name + 1 }}", "TypeError: "),
        ("{{ request.json.amount / 0 }}", "ZeroDivisionError: "),
        ("{{ request.json.price|int|string|float / 0 }}", "ZeroDivisionError: "),
        ("{{ now }}", "renders to a function, which is not a JSON value"),
        ("{{ request.json.price * 1e308 * 10 }}", "renders to inf, which JSON cannot carry"),
        ("{{ 7 ** 10000 }}", "renders to an integer too large for JSON"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nested too deeply (recursion limit)"),
    ],
    ids=[
        "undefined-arithmetic",
        "type-error",
        "division-by-zero",
        "filtered-division",
        "function",
        "infinity",
        "huge-int",
        "recursion",
    ],
)
def test_a_render_error(source: str, reason: str) -> None:
    error = render_error(source)
    assert error.status == 500
    assert error.field == "response.json"
    assert error.reason.startswith(reason), error.reason


SANDBOX = "refused by the sandbox: "


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
        (
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "access to attribute '__class__' of 'str' object is unsafe",
        ),
        (
            "{{ request.__init__.__globals__ }}",
            "access to attribute '__init__' of 'RequestFields' object is unsafe",
        ),
        (
            "{{ now.__globals__['datetime'] }}",
            "access to attribute '__globals__' of 'function' object is unsafe",
        ),
        (
            "{{ request['__class__'] }}",
            "access to attribute '__class__' of 'RequestFields' object is unsafe",
        ),
        ("{{ cycler.__init__ }}", "access to attribute '__init__' of 'type' object is unsafe"),
        ("{{ '{0.__class__}'.format(1) }}", "access to attribute '__class__' of 'int' object"),
        ("{{ request.json.update({'a': 1}) }}", "access to attribute 'update' of 'dict' object"),
        ("{{ request.json['items'].append(1) }}", "access to attribute 'append' of 'list' object"),
    ],
    ids=[
        "mro",
        "subclasses",
        "globals-via-init",
        "helper-globals",
        "dunder-by-item",
        "class-init",
        "format-string",
        "dict-mutation",
        "list-mutation",
    ],
)
def test_the_sandbox_refuses(source: str, reason: str) -> None:
    error = render_error(source)
    assert error.reason.startswith(SANDBOX + reason), error.reason


TOO_LONG = f"longer than {MAX_OUTPUT_CHARS:,} characters"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% for i in range(100000) %}0123456789abcdef{% endfor %}", "output " + TOO_LONG),
        ("{{ request.body * 2 }}", "the result of '*' would be " + TOO_LONG),
        ("{{ 'x' * 10000000000 }}", "the result of '*' would be " + TOO_LONG),
        ("{{ ['x'] * 10000000000 }}", "the result of '*' would be " + TOO_LONG),
        ("{{ 2 ** 1000000000 }}", "the result of '**' would be " + TOO_LONG),
        ("{{ '%999999999d' % 1 }}", "the result of '%' would be " + TOO_LONG),
        ("{{ '%*d' % (5, 1) }}", "the result of '%' would be " + TOO_LONG),
        ("{{ '{:>999999999}'.format(1) }}", "the result of str.format() would be " + TOO_LONG),
        ("{{ 'x'.center(1000000000) }}", "the result of str.center() would be " + TOO_LONG),
        ("{{ 'x'.zfill(1000000000) }}", "the result of str.zfill() would be " + TOO_LONG),
        ("{{ request.body.replace('', request.body) }}", "the result of str.replace() would be "),
        ("{{ 'x'|center(1000000000) }}", "the result of 'center' would be " + TOO_LONG),
        ("{{ request.body|indent(1000000) }}", "the result of 'indent' would be " + TOO_LONG),
        (
            "{{ request.body|indent(width=1000000, first=True) }}",
            "the result of 'indent' would be " + TOO_LONG,
        ),
        (
            "{{ request.body|wordwrap(5, wrapstring=request.body) }}",
            "the result of 'wordwrap' would be " + TOO_LONG,
        ),
        ("{{ '%999999999s'|format(1) }}", "the result of 'format' would be " + TOO_LONG),
        ("{{ range(100000)|join(request.body) }}", "the result of 'join' would be " + TOO_LONG),
        ("{{ request.body.join(range(100000)|map('string')) }}", "the result of str.join() would"),
        ("{{ [1]|batch(1000000000, 0)|list }}", "the result of 'batch' would be " + TOO_LONG),
        (
            "{% set ns = namespace(v=request.body) %}{% for i in range(40) %}"
            "{% set ns.v = ns.v ~ ns.v %}{% endfor %}",
            "a value " + TOO_LONG,
        ),
        (
            "{% set ns = namespace(v=request.body) %}{% for i in range(40) %}"
            "{% set ns.v = ns.v + ns.v %}{% endfor %}",
            "a value " + TOO_LONG,
        ),
        (
            "{% macro m() %}{% for i in range(100000) %}{{ request.body }}{% endfor %}"
            "{% endmacro %}{{ m()|length }}",
            "output " + TOO_LONG,
        ),
        (
            "{% set x %}{% for i in range(100000) %}0123456789abcdef{% endfor %}{% endset %}"
            "{{ x|length }}",
            "output " + TOO_LONG,
        ),
        (
            "{% filter upper %}{% for i in range(100000) %}0123456789abcdef{% endfor %}"
            "{% endfilter %}",
            "output " + TOO_LONG,
        ),
    ],
    ids=[
        "output",
        "repeat-request-body",
        "repeat-str",
        "repeat-list",
        "power",
        "percent-width",
        "percent-star-width",
        "format-width",
        "str-center",
        "str-zfill",
        "str-replace",
        "filter-center",
        "filter-indent",
        "filter-indent-keywords",
        "filter-wordwrap",
        "filter-format",
        "filter-join",
        "str-join",
        "filter-batch",
        "doubling-concat",
        "doubling-plus",
        "macro-buffer",
        "set-block-buffer",
        "filter-block-buffer",
    ],
)
def test_size_limits(source: str, reason: str) -> None:
    big = make_request(body=b"0123456789" * 60_000)  # 600,000 characters: twice is too many
    error = render_error(source, big)
    assert error.reason.startswith(reason), error.reason


def test_the_output_limit_covers_every_template_of_one_value() -> None:
    half = "{{ 'x' * " + str(MAX_OUTPUT_CHARS // 2 + 1) + " }}"
    with pytest.raises(TemplateError, match="output " + TOO_LONG):
        render({"a": half, "b": [half]})
    assert len(str(render({"a": half}))) > MAX_OUTPUT_CHARS // 2  # each alone is fine


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% for i in range(100001) %}{% endfor %}", "OverflowError: Range too big."),
        ("{{ range(10000000)|list }}", "OverflowError: Range too big."),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "more than 1,000,000 loop iterations and calls",
        ),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            "more than 1,000,000 loop iterations and calls",
        ),
        (
            "{{ range(100000)|map('center', 1000000)|list|length }}",
            "values built add up to more than 16,777,216 characters",
        ),
    ],
    ids=["range-loop", "range-list", "nested-loops", "exponential-macro", "many-large-values"],
)
def test_work_limits(source: str, reason: str) -> None:
    # A slow machine may reach the time limit first: either stops the template.
    stopped = render_error(source).reason
    assert stopped.startswith(reason) or stopped == "rendering took longer than 1 s", stopped


def test_the_step_limit_counts_loop_iterations_and_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_STEPS", 11)  # range(), then an iteration and a call each
    assert render("{% for i in range(5) %}{{ uuid()|length }}{% endfor %}") == "36" * 5
    error = render_error("{% for i in range(6) %}{{ uuid()|length }}{% endfor %}")
    assert error.reason == "more than 11 loop iterations and calls"


def test_a_slow_render_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", -1.0)  # already past its deadline
    error = render_error("{% for i in range(3) %}{% endfor %}")
    assert error.reason == "rendering took longer than -1 s"


def test_rendering_goes_on_after_an_error() -> None:
    render_error("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}")
    assert render("{% for i in range(3) %}{{ 'x' * 100 }}{% endfor %}") == "x" * 300


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("v=a%0D%0ASet-Cookie:%20stolen=1", "'a\\r\\nSet-Cookie: stolen=1'"),
        ("v=a%0Ab", "'a\\nb'"),
        ("v=a%0Db", "'a\\rb'"),
        ("v=a%00b", "'a\\x00b'"),
    ],
    ids=["crlf", "lf", "cr", "nul"],
)
def test_a_header_value_cannot_carry_a_line_break(query: str, shown: str) -> None:
    compiled = compile_template_value("{{ request.query.v }}", "response.headers.X-Echo")
    context = template_context(make_request(query=query), {}, 0)
    with pytest.raises(TemplateError) as caught:
        render_header(compiled, context)
    assert caught.value.field == "response.headers.X-Echo"
    assert caught.value.reason == f"header value contains CR, LF or NUL: {shown}"
    assert render_text(compiled, context)  # a body may contain them


def test_a_header_value_renders_to_text() -> None:
    compiled = compile_template_value("req-{{ request.json.amount }}", "response.headers.X-Id")
    assert render_header(compiled, template_context(CHARGE, {}, 0)) == "req-2000"
    typed = compile_template_value("{{ request.json.amount }}", "response.headers.X-Amount")
    assert render_header(typed, template_context(CHARGE, {}, 0)) == "2000"


# --- lazy import --------------------------------------------------------------------------------


def test_jinja2_is_imported_only_when_a_template_compiles() -> None:
    script = (
        "import sys\n"
        "from mockserver import templating\n"
        "assert 'jinja2' not in sys.modules, 'imported on import'\n"
        "templating.compile_template_value({'a': 'plain', 'b': [1]}, 'response.json')\n"
        "assert 'jinja2' not in sys.modules, 'imported for a value without templates'\n"
        "templating.compile_template_value('{{ hits }}', 'response.json')\n"
        "assert 'jinja2' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
