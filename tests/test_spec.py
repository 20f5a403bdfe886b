"""The stub format: normalisation, validation errors with their field paths, and the JSON Schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonpath_rfc9535 import JSONPathError
from jsonpath_rfc9535 import compile as compile_jsonpath
from pydantic import BaseModel, ValidationError

from mockserver.spec import (
    DocumentHeader,
    RequestSpec,
    ResponseSpec,
    StubSpec,
    stub_file_schema,
)

STUBS_DIR = Path(__file__).resolve().parent.parent / "stubs"
OPERATORS = "equals, contains, starts_with, matches, present, not, any_of, all_of"


def table(cases: dict[str, Any]) -> dict[str, Any]:
    """{id: case} -> parametrize's argvalues and ids, keeping each id beside its case."""
    return {"argvalues": list(cases.values()), "ids": list(cases)}


def errors(model: type[BaseModel], data: Any) -> list[tuple[str, str]]:
    """Every validation error as (dotted location, message)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(map(str, error["loc"])), error["msg"]) for error in caught.value.errors()]


def library_error(check: Any, value: Any, kind: type[Exception]) -> str:
    """The message a third-party parser gives for `value` (re, JSONPath, JSON Schema)."""
    with pytest.raises(kind) as caught:
        check(value)
    message = str(getattr(caught.value, "message", caught.value))
    assert message
    return message


def check_schema(schema: Any) -> None:
    jsonschema.validators.validator_for(schema).check_schema(schema)


# --- normalisation --------------------------------------------------------------------------


def normalised(request: dict[str, Any]) -> Any:
    spec = RequestSpec.model_validate(request)
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def eq(text: str) -> dict[str, str]:
    return {"equals": text}


ALL_A = {"all_of": [eq("a")]}
NORMALISED = {
    "scalar-is-equals": ({"c": "usd"}, {"c": eq("usd")}),
    "int-as-text": ({"limit": 10}, {"limit": eq("10")}),
    "float-as-text": ({"c": 1.5}, {"c": eq("1.5")}),
    "true-as-text": ({"c": True}, {"c": eq("true")}),
    "false-as-text": ({"c": False}, {"c": eq("false")}),
    "list-is-all-of": ({"expand": ["a", 2]}, {"expand": {"all_of": [eq("a"), eq("2")]}}),
    "operator-values-as-text": ({"c": {"contains": 42}}, {"c": {"contains": "42"}}),
    "starts-with-as-text": ({"c": {"starts_with": True}}, {"c": {"starts_with": "true"}}),
    "not-shorthand": ({"c": {"not": 3}}, {"c": {"not": eq("3")}}),
    "any-of-shorthand": ({"c": {"any_of": [1, ["a"]]}}, {"c": {"any_of": [eq("1"), ALL_A]}}),
    "present-kept": ({"c": {"present": False}}, {"c": {"present": False}}),
    "regex-kept": ({"c": {"matches": "^a+$"}}, {"c": {"matches": "^a+$"}}),
}


@pytest.mark.parametrize(("query", "expected"), **table(NORMALISED))
def test_value_matchers_normalise_shorthand(query: Any, expected: Any) -> None:
    for field in ("query", "headers", "cookies"):
        assert normalised({field: query}) == {field: expected}
    assert normalised({"body": {"form": query, "json_path": {"$.x": 1}}}) == {
        "body": {"form": expected, "json_path": {"$.x": eq("1")}}
    }


REQUESTS = {
    "path-template-as-written": ({"path": "/v1/customers/{id}"}, {"path": "/v1/customers/{id}"}),
    "path-matcher": ({"path": {"matches": "^/v1/.*$"}}, {"path": {"matches": "^/v1/.*$"}}),
    "path-equals": ({"path": {"equals": "/v1"}}, {"path": {"equals": "/v1"}}),
    "method-upper": ({"method": "post"}, {"method": ["POST"]}),
    "methods-upper": ({"method": ["get", "Head"]}, {"method": ["GET", "HEAD"]}),
    "body-json-alias": ({"body": {"json": {"amount": 2000}}}, {"body": {"json": {"amount": 2000}}}),
    "body-text": (
        {"body": {"contains": "x", "matches": "a.*"}},
        {"body": {"contains": "x", "matches": "a.*"}},
    ),
}


@pytest.mark.parametrize(("request_spec", "expected"), **table(REQUESTS))
def test_request_normalisation(request_spec: dict[str, Any], expected: Any) -> None:
    assert normalised(request_spec) == expected


def test_regexes_are_compiled_once_at_validation() -> None:
    spec = RequestSpec.model_validate({"query": {"a": {"matches": "a+"}}, "body": {"matches": "b"}})
    assert spec.query is not None
    assert spec.body is not None
    assert (spec.query["a"].matches, spec.body.matches) == (re.compile("a+"), re.compile("b"))


def test_path_shorthand_is_a_template() -> None:
    path = RequestSpec.model_validate({"path": "/v1/{id}"}).path
    assert path is not None
    assert (path.template, path.equals) == ("/v1/{id}", None)


@pytest.mark.parametrize(
    ("model", "data", "has_json"),
    [
        (RequestSpec, {"body": {"json": None}}, True),
        (RequestSpec, {"body": {"form": {"a": "1"}}}, False),
        (ResponseSpec, {"json": None}, True),
        (ResponseSpec, {"body": "x"}, False),
    ],
    ids=["request-json-null", "request-no-json", "response-json-null", "response-no-json"],
)
def test_json_null_is_an_expectation_distinct_from_absence(
    model: type[BaseModel], data: dict[str, Any], has_json: bool
) -> None:
    validated: Any = model.model_validate(data)
    target = validated.body if model is RequestSpec else validated
    assert target.has_json is has_json


def test_defaults_and_response_header_values_as_text() -> None:
    stub = StubSpec.model_validate({"request": {}})
    assert (stub.id, stub.priority) == (None, 5)
    response = ResponseSpec.model_validate({"headers": {"X-Limit": 5000, "X-Ratio": 1.5}})
    assert (response.status, response.headers) == (200, {"X-Limit": "5000", "X-Ratio": "1.5"})


@pytest.mark.parametrize(
    ("base_path", "expected"),
    [("/stripe", "/stripe"), ("/stripe/", "/stripe"), ("/a/b/", "/a/b"), ("/", None)],
    ids=["plain", "trailing-slash", "nested", "root-is-none"],
)
def test_base_path_loses_its_trailing_slash(base_path: str, expected: str | None) -> None:
    assert (
        DocumentHeader.model_validate({"base_path": base_path, "stubs": []}).base_path == expected
    )


# --- validation errors ----------------------------------------------------------------------

EXTRA = "Extra inputs are not permitted"
DOC, STUB, REQ = DocumentHeader, StubSpec, RequestSpec
UNKNOWN_FIELDS = {
    "document": (DOC, {"sevice": "x", "stubs": []}, "sevice"),
    "stub": (STUB, {"request": {}, "descripton": "x"}, "descripton"),
    "request": (STUB, {"request": {"heders": {}}}, "request.heders"),
    "body": (REQ, {"body": {"jsn": {}}}, "body.jsn"),
    "value-matcher": (REQ, {"headers": {"A": {"starts_wth": "x"}}}, "headers.A.starts_wth"),
    "path-matcher": (REQ, {"path": {"matchs": "/x"}}, "path.matchs"),
    "form-matcher": (REQ, {"body": {"form": {"a": {"equal": "1"}}}}, "body.form.a.equal"),
    "json-path-matcher": (
        REQ,
        {"body": {"json_path": {"$.a": {"eq": 1}}}},
        "body.json_path.$.a.eq",
    ),
    "under-not": (REQ, {"query": {"a": {"not": {"equls": "x"}}}}, "query.a.not.equls"),
    "under-any-of": (REQ, {"query": {"a": {"any_of": [{"equls": "y"}]}}}, "query.a.any_of.0.equls"),
    "under-list": (REQ, {"cookies": {"a": ["x", {"equls": "y"}]}}, "cookies.a.all_of.1.equls"),
    "response": (STUB, {"request": {}, "response": {"stauts": 200}}, "response.stauts"),
    "scenario": (STUB, {"request": {}, "scenario": {"name": "s", "stat": "x"}}, "scenario.stat"),
}


@pytest.mark.parametrize(("model", "data", "location"), **table(UNKNOWN_FIELDS))
def test_unknown_fields_are_errors_at_every_level(
    model: type[BaseModel], data: Any, location: str
) -> None:
    assert errors(model, data) == [(location, EXTRA)]


def one_of(got: str) -> str:
    return f"a value matcher takes exactly one of {OPERATORS}; got {got}"


def slash(value: str) -> str:
    return f"path {value!r} must start with '/'"


def bad_regex(pattern: str) -> str:
    return f"invalid regular expression {pattern!r}: {library_error(re.compile, pattern, re.error)}"


def bad_jsonpath(query: str) -> str:
    message = library_error(compile_jsonpath, query, JSONPathError)
    return f"{query!r} is not an RFC 9535 JSONPath: {message}"


def bad_schema(schema: Any) -> str:
    message = library_error(check_schema, schema, jsonschema.exceptions.SchemaError)
    return f"not a valid JSON Schema: {message}"


NULL = "null is not a matcher: use {present: false} for an absent value"
TWICE = "path parameter {id} appears twice in '/a/{id}/b/{id}'"
REQUEST_ERRORS = {
    "two-operators": (
        {"query": {"a": {"equals": "a", "contains": 1}}},
        "query.a",
        one_of("equals, contains"),
    ),
    "no-operator": ({"headers": {"A": {}}}, "headers.A", one_of("none")),
    "two-with-alias": (
        {"cookies": {"a": {"not": "a", "any_of": ["b"]}}},
        "cookies.a",
        one_of("not, any_of"),
    ),
    "path-two": ({"path": {"template": "/a", "equals": "/a"}}, "path", one_of("equals, template")),
    "null-matcher": ({"body": {"json_path": {"$.a": None}}}, "body.json_path.$.a", NULL),
    "bad-regex": ({"query": {"a": {"matches": "("}}}, "query.a.matches", bad_regex("(")),
    "bad-body-regex": ({"body": {"matches": "[a"}}, "body.matches", bad_regex("[a")),
    "path-no-slash": ({"path": "v1/charges"}, "path.template", slash("v1/charges")),
    "path-equals-no-slash": ({"path": {"equals": "v1"}}, "path.equals", slash("v1")),
    "path-starts-no-slash": ({"path": {"starts_with": "v1"}}, "path.starts_with", slash("v1")),
    "path-number": ({"path": 10}, "path.equals", slash("10")),
    "duplicate-parameter": ({"path": "/a/{id}/b/{id}"}, "path.template", TWICE),
    "bad-jsonpath": ({"body": {"json_path": {"$.[": "x"}}}, "body.json_path", bad_jsonpath("$.[")),
    "jsonpath-no-root": (
        {"body": {"json_path": {"a.b": 1}}},
        "body.json_path",
        bad_jsonpath("a.b"),
    ),
    "schema-type": (
        {"body": {"json_schema": {"type": 12}}},
        "body.json_schema",
        bad_schema({"type": 12}),
    ),
    "schema-required": (
        {"body": {"json_schema": {"required": "a"}}},
        "body.json_schema",
        bad_schema({"required": "a"}),
    ),
    "method-token": ({"method": "GE T"}, "method", "'GE T' is not an HTTP method"),
    "no-methods": ({"method": []}, "method", "an empty list of methods matches nothing"),
}


@pytest.mark.parametrize(("data", "location", "message"), **table(REQUEST_ERRORS))
def test_request_errors(data: dict[str, Any], location: str, message: str) -> None:
    assert errors(RequestSpec, data) == [(location, f"Value error, {message}")]


LINE_BREAK = "Value error, header {!r} must not contain line breaks"
BODIES = "Value error, a response takes at most one of json, body, body_file, sse, chunks; got"
NOT_INT = "Input should be a valid integer, unable to parse string as an integer"
RESPONSE_ERRORS = {
    "json-and-body": ({"json": {"a": 1}, "body": "x"}, [("", f"{BODIES} json, body")]),
    "json-null-and-body": ({"json": None, "body": "x"}, [("", f"{BODIES} json, body")]),
    "body-and-file": ({"body": "x", "body_file": "a.json"}, [("", f"{BODIES} body, body_file")]),
    "value-lf": ({"headers": {"X-A": "a\nSet-Cookie: x"}}, [("headers", LINE_BREAK.format("X-A"))]),
    "value-cr": ({"headers": {"X-A": "a\rb"}}, [("headers", LINE_BREAK.format("X-A"))]),
    "name-crlf": ({"headers": {"X\r\nB": "a"}}, [("headers", LINE_BREAK.format("X\r\nB"))]),
    "status-low": ({"status": 99}, [("status", "Input should be greater than or equal to 200")]),
    "status-high": ({"status": 600}, [("status", "Input should be less than or equal to 599")]),
    "status-text": ({"status": "abc"}, [("status", NOT_INT)]),
}


@pytest.mark.parametrize(("data", "expected"), **table(RESPONSE_ERRORS))
def test_response_errors(data: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors(ResponseSpec, data) == expected


@pytest.mark.parametrize("status", [200, 204, 599], ids=["lowest", "no-content", "highest"])
def test_status_bounds_are_inclusive(status: int) -> None:
    assert ResponseSpec.model_validate({"status": status}).status == status


ID_RULE = "may hold only letters, digits and _ . : @ - (it appears in admin URLs)"


@pytest.mark.parametrize(
    "stub_id",
    ["create-charge", "payments:0", "a.b@c_d-1", "X9"],
    ids=["dashes", "default-id", "every-symbol", "short"],
)
def test_stub_ids_in_the_charset_are_kept(stub_id: str) -> None:
    assert StubSpec.model_validate({"id": stub_id, "request": {}}).id == stub_id


@pytest.mark.parametrize(
    "stub_id",
    ["a b", "a/b", "-a", "", "a?b", "caf\u00e9", "a%20b"],
    ids=["space", "slash", "leading-dash", "empty", "question-mark", "non-ascii", "percent"],
)
def test_stub_ids_outside_the_charset_are_errors(stub_id: str) -> None:
    expected = [("id", f"Value error, id {stub_id!r} {ID_RULE}")]
    assert errors(StubSpec, {"id": stub_id, "request": {}}) == expected


def test_document_errors() -> None:
    assert errors(DocumentHeader, {"base_path": "stripe", "stubs": []}) == [
        ("base_path", "Value error, base_path 'stripe' must start with '/'")
    ]
    assert errors(DocumentHeader, {"service": "x"}) == [("stubs", "Field required")]
    assert errors(StubSpec, {"id": "x"}) == [("request", "Field required")]


# --- the JSON Schema of one stub-file document ----------------------------------------------

SCHEMA = stub_file_schema()
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)


def stub_documents() -> dict[str, Any]:
    """Every document of every stub file in stubs/, keyed "file#index"."""
    documents = {}
    for path in sorted(STUBS_DIR.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json") and "__files" not in path.parts:
            for index, document in enumerate(yaml.safe_load_all(path.read_text("utf-8"))):
                documents[f"{path.relative_to(STUBS_DIR).as_posix()}#{index}"] = document
    return documents


DOCUMENTS = stub_documents()


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["title"] == "mockserver stub file"


def test_the_stub_directory_has_documents() -> None:
    assert DOCUMENTS  # the schema checks below would pass vacuously on an empty stubs/
    assert all(isinstance(document, dict | list) for document in DOCUMENTS.values())


@pytest.mark.parametrize("document", list(DOCUMENTS.values()), ids=list(DOCUMENTS))
def test_the_schema_accepts_every_shipped_stub_document(document: Any) -> None:
    assert [error.message for error in VALIDATOR.iter_errors(document)] == []
    stubs = document if isinstance(document, list) else document["stubs"]
    if isinstance(document, dict):
        DocumentHeader.model_validate(document)  # the models agree with the schema
    for stub in stubs:
        StubSpec.model_validate(stub)


def as_document(stub: dict[str, Any], mapping: bool) -> Any:
    return {"service": "s", "base_path": "/s", "stubs": [stub]} if mapping else [stub]


GOOD_STUB = {"id": "a", "request": {"headers": {"A": "x"}}, "response": {"status": 201}}
SCHEMA_REJECTS = {
    "misspelt-headers": {**GOOD_STUB, "request": {"heders": {"A": "x"}}},
    "status-as-text": {**GOOD_STUB, "response": {"status": "abc"}},
    "misspelt-response": {"id": "a", "request": {}, "respons": {"status": 201}},
}


@pytest.mark.parametrize("mapping", [False, True], ids=["list", "mapping"])
@pytest.mark.parametrize("bad_stub", **table(SCHEMA_REJECTS))
def test_the_schema_rejects_what_the_models_reject(bad_stub: dict[str, Any], mapping: bool) -> None:
    assert VALIDATOR.is_valid(as_document(GOOD_STUB, mapping))
    assert not VALIDATOR.is_valid(as_document(bad_stub, mapping))
    with pytest.raises(ValidationError):
        StubSpec.model_validate(bad_stub)


def test_the_schema_rejects_a_misspelt_document_field() -> None:
    assert not VALIDATOR.is_valid({"sevice": "s", "stubs": []})
    assert VALIDATOR.is_valid({"service": "s", "stubs": []})
