"""Properties of the matcher over arbitrary requests and arbitrary valid stubs (Hypothesis).

Requests carry any bytes as body, any header names and values, any query string and any JSON;
stubs are drawn from the README's `request` format: value matchers (regexes from a safe set),
path templates, JSON subsets, JSONPath queries, small JSON Schemas, forms. Whatever comes in,
matching never raises, `score=True` never changes the verdict, a miss names its field as the
stub file spells it, and the near misses of a 404 are at most three well-formed entries.

Values are drawn from small shared pools as well as at random, so that requests match, half
match and miss by every field, not only by the first. Deterministic: derandomized, no database.
"""

from __future__ import annotations

import json
import string
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mockserver.incoming import IncomingRequest, join_headers, parse_query
from mockserver.matching import (
    Match,
    Miss,
    RequestMatcher,
    compile_request,
    match_params,
    match_request,
)
from mockserver.nearmiss import NEAR_MISS_LIMIT, stub_near_misses
from mockserver.spec import RequestSpec, StubSpec
from mockserver.stub import Stub

PROPERTY: Final = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FIELD_PREFIXES: Final = ("query.", "headers.", "cookies.", "body.")
WHOLE_FIELDS: Final = ("method", "host", "path")

# --- shared pools: what stubs expect and requests send ---------------------------------------

METHODS: Final = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
COMMON_METHODS: Final = ("GET", "POST")
WORDS: Final = ("", "usd", "eur", "10", "2000", "true", "Bearer sk_test_1", "a", "b", "é", "\x00")
NAMES: Final = ("limit", "currency", "Authorization", "X-Id", "session", "amount", "a b", "ü")
SEGMENTS: Final = ("v1", "customers", "charges", "cus_1", "a", "é", "%20", "")
SAFE_REGEXES: Final = (
    "",
    ".*",
    "[a-z]+",
    "^[1-9][0-9]*$",
    "usd|eur",
    "(foo)?bar",
    r"\d{2,4}",
    "[^/]+",
    "x*y?",
    "(?i)bearer .+",
    r"/v1/customers/cus_[a-zA-Z0-9]+",
    "(?s).*\n.*",
)
JSON_PATHS: Final = (
    "$",
    "$.amount",
    "$.metadata.order",
    "$.items[0].id",
    "$..id",
    "$.items[*].qty",
    "$['a b']",
    "$[0]",
    "$[-1]",
    "$[1:3]",
    "$.items[?@.qty > 1]",
    "$[?@ == 'usd']",
    "$.*",
)
JSON_SCHEMAS: Final = (
    {},
    {"type": "object", "required": ["amount"]},
    {"type": "array", "items": {"type": "integer"}},
    {"type": "string", "pattern": "^a"},
    {
        "type": "object",
        "properties": {"amount": {"type": "integer", "minimum": 1}},
        "additionalProperties": False,
    },
    {"enum": [1, "a", None]},
    {"anyOf": [{"type": "null"}, {"type": "number"}]},
    {"not": {"type": "object"}},
    {"type": "object", "properties": {"items": {"type": "array", "minItems": 2}}},
)
STUB_HOSTS: Final = ("api.test", "api.test:8080", "[::1]:8080", "API.Test")
HOST_HEADERS: Final = ("api.test", "api.test:8080", "API.TEST", "[::1]:8080", "[::1]", "x:1:2")
BASE_PATHS: Final = ("/api", "/payments", "/v1")

# --- strategies: JSON -------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(WORDS),
)
json_keys = st.one_of(st.sampled_from(NAMES), st.text(max_size=6))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(json_keys, inner, max_size=4)
    ),
    max_leaves=12,
)

# --- strategies: stubs ------------------------------------------------------------------------

texts = st.one_of(st.sampled_from(WORDS), st.text(max_size=10))
names = st.one_of(st.sampled_from(NAMES), st.text(min_size=1, max_size=8))
leaf_matchers = st.one_of(
    texts,  # a scalar means equals
    st.integers(-5, 5000),  # a YAML number compares as the text it is sent as
    st.booleans(),
    st.builds(lambda value: {"equals": value}, st.one_of(texts, st.integers(-5, 5000))),
    st.builds(lambda value: {"contains": value}, texts),
    st.builds(lambda value: {"starts_with": value}, texts),
    st.builds(lambda pattern: {"matches": pattern}, st.sampled_from(SAFE_REGEXES)),
    st.builds(lambda wanted: {"present": wanted}, st.booleans()),
)


def combined_matchers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # a named function, not a lambda: hypothesis reads its source to check that it recurses,
    # and a lambda written over several lines is not always found
    return st.one_of(
        st.builds(lambda matcher: {"not": matcher}, inner),
        st.builds(lambda matchers: {"any_of": matchers}, st.lists(inner, max_size=3)),
        st.builds(lambda matchers: {"all_of": matchers}, st.lists(inner, max_size=3)),
        st.lists(inner, min_size=1, max_size=3),  # a list is short for all_of
    )


value_matchers = st.recursive(leaf_matchers, combined_matchers, max_leaves=6)
matcher_maps = st.dictionaries(names, value_matchers, max_size=3)


@st.composite
def path_templates(draw: st.DrawFn) -> str:
    """ "/v1/customers/{id}": literal segments and uniquely named parameters."""
    parts = draw(
        st.lists(st.one_of(st.sampled_from(SEGMENTS), st.just("{}")), min_size=0, max_size=4)
    )
    out, index = [], 0
    for part in parts:
        if part == "{}":
            index += 1
            out.append(f"{{p{index}}}")
        else:
            out.append(part)
    return "/" + "/".join(out)


slash_texts = st.builds(lambda rest: "/" + rest, st.text(max_size=8))
path_matchers = st.one_of(
    path_templates(),
    st.builds(lambda path: {"template": path}, path_templates()),
    st.builds(lambda path: {"equals": path}, st.one_of(path_templates(), slash_texts)),
    st.builds(lambda path: {"starts_with": path}, st.one_of(path_templates(), slash_texts)),
    st.builds(lambda text: {"contains": text}, texts),
    st.builds(lambda pattern: {"matches": pattern}, st.sampled_from(SAFE_REGEXES)),
    st.builds(lambda matcher: {"not": matcher}, value_matchers),
    st.builds(lambda matchers: {"any_of": matchers}, st.lists(value_matchers, max_size=3)),
)
method_specs = st.one_of(
    st.sampled_from(COMMON_METHODS),
    st.sampled_from(METHODS).map(str.lower),
    st.lists(st.sampled_from(METHODS), min_size=1, max_size=3),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=6),
)


@st.composite
def body_matchers(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if draw(st.booleans()):
        body["json"] = draw(json_values)
    if draw(st.booleans()):
        queries = draw(st.lists(st.sampled_from(JSON_PATHS), max_size=2, unique=True))
        body["json_path"] = {query: draw(value_matchers) for query in queries}
    if draw(st.booleans()):
        body["json_schema"] = draw(st.sampled_from(JSON_SCHEMAS))
    if draw(st.booleans()):
        body["form"] = draw(matcher_maps)
    for kind, strategy in (
        ("equals", texts),
        ("contains", texts),
        ("matches", st.sampled_from(SAFE_REGEXES)),
    ):
        if draw(st.integers(0, 3)) == 0:
            body[kind] = draw(strategy)
    return body


@st.composite
def request_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A `request` block as a stub file or the admin API would hold it."""
    # method, host and path are compared first: declared less often, the rest is reached too
    optional = {
        "method": (method_specs, 3),
        "path": (path_matchers, 3),
        "query": (matcher_maps, 2),
        "headers": (matcher_maps, 2),
        "cookies": (matcher_maps, 2),
        "body": (body_matchers(), 2),
    }
    return {
        field: draw(strategy)
        for field, (strategy, one_in) in optional.items()
        if draw(st.integers(1, one_in)) == 1
    }


stub_hosts = st.one_of(st.none(), st.none(), st.sampled_from(STUB_HOSTS))
base_paths = st.one_of(st.none(), st.none(), st.sampled_from(BASE_PATHS))


def compiled(spec: dict[str, Any], base_path: str | None, host: str | None) -> RequestMatcher:
    """Every generated spec is valid: a validation error here is a bug of the strategies."""
    return compile_request(RequestSpec.model_validate(spec), base_path=base_path, host=host)


# --- strategies: requests ---------------------------------------------------------------------

any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)
request_paths = st.one_of(
    path_templates().map(lambda path: path.replace("{", "").replace("}", "")),
    st.builds(lambda base, path: base + path, st.sampled_from(BASE_PATHS), path_templates()),
    slash_texts,
    any_text,
)
query_strings = st.one_of(
    any_text,
    st.lists(st.tuples(names, texts), max_size=4).map(
        lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
    ),
    st.sampled_from(["", "&", "=", "a=1&a=2&b", "%ZZ=%", "limit=10&expand", ";;", "a=%ff%fe"]),
)
header_names = st.one_of(
    st.sampled_from((*NAMES, "Content-Type", "Cookie", "Host")), any_text, st.text(max_size=6)
)
header_values = st.one_of(
    texts,
    any_text,
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "session=abc; a=1; session=dup",
            'x="quoted"; ; =; novalue',
            "api.test",
            "api.test:8080",
            "[::1]:8080",
            "[::1",
        ]
    ),
)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.lists(st.tuples(names, texts), max_size=4).map(
        lambda pairs: "&".join(f"{name}={value}" for name, value in pairs).encode()
    ),
    any_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"null", b"[]", b"{}", b"\xff\xfe", b"1e999", b'"\\ud800"']),
)


@st.composite
def incoming_requests(draw: st.DrawFn) -> IncomingRequest:
    method = draw(st.one_of(st.sampled_from(COMMON_METHODS), st.sampled_from(METHODS), any_text))
    pairs = draw(st.lists(st.tuples(header_names, header_values), max_size=6))
    host = draw(st.one_of(st.sampled_from(HOST_HEADERS), any_text))
    if draw(st.booleans()):
        pairs.insert(draw(st.integers(0, len(pairs))), ("Host", host))
    return IncomingRequest(
        method,
        draw(request_paths),
        parse_query(draw(query_strings)),
        join_headers(pairs),
        draw(bodies),
    )


# --- checks -----------------------------------------------------------------------------------


def assert_well_formed(field: str, expected: str, actual: Any) -> None:
    assert isinstance(field, str)
    assert field
    assert field in WHOLE_FIELDS or field.startswith(FIELD_PREFIXES), field
    assert isinstance(expected, str)
    assert expected
    json.dumps(actual, allow_nan=False)  # a near miss goes out in a JSON body


@PROPERTY
@given(
    spec=request_specs(),
    base_path=base_paths,
    host=stub_hosts,
    request=incoming_requests(),
)
def test_matching_any_request_against_any_valid_stub_is_well_formed(
    spec: dict[str, Any], base_path: str | None, host: str | None, request: IncomingRequest
) -> None:
    matcher = compiled(spec, base_path, host)
    fast = match_request(matcher, request)
    scored = match_request(matcher, request, score=True)
    assert isinstance(fast, Match | Miss)
    assert isinstance(scored, Match | Miss)
    # the request path's boolean answer agrees with the explained one, captures included
    params = match_params(matcher, request)
    assert (params is not None) == isinstance(fast, Match)
    assert params is None or (isinstance(fast, Match) and dict(params) == dict(fast.path_params))
    key = matcher.index_key
    if key is not None and request.path == key[1] and (key[0] is None or request.method in key[0]):
        # found by the index: comparing only host and the declared fields gives the same answer
        assert (match_params(matcher, request, indexed=True) is None) == (params is None)
    event("match" if isinstance(fast, Match) else f"miss by {fast.field.split('.')[0]}")
    if isinstance(fast, Match):
        assert scored == fast  # scoring changes nothing about a match, captures included
        assert all(isinstance(value, str) for value in fast.path_params.values())
        return
    assert isinstance(scored, Miss)
    # the first field that differed is the same whether or not the rest is compared
    assert (scored.field, scored.expected, scored.actual) == (
        fast.field,
        fast.expected,
        fast.actual,
    )
    assert_well_formed(scored.field, scored.expected, scored.actual)
    assert 0 <= scored.score <= 1
    assert scored.score < 1  # something differed
    assert isinstance(scored.path_matched, bool)


@st.composite
def stub_lists(draw: st.DrawFn) -> list[Stub]:
    stubs = []
    for order in range(draw(st.integers(0, 6))):
        spec = StubSpec.model_validate({"id": f"stub-{order}", "request": draw(request_specs())})
        base_path = draw(base_paths)
        host = draw(stub_hosts)
        stubs.append(
            Stub(
                id=spec.id or f"stub-{order}",
                source=f"stubs/fuzz.yaml:{order + 1}",
                origin="file",
                order=order,
                spec=spec,
                service=None,
                base_path=base_path,
                host=host,
                matcher=compile_request(spec.request, base_path=base_path, host=host),
                responses=(),
            )
        )
    return stubs


@PROPERTY
@given(stubs=stub_lists(), request=incoming_requests())
def test_near_misses_are_at_most_three_well_formed_entries(
    stubs: list[Stub], request: IncomingRequest
) -> None:
    near = [near_miss.to_json() for near_miss in stub_near_misses(stubs, request)]
    missed = {
        stub.id: outcome
        for stub in stubs
        if isinstance(outcome := match_request(stub.matcher, request, score=True), Miss)
    }
    assert isinstance(near, list)
    event(f"{len(stubs) - len(missed)} of {len(stubs)} stubs matched")
    assert len(near) == min(NEAR_MISS_LIMIT, len(missed))
    assert len({entry["stub_id"] for entry in near}) == len(near)
    for entry in near:
        assert set(entry) == {"stub_id", "source", "field", "expected", "actual"}
        assert entry["stub_id"] in missed
        assert entry["source"].startswith("stubs/fuzz.yaml:")
        assert_well_formed(entry["field"], entry["expected"], entry["actual"])
        json.dumps(entry, allow_nan=False)
    # best first: path and host matched before not, then by the share of fields that matched
    ranks = [
        (missed[entry["stub_id"]].path_matched, missed[entry["stub_id"]].score) for entry in near
    ]
    assert ranks == sorted(ranks, reverse=True)


@pytest.mark.parametrize("body", [b'{"amount": NaN}', b'{"amount": 1e400}', b"-1e999"])
def test_a_non_finite_number_yields_a_miss_that_strict_json_can_encode(body: bytes) -> None:
    matcher = compiled({"body": {"json": {"amount": 1}}}, None, None)
    request = IncomingRequest("POST", "/", {}, {}, body)
    miss = match_request(matcher, request, score=True)
    assert isinstance(miss, Miss)
    json.dumps(miss.actual, allow_nan=False)
