"""The path:line locator: field paths walked through YAML node trees, and pydantic errors worded."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from mockserver.locations import (
    Located,
    SourceMap,
    format_loc,
    model_errors,
    written_loc,
)
from mockserver.spec import RequestSpec, StubSpec

PAYMENTS = textwrap.dedent(
    """\
    service: payments
    stubs:
      - id: charge
        request:
          method: POST
          path: /v1/charges
          query: {expand: customer}
        response:
          json:
            id: ch_1
            amount: 2000
            items:
              - sku: a
              - sku: b
          headers:
            X-Note: |
              first
              second
    ---
    - request: {path: /two}
    """
)


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        ((), ""),
        (("request",), "request"),
        (("request", "query", "a", 0), "request.query.a[0]"),
        ((0, "request"), "[0].request"),
        (("responses", 1, "body"), "responses[1].body"),
    ],
    ids=["empty", "one-key", "keys-and-index", "leading-index", "sequence"],
)
def test_format_loc_spells_a_path_as_in_the_file(loc: tuple[str | int, ...], text: str) -> None:
    assert format_loc(loc) == text


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        ((), 1),
        (("stubs",), 2),
        (("stubs", 0), 3),
        (("stubs", 0, "request", "path"), 6),
        (("stubs", 0, "response", "json", "amount"), 11),
        (("stubs", 0, "response", "json", "items", 1, "sku"), 14),
        (("stubs", 0, "request", "query", "expand", "equals"), 7),
        (("stubs", 0, "request", "headers", "X"), 4),
        (("stubs", 5, "request"), 2),
    ],
    ids=[
        "document",
        "key",
        "list-item",
        "nested-key",
        "response-json-field",
        "inside-a-list",
        "shorthand-stops-at-its-key",
        "missing-key-its-parent",
        "missing-index-its-list",
    ],
)
def test_line_of_names_the_line_where_a_field_was_written(
    loc: tuple[str | int, ...], line: int
) -> None:
    assert SourceMap.from_text(PAYMENTS, "pay.yaml").line_of(loc) == line


def test_each_document_has_its_own_lines() -> None:
    source_map = SourceMap.from_text(PAYMENTS, "pay.yaml")
    assert len(source_map.documents) == 2
    assert source_map.source_of((0, "request", "path"), document=1) == "pay.yaml:20"


def test_a_located_node_answers_below_itself() -> None:
    document = SourceMap.from_text(PAYMENTS, "pay.yaml").documents[0]
    stub = document.at(("stubs", 0))
    assert stub is not None
    assert stub.source == "pay.yaml:3"
    assert stub.source_of(("response", "json", "amount")) == "pay.yaml:11"
    assert document.at(("stubs", 3)) is None


@pytest.mark.parametrize(
    ("loc", "written"),
    [
        (("request", "query", "expand", "equals"), ("request", "query", "expand")),
        (("request", "heders"), ("request", "heders")),
        (("request", "headers", "X", "equals"), ("request", "headers", "X", "equals")),
        (("response", "json", "items", 1, "sku"), ("response", "json", "items", 1, "sku")),
    ],
    ids=["shorthand-stops", "unknown-key-kept", "missing-key-keeps-the-rest", "list-index"],
)
def test_the_written_part_of_a_path_is_what_the_user_typed(
    loc: tuple[str | int, ...], written: tuple[str | int, ...]
) -> None:
    document = SourceMap.from_text(PAYMENTS, "pay.yaml").documents[0]
    stub = document.at(("stubs", 0))
    assert stub is not None
    assert stub.written(loc) == written
    data = {
        "request": {"query": {"expand": "customer"}, "heders": {}},
        "response": {"json": {"items": [{"sku": "a"}, {"sku": "b"}]}},
    }
    assert written_loc(data, loc) == written


def test_a_line_inside_a_block_scalar_counts_from_the_line_below_its_key() -> None:
    stub = SourceMap.from_text(PAYMENTS, "pay.yaml").documents[0].at(("stubs", 0))
    assert stub is not None
    assert stub.line_in_value(("response", "headers", "X-Note"), 2) == 18
    assert stub.line_in_value(("request", "path"), 1) == 6


def test_validation_errors_are_placed_at_their_lines() -> None:
    stub = SourceMap.from_text(
        "- request:\n    path: v1\n    heders: {}\n  priority: high\n", "s.yaml"
    ).documents[0]
    with pytest.raises(ValidationError) as caught:
        StubSpec.model_validate({"request": {"path": "v1", "heders": {}}, "priority": "high"})
    located = stub.at((0,))
    assert isinstance(located, Located)
    assert [str(error) for error in located.errors(caught.value)] == [
        "s.yaml:4: priority: input should be a valid integer, unable to parse string as an "
        "integer (got 'high')",
        "s.yaml:2: request.path: path 'v1' must start with '/'",
        "s.yaml:3: request.heders: unknown field 'heders'; did you mean 'headers'?",
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"path": "v1/charges"},
            [{"field": "path", "message": "path 'v1/charges' must start with '/'"}],
        ),
        (
            {"heders": {}},
            [{"field": "heders", "message": "unknown field 'heders'; did you mean 'headers'?"}],
        ),
        (
            {"template": True},
            [
                {
                    "field": "template",
                    "message": "unknown field 'template' here: it belongs elsewhere in a stub",
                }
            ],
        ),
        (
            {"query": []},
            [{"field": "query", "message": "input should be a valid dictionary (got a list)"}],
        ),
    ],
    ids=["plain-path-string", "misspelt", "right-name-wrong-place", "wrong-kind"],
)
def test_model_errors_word_an_admin_body_with_field_paths(
    data: dict[str, object], expected: list[dict[str, str]]
) -> None:
    with pytest.raises(ValidationError) as caught:
        RequestSpec.model_validate(data)
    assert model_errors(caught.value) == expected
