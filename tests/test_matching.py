"""Matching: value matchers, every request field, and misses that name the first differing field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from mockserver.incoming import IncomingRequest, join_headers, parse_query
from mockserver.matching import Match, Miss, compile_request, json_difference, match_request
from mockserver.spec import RequestSpec

FORM = ("Content-Type", "application/x-www-form-urlencoded")
NOT_UTF8 = b"caf\xe9 \xff\xfe"
OK = Match({})


def request(
    method: str = "GET",
    path: str = "/",
    query: str = "",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> IncomingRequest:
    return IncomingRequest(method, path, parse_query(query), join_headers(headers), body)


def outcome(spec: Any, incoming: IncomingRequest, score: bool = False, **doc: Any) -> Match | Miss:
    """Match `incoming` against a request spec under a document's `base_path` and `host`."""
    return match_request(
        compile_request(RequestSpec.model_validate(spec), **doc), incoming, score=score
    )


def table(cases: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """{id: case} -> parametrize's argvalues and ids, keeping each id beside its case."""
    return {"argvalues": list(cases.values()), "ids": list(cases)}


def missing(field: str) -> Any:
    """A Miss factory for one field: missing("path")("equals '/a'", "/b")."""
    return lambda expected, actual=None: Miss(field, expected, actual)


def under(prefix: str) -> Any:
    """A Miss factory for fields under a prefix: under("body.")("equals", "equals 'a'", "b")."""
    return lambda name, expected, actual=None: Miss(prefix + name, expected, actual)


# --- value matchers, over the query parameter `v` -------------------------------------------

V = missing("query.v")
ANY = {"any_of": ["a", {"starts_with": "b"}]}
ALL = {"all_of": [{"starts_with": "a"}, {"contains": "z"}]}
NESTED = {"not": {"any_of": [1, {"matches": "b+"}]}}
VALUE_MATCHERS = {
    "equals": ("usd", "v=usd", OK),
    "equals-differs": ("usd", "v=eur", V("equals 'usd'", "eur")),
    "equals-absent": ("usd", "w=usd", V("equals 'usd'", None)),
    "int-as-text": (10, "v=10", OK),
    "int-is-not-float-text": (10, "v=10.0", V("equals '10'", "10.0")),
    "true-as-text": (True, "v=true", OK),
    "false-as-text": (False, "v=false", OK),
    "true-is-lowercase": (True, "v=True", V("equals 'true'", "True")),
    "explicit-equals-int": ({"equals": 10}, "v=10", OK),
    "contains": ({"contains": "ell"}, "v=hello", OK),
    "contains-differs": ({"contains": "ell"}, "v=help", V("contains 'ell'", "help")),
    "contains-int": ({"contains": 42}, "v=x42y", OK),
    "starts-with": ({"starts_with": "Bearer "}, "v=Bearer+t", OK),
    "starts-with-differs": ({"starts_with": "Be"}, "v=B+e", V("starts with 'Be'", "B e")),
    "matches-whole": ({"matches": "[0-9]+"}, "v=123", OK),
    "matches-is-full": ({"matches": "[0-9]+"}, "v=123a", V("matches '[0-9]+'", "123a")),
    "present-blank-value": ({"present": True}, "v=", OK),
    "present-absent": ({"present": True}, "w=1", V("present", None)),
    "absent": ({"present": False}, "w=1", OK),
    "absent-present": ({"present": False}, "v=1", V("absent", "1")),
    "absent-blank": ({"present": False}, "v", V("absent", "")),
    "not": ({"not": "x"}, "v=y", OK),
    "not-differs": ({"not": {"equals": "x"}}, "v=x", V("not equals 'x'", "x")),
    "not-absent": ({"not": "x"}, "", OK),
    "not-present": ({"not": {"present": True}}, "", OK),
    "any-of": (ANY, "v=bz", OK),
    "any-of-differs": (ANY, "v=c", V("any of (equals 'a', starts with 'b')", "c")),
    "all-of": (ALL, "v=az", OK),
    "all-of-differs": (ALL, "v=ab", V("all of (starts with 'a', contains 'z')", "ab")),
    "nested": (NESTED, "v=c", OK),
    "nested-differs": (NESTED, "v=bb", V("not any of (equals '1', matches 'b+')", "bb")),
    "repeated-any-value": ("2", "v=1&v=2", OK),
    "repeated-none": ("3", "v=1&v=2", V("equals '3'", ["1", "2"])),
    "repeated-matches-any": ({"matches": "[0-9]"}, "v=x&v=7", OK),
    "list-each-among": (["a", "b"], "v=b&v=c&v=a", OK),
    "list-one-missing": (["a", "b"], "v=a&v=c", V("all of (equals 'a', equals 'b')", ["a", "c"])),
    "list-of-scalars": ([1, True], "v=true&v=1", OK),
}


@pytest.mark.parametrize(("matcher", "query", "expected"), **table(VALUE_MATCHERS))
def test_value_matchers(matcher: Any, query: str, expected: Match | Miss) -> None:
    assert outcome({"query": {"v": matcher}}, request(query=query)) == expected


# --- method, host, path ---------------------------------------------------------------------

METHODS = {
    "same": ("POST", "POST", OK),
    "stub-lowercase": ("post", "POST", OK),
    "request-lowercase": ("POST", "post", OK),
    "list": (["GET", "HEAD"], "HEAD", OK),
    "list-lowercase": (["get", "head"], "head", OK),
    "differs": ("POST", "GET", Miss("method", "equals 'POST'", "GET")),
    "not-in-list": (["head", "get"], "DELETE", Miss("method", "one of GET, HEAD", "DELETE")),
}


@pytest.mark.parametrize(("method", "sent", "expected"), **table(METHODS))
def test_method(method: Any, sent: str, expected: Match | Miss) -> None:
    assert outcome({"method": method}, request(method=sent)) == expected


H = missing("host")
HOSTS = {
    "same": ("api.stripe.test", "api.stripe.test", OK),
    "port-ignored": ("api.stripe.test", "api.stripe.test:8080", OK),
    "request-any-case": ("api.stripe.test", "API.Stripe.Test", OK),
    "stub-any-case": ("API.STRIPE.TEST", "api.stripe.test", OK),
    "differs": ("api.stripe.test", "api.other", H("equals 'api.stripe.test'", "api.other")),
    "absent": ("api.stripe.test", None, H("equals 'api.stripe.test'", None)),
}


@pytest.mark.parametrize(("host", "sent", "expected"), **table(HOSTS))
def test_host(host: str, sent: str | None, expected: Match | Miss) -> None:
    headers = [] if sent is None else [("Host", sent)]
    assert outcome({}, request(headers=headers), host=host) == expected


P = missing("path")
PATHS = {
    "literal": ("/v1/charges", None, "/v1/charges", OK),
    "literal-trailing-slash": ("/v1/x", None, "/v1/x/", P("equals '/v1/x'", "/v1/x/")),
    "template": ("/v1/customers/{id}", None, "/v1/customers/cus_1", Match({"id": "cus_1"})),
    "template-two": ("/r/{owner}/{repo}/i", None, "/r/o/h/i", Match({"owner": "o", "repo": "h"})),
    "template-in-segment": ("/files/{name}.json", None, "/files/a.b.json", Match({"name": "a.b"})),
    "template-one-segment": ("/c/{id}", None, "/c/a/b", P("template '/c/{id}'", "/c/a/b")),
    "template-literal-dot": ("/v1.0/{id}", None, "/v1x0/7", P("template '/v1.0/{id}'", "/v1x0/7")),
    "matches": ({"matches": "/v1/c/cus_[a-zA-Z0-9]+"}, None, "/v1/c/cus_Ab9", OK),
    "matches-differs": ({"matches": "/c/[a-z]+"}, None, "/c/1", P("matches '/c/[a-z]+'", "/c/1")),
    "starts-with": ({"starts_with": "/v1/"}, None, "/v1/anything", OK),
    "equals": ({"equals": "/v1"}, None, "/v1", OK),
    "base-literal": ("/v1/charges", "/stripe", "/stripe/v1/charges", OK),
    "base-missing": ("/x", "/stripe", "/x", P("under '/stripe': equals '/x'", "/x")),
    "stripey": ("/x", "/stripe", "/stripey/x", P("under '/stripe': equals '/x'", "/stripey/x")),
    "base-template": ("/v1/c/{id}", "/stripe", "/stripe/v1/c/c1", Match({"id": "c1"})),
    "base-matcher": ({"matches": "/v1/.*"}, "/stripe", "/stripe/v1/x", OK),
    "rest-only": ({"starts_with": "/s"}, "/s", "/s/t", P("under '/s': starts with '/s'", "/s/t")),
    "base-root-bare": ("/", "/stripe", "/stripe", OK),
    "base-root-slash": ("/", "/stripe", "/stripe/", OK),
    "base-only": (None, "/stripe", "/stripe/v1/anything", OK),
    "base-only-bare": (None, "/stripe", "/stripe", OK),
    "base-only-stripey": (None, "/stripe", "/stripey", P("starts with '/stripe'", "/stripey")),
    "base-only-other": (None, "/stripe", "/github/x", P("starts with '/stripe'", "/github/x")),
}


@pytest.mark.parametrize(("path", "base_path", "sent", "expected"), **table(PATHS))
def test_path(path: Any, base_path: str | None, sent: str, expected: Match | Miss) -> None:
    spec = {} if path is None else {"path": path}
    assert outcome(spec, request(path=sent), base_path=base_path) == expected


# --- headers and cookies --------------------------------------------------------------------

AUTH = {"Authorization": {"starts_with": "Bearer sk_"}}
HD = under("headers.")
ACCEPT2 = [("Accept", "text/html"), ("accept", "a/b")]
HEADERS = {
    "matches": (AUTH, [("Authorization", "Bearer sk_1")], OK),
    "request-name-any-case": (AUTH, [("AUTHORIZATION", "Bearer sk_1")], OK),
    "stub-name-any-case": ({"authorization": "t"}, [("Authorization", "t")], OK),
    "absent": (AUTH, [("Accept", "x")], HD("Authorization", "starts with 'Bearer sk_'")),
    "differs": ({"X-Version": 2}, [("x-version", "1")], HD("X-Version", "equals '2'", "1")),
    "repeated-joined": ({"Accept": "text/html, a/b"}, ACCEPT2, OK),
    "repeated-as-one": ({"Accept": "a/b"}, ACCEPT2, HD("Accept", "equals 'a/b'", "text/html, a/b")),
    "repeated-contains": ({"Accept": {"contains": "a/"}}, ACCEPT2, OK),
}


@pytest.mark.parametrize(("headers", "sent", "expected"), **table(HEADERS))
def test_headers(headers: dict[str, Any], sent: list[tuple[str, str]], expected: Any) -> None:
    assert outcome({"headers": headers}, request(headers=sent)) == expected


def test_join_headers_lowercases_names_and_joins_repeats() -> None:
    pairs = [("Accept", "a"), ("X-One", "1"), ("ACCEPT", "b")]
    assert join_headers(pairs) == {"accept": "a, b", "x-one": "1"}


COOKIES = {
    "present": ({"session": {"present": True}}, "a=1; session=abc", OK),
    "absent": ({"session": {"present": True}}, "a=1", Miss("cookies.session", "present", None)),
    "no-cookie-header": ({"session": "abc"}, None, Miss("cookies.session", "equals 'abc'", None)),
    "quoted-value": ({"s": "x"}, 's="x"; t=1', OK),
    "first-of-repeated-wins": ({"s": "2"}, "s=1; s=2", Miss("cookies.s", "equals '2'", "1")),
    "name-case-sensitive": ({"Sid": "1"}, "sid=1", Miss("cookies.Sid", "equals '1'", None)),
}


@pytest.mark.parametrize(("cookies", "sent", "expected"), **table(COOKIES))
def test_cookies(cookies: dict[str, Any], sent: str | None, expected: Match | Miss) -> None:
    headers = [] if sent is None else [("Cookie", sent)]
    assert outcome({"cookies": cookies}, request(headers=headers)) == expected


# --- bodies ---------------------------------------------------------------------------------

J = under("body.json")
JSON_BODIES = {
    "subset": ({"a": 2000, "c": "usd"}, b'{"c": "usd", "a": 2000, "x": 1}', OK),
    "nested-subset": ({"a": {"b": 1}}, b'{"a": {"b": 1, "c": 2}, "d": 3}', OK),
    "int-equals-float": ({"amount": 2000}, b'{"amount": 2000.0}', OK),
    "float-equals-int": ({"amount": 2000.0}, b'{"amount": 2000}', OK),
    "true-is-not-1": ({"paid": True}, b'{"paid": 1}', J(".paid", "equals true", 1)),
    "1-is-not-true": ({"n": 1}, b'{"n": true}', J(".n", "equals 1", True)),
    "text-is-not-number": ({"a": "20"}, b'{"a": 20}', J(".a", "equals '20'", 20)),
    "null": ({"v": None}, b'{"v": null}', OK),
    "null-is-not-0": ({"v": None}, b'{"v": 0}', J(".v", "equals null", 0)),
    "missing-key": ({"v": "x"}, b"{}", J(".v", "equals 'x'")),
    "top-level-null": (None, b"null", OK),
    "item": ({"items": [{"qty": 1}]}, b'{"items":[{"qty":2}]}', J(".items[0].qty", "equals 1", 2)),
    "array-elements-are-subsets": ([{"id": 1}], b'[{"id": 1, "x": 2}]', OK),
    "array-length": ({"a": [1, 2]}, b'{"a": [1, 2, 3]}', J(".a", "an array of 2 items", [1, 2, 3])),
    "array-order": ([1, 2], b"[2, 1]", J("[0]", "equals 1", 2)),
    "object-expected": ({"a": {"b": 1}}, b'{"a": 5}', J(".a", "an object", 5)),
    "object-missing": ({"a": {"b": 1}}, b"{}", J(".a", "an object")),
    "not-json": ({"a": 1}, b"amount=1", J("", "a JSON body", "amount=1")),
    "not-utf8": ({"a": 1}, NOT_UTF8, J("", "a JSON body")),
}


@pytest.mark.parametrize(("expected_json", "body", "expected"), **table(JSON_BODIES))
def test_body_json(expected_json: Any, body: bytes, expected: Match | Miss) -> None:
    assert outcome({"body": {"json": expected_json}}, request(body=body)) == expected


def test_json_difference_names_the_place_under_the_given_root() -> None:
    assert json_difference({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2, "c": 3}]}, "x") is None
    miss = json_difference({"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}]}, "x")
    assert miss == Miss("x.a[1].b", "equals 2", 3)


JP = under("body.json_path.$.")
ITEMS = b'{"items": [{"sku": "a", "qty": 3}, {"sku": "b", "qty": 10}], "paid": true, "n": null}'
JSON_PATHS = {
    "string": ({"$.metadata.order": "42"}, b'{"metadata": {"order": "42"}}', OK),
    "number-as-json-text": ({"$.items[0].qty": {"matches": "^[1-9]$"}}, ITEMS, OK),
    "number-differs": ({"$.items[1].qty": "3"}, ITEMS, JP("items[1].qty", "equals '3'", "10")),
    "yaml-int-vs-json-int": ({"$.a": 3}, b'{"a": 3}', OK),
    "yaml-int-vs-json-text": ({"$.a": 3}, b'{"a": "3"}', OK),
    "true-as-text": ({"$.paid": True}, ITEMS, OK),
    "true-differs": ({"$.p": True}, b'{"p": "yes"}', JP("p", "equals 'true'", "yes")),
    "null-as-text": ({"$.n": "null"}, ITEMS, OK),
    "object-as-compact-json": ({"$.o": '{"b":1}'}, b'{"o": {"b": 1}}', OK),
    "nodes-any": ({"$.items[*].sku": "b"}, ITEMS, OK),
    "nodes-none": ({"$.items[*].sku": "z"}, ITEMS, JP("items[*].sku", "equals 'z'", ["a", "b"])),
    "rfc9535-filter": ({"$.items[?@.sku == 'b'].qty": 10}, ITEMS, OK),
    "absent": ({"$.a": "x"}, b"{}", JP("a", "equals 'x'")),
    "absent-wanted": ({"$.a": {"present": False}}, b'{"b": 1}', OK),
    "not-json": ({"$.a": {"present": True}}, b"a=1", JP("a", "present")),
    "not-utf8": ({"$.a": {"present": False}}, NOT_UTF8, OK),
    "second-query": ({"$.a": 1, "$.b": 2}, b'{"a": 1, "b": 3}', JP("b", "equals '2'", "3")),
}


@pytest.mark.parametrize(("queries", "body", "expected"), **table(JSON_PATHS))
def test_body_json_path(queries: dict[str, Any], body: bytes, expected: Match | Miss) -> None:
    assert outcome({"body": {"json_path": queries}}, request(body=body)) == expected


SCHEMA = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}}}
S = missing("body.json_schema")
JSON_SCHEMAS = {
    "valid": (b'{"amount": 1, "x": 2}', OK),
    "required": (b"{}", S("valid against the schema", "'amount' is a required property")),
    "type": (b'{"amount": "1"}', S("valid against the schema", "'1' is not of type 'integer'")),
    "not-json": (b"amount=1", S("a JSON body valid against the schema", "amount=1")),
    "not-utf8": (NOT_UTF8, S("a JSON body valid against the schema", None)),
}


@pytest.mark.parametrize(("body", "expected"), **table(JSON_SCHEMAS))
def test_body_json_schema(body: bytes, expected: Match | Miss) -> None:
    assert outcome({"body": {"json_schema": SCHEMA}}, request(body=body)) == expected


JSON_TYPE = ("Content-Type", "application/json")
F = under("body.form.")
FORM_CHARSET = ("content-type", "Application/X-WWW-Form-Urlencoded; charset=utf-8")
FORMS = {
    "fields": ({"amount": 2000, "currency": "usd"}, FORM, b"amount=2000&currency=usd&x=1", OK),
    "differs": ({"currency": "usd"}, FORM, b"currency=eur", F("currency", "equals 'usd'", "eur")),
    "stripe-key-encoded": ({"metadata[order_id]": 42}, FORM, b"metadata%5Border_id%5D=42", OK),
    "stripe-key-raw": ({"metadata[order_id]": "42"}, FORM, b"metadata[order_id]=42", OK),
    "key-as-sent": ({"m": {"present": True}}, FORM, b"m[a]=1", F("m", "present")),
    "plus-is-space": ({"name": "a b"}, FORM, b"name=a+b", OK),
    "charset-parameter": ({"a": "1"}, FORM_CHARSET, b"a=1", OK),
    "repeated-any": ({"tag": "b"}, FORM, b"tag=a&tag=b", OK),
    "regex": ({"n": {"matches": "[1-9]+"}}, FORM, b"n=0", F("n", "matches '[1-9]+'", "0")),
    "json-content-type": ({"a": "1"}, JSON_TYPE, b"a=1", F("a", "equals '1'")),
    "no-content-type": ({"a": "1"}, ("Accept", "*/*"), b"a=1", F("a", "equals '1'")),
    "not-utf8": ({"a": "1"}, FORM, b"a=1&b=\xff", F("a", "equals '1'")),
}


@pytest.mark.parametrize(("form", "header", "body", "expected"), **table(FORMS))
def test_body_form(form: dict[str, Any], header: Any, body: bytes, expected: Any) -> None:
    assert outcome({"body": {"form": form}}, request(headers=[header], body=body)) == expected


T = under("body.")
RAW_BODIES = {
    "equals": ({"equals": "hello"}, b"hello", OK),
    "equals-differs": ({"equals": "hello"}, b"hello!", T("equals", "equals 'hello'", "hello!")),
    "equals-empty": ({"equals": "hello"}, b"", T("equals", "equals 'hello'", "")),
    "contains": ({"contains": "ell"}, b"hello", OK),
    "contains-differs": ({"contains": "xyz"}, b"hello", T("contains", "contains 'xyz'", "hello")),
    "matches-whole": ({"matches": "h.*o"}, b"hello", OK),
    "matches-is-full": ({"matches": "ell"}, b"hello", T("matches", "matches 'ell'", "hello")),
    "utf8-text": ({"equals": "caf\u00e9"}, "caf\u00e9".encode(), OK),
    "not-utf8-equals": ({"equals": "caf"}, NOT_UTF8, T("equals", "equals 'caf'")),
    "not-utf8-contains": ({"contains": "caf"}, NOT_UTF8, T("contains", "contains 'caf'")),
    "not-utf8-matches": ({"matches": "(?s).*"}, NOT_UTF8, T("matches", "matches '(?s).*'")),
}


@pytest.mark.parametrize(("body_spec", "body", "expected"), **table(RAW_BODIES))
def test_body_text(body_spec: dict[str, str], body: bytes, expected: Match | Miss) -> None:
    assert outcome({"body": body_spec}, request(body=body)) == expected


BODY_KINDS = {"json": {"a": 1}, "json_path": {"$.b": 2}, "json_schema": {"required": ["c"]}}
REQUIRED_C = "'c' is a required property"
BODY_ORDER = {
    "json-first": (b'{"a": 0, "b": 0}', J(".a", "equals 1", 0)),
    "then-json-path": (b'{"a": 1, "b": 0}', JP("b", "equals '2'", "0")),
    "then-json-schema": (b'{"a": 1, "b": 2}', S("valid against the schema", REQUIRED_C)),
    "then-text": (b'{"a":1,"b":2,"c":0}', T("contains", "contains 'd'", '{"a":1,"b":2,"c":0}')),
    "all-hold": (b'{"a": 1, "b": 2, "c": "d"}', OK),
}


@pytest.mark.parametrize(("body", "expected"), **table(BODY_ORDER))
def test_every_body_kind_must_hold_in_order(body: bytes, expected: Match | Miss) -> None:
    assert outcome({"body": {**BODY_KINDS, "contains": "d"}}, request(body=body)) == expected


# --- the fixed order of fields, and scores for near misses ----------------------------------

FULL_SPEC = {
    "method": "POST",
    "path": "/v1/{id}",
    "query": {"q": "1"},
    "headers": {"X-Key": "k"},
    "cookies": {"s": "1"},
    "body": {"json": {"a": 1}},
}
FIELDS = ("method", "host", "path", "query", "headers", "cookies", "body")
FIRST_MISS = {
    "method": Miss("method", "equals 'POST'", "GET"),
    "host": Miss("host", "equals 'api.test'", "other.test"),
    "path": Miss("path", "template '/v1/{id}'", "/v2/x"),
    "query": Miss("query.q", "equals '1'", "2"),
    "headers": Miss("headers.X-Key", "equals 'k'", "bad"),
    "cookies": Miss("cookies.s", "equals '1'", "2"),
    "body": Miss("body.json.a", "equals 1", 2),
}


def request_breaking(broken: Sequence[str]) -> IncomingRequest:
    """A request matching FULL_SPEC on host api.test, except for the `broken` fields."""
    bad = set(broken)
    headers = [
        ("Host", "other.test" if "host" in bad else "api.test"),
        ("X-Key", "bad" if "headers" in bad else "k"),
        ("Cookie", "s=2" if "cookies" in bad else "s=1"),
    ]
    return request(
        "GET" if "method" in bad else "POST",
        "/v2/x" if "path" in bad else "/v1/x",
        "q=2" if "query" in bad else "q=1",
        headers,
        b'{"a": 2}' if "body" in bad else b'{"a": 1}',
    )


def test_a_request_differing_nowhere_matches_with_its_path_params() -> None:
    incoming = request_breaking(())
    assert outcome(FULL_SPEC, incoming, host="api.test") == Match({"id": "x"})
    assert outcome(FULL_SPEC, incoming, host="api.test", score=True) == Match({"id": "x"})


@pytest.mark.parametrize("position", range(len(FIELDS)), ids=FIELDS)
def test_the_first_differing_field_is_reported_in_fixed_order(position: int) -> None:
    incoming = request_breaking(FIELDS[position:])
    first = FIRST_MISS[FIELDS[position]]
    assert outcome(FULL_SPEC, incoming, host="api.test") == first
    scored = outcome(FULL_SPEC, incoming, host="api.test", score=True)
    path_matched = position > FIELDS.index("path")
    assert scored == replace(first, score=position / len(FIELDS), path_matched=path_matched)


SCORES = {
    "one-of-four-differs": ("POST", "/a", "q=2", Miss("query.q", "equals '1'", "2", 0.75, True)),
    "method-differs": ("GET", "/a", "q=1", Miss("method", "equals 'POST'", "GET", 0.75, True)),
    "path-differs": ("POST", "/b", "q=1", Miss("path", "equals '/a'", "/b", 0.75, False)),
    "all-but-headers": ("GET", "/b", "q=2", Miss("method", "equals 'POST'", "GET", 0.25, False)),
}


@pytest.mark.parametrize(("method", "path", "query", "expected"), **table(SCORES))
def test_score_is_the_share_of_declared_fields_that_matched(
    method: str, path: str, query: str, expected: Miss
) -> None:
    spec = {"method": "POST", "path": "/a", "query": {"q": "1"}, "headers": {"X": "1"}}
    incoming = request(method, path, query, [("X", "1")])
    assert outcome(spec, incoming, score=True) == expected


def test_score_counts_host_and_base_path_and_path_matched_needs_the_host() -> None:
    incoming = request(path="/s/x", query="q=2", headers=[("Host", "b.test")])
    query_miss = Miss("query.q", "equals '1'", "2", score=0.5, path_matched=True)
    assert outcome({"query": {"q": "1"}}, incoming, base_path="/s", score=True) == query_miss
    host_miss = Miss("host", "equals 'a.test'", "b.test", score=0.5, path_matched=False)
    assert outcome({"path": "/x"}, incoming, base_path="/s", host="a.test", score=True) == host_miss
    only_miss = Miss("query.q", "equals '1'", "2", score=0.0, path_matched=True)
    assert outcome({"query": {"q": "1"}}, incoming, score=True) == only_miss


def test_an_empty_request_spec_matches_anything() -> None:
    assert outcome({}, request("PATCH", "/any", "a=1", [("X", "y")], NOT_UTF8)) == OK
