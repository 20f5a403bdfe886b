"""Loading stub files: discovery, documents, default ids, and every error located at path:line.

The locator itself is tested in test_locations.py, response compilation in test_prepare.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mockserver.errors import StubLoadError
from mockserver.loader import (
    build_stubs,
    find_stub_files,
    load_paths,
    parse_stub_data,
    parse_stub_text,
)
from mockserver.spec import DocumentHeader, StubSpec
from tests.serving import write_stubs


def load_errors(directory: Path) -> list[str]:
    with pytest.raises(StubLoadError) as caught:
        load_paths([directory])
    return [str(error) for error in caught.value.errors]


def relative(errors: list[str], directory: Path) -> list[str]:
    return [error.replace(f"{directory}/", "") for error in errors]


def test_files_are_found_recursively_sorted_skipping_body_files_and_hidden(
    tmp_path: Path,
) -> None:
    write_stubs(
        tmp_path,
        {
            "b.yaml": "[]",
            "a/z.yml": "[]",
            "a/b.json": "[]",
            "__files/body.json": "{}",
            "deep/__files/x.yaml": "not: [a stub",
            ".hidden.yaml": "[]",
            "notes.txt": "",
        },
    )
    found = [path.relative_to(tmp_path).as_posix() for path in find_stub_files([tmp_path])]
    assert found == ["a/b.json", "a/z.yml", "b.yaml"]


def test_documents_lists_and_mappings_with_default_ids(tmp_path: Path) -> None:
    write_stubs(
        tmp_path,
        {
            "pay.yaml": """
                - request: {path: /a}
                - id: named
                  request: {path: /b}
                ---
                service: payments
                base_path: /pay/
                host: api.pay.test
                stubs:
                  - request: {path: /c}
            """
        },
    )
    loaded = load_paths([tmp_path])
    stubs = {stub.id: stub for stub in loaded.stubs}
    assert list(stubs) == ["pay:0", "named", "pay:2"]
    assert stubs["pay:2"].service == "payments"
    assert stubs["pay:2"].base_path == "/pay"
    assert stubs["pay:2"].host == "api.pay.test"
    assert stubs["pay:0"].service is None
    assert stubs["pay:0"].source == f"{tmp_path}/pay.yaml:1"
    assert stubs["named"].source == f"{tmp_path}/pay.yaml:2"
    assert stubs["pay:2"].source == f"{tmp_path}/pay.yaml:9"
    assert loaded.files == ((f"{tmp_path}/pay.yaml", 3),)


def test_json_files_load_like_yaml(tmp_path: Path) -> None:
    write_stubs(tmp_path, {"s.json": '{"stubs": [{"id": "j", "request": {"path": "/j"}}]}'})
    assert [stub.id for stub in load_paths([tmp_path]).stubs] == ["j"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            "- request:\n    path: /a\n  response: {status: 200\n",
            "s.yaml:4: malformed YAML: expected ',' or '}', but got '<stream end>' (column 1)",
            id="malformed-yaml-line-and-column",
        ),
        pytest.param(
            "- id: x\n  response: {status: 200}\n",
            "s.yaml:1: request: field required",
            id="no-request",
        ),
        pytest.param(
            "- request: {path: /a}\n  response:\n    status: abc\n",
            "s.yaml:3: response.status: input should be a valid integer, unable to parse "
            "string as an integer (got 'abc')",
            id="wrong-type",
        ),
        pytest.param(
            "- request:\n    path: /a\n    heders: {X: y}\n",
            "s.yaml:3: request.heders: unknown field 'heders'; did you mean 'headers'?",
            id="misspelt-field",
        ),
        pytest.param(
            "- request:\n    query:\n      q: {matches: '(unclosed'}\n",
            "s.yaml:3: request.query.q.matches: invalid regular expression '(unclosed': "
            "missing ), unterminated subpattern at position 0",
            id="bad-regex",
        ),
        pytest.param(
            "- request: {path: /a}\n  response:\n    body_file: __files/missing.json\n",
            "s.yaml:3: response.body_file: '__files/missing.json' does not exist",
            id="missing-body-file",
        ),
        pytest.param(
            "- request: {path: /a}\n  response:\n    body_file: ../../../etc/passwd\n",
            "s.yaml:3: response.body_file: '../../../etc/passwd' resolves outside the stub "
            "directories",
            id="escaping-body-file",
        ),
        pytest.param(
            '- request: {path: /a}\n  response:\n    body_file: "a\\0b.json"\n',
            "s.yaml:3: response.body_file: 'a\\x00b.json' is not a usable file path: embedded "
            "null byte",
            id="nul-in-body-file",
        ),
        pytest.param(
            "- request: {path: /a}\n  response:\n    body_file: " + "n" * 5000 + "\n",
            "s.yaml:3: response.body_file: '" + "n" * 5000 + "' cannot be read: File name too long",
            id="overlong-body-file",
        ),
        pytest.param(
            "- request:\n    path: v1/charges\n",
            "s.yaml:2: request.path: path 'v1/charges' must start with '/'",
            id="relative-path",
        ),
        pytest.param(
            "- request: {path: /a}\n  response:\n    template: true\n    json:\n"
            '      items:\n        - id: "{{ request.path_params.id }"\n',
            "s.yaml:6: response.json.items[0].id: template: template syntax error: unexpected '}'",
            id="template-syntax-error",
        ),
        pytest.param(
            "- request: {path: /a}\n  responses:\n    - {status: 200}\n    - template: true\n"
            "      body: |\n        line one\n        {% if x %}\n",
            "s.yaml:7: responses[1].body: template: template syntax error: Unexpected end of "
            "template",
            id="template-error-in-a-block-scalar-of-a-sequence",
        ),
        pytest.param(
            "- request: {path: /a}\n  response: {json: {}, body: x}\n",
            "s.yaml:2: response: a response takes at most one of json, body, body_file, sse, "
            "chunks; got json, body",
            id="two-bodies",
        ),
        pytest.param(
            "- request: {path: /a}\n  response: {fault: broken_pipe}\n",
            "s.yaml:2: response.fault: input should be 'connection_reset', 'empty_response' or "
            "'malformed_response' (got 'broken_pipe')",
            id="unknown-fault",
        ),
        pytest.param(
            "- request: {path: /a, template: true}\n",
            "s.yaml:1: request.template: unknown field 'template' here: it belongs elsewhere",
            id="known-field-in-the-wrong-place",
        ),
        pytest.param(
            "just a string\n",
            "s.yaml:1: a document must be a list of stubs or a mapping with 'stubs', "
            "got str 'just a string'",
            id="not-a-document",
        ),
        pytest.param(
            "service: x\nstubz: []\n",
            "s.yaml:1: request: field required",
            id="misspelt-stubs-key-reads-as-one-stub",
        ),
    ],
)
def test_each_error_names_file_line_field_and_value(
    tmp_path: Path, content: str, expected: str
) -> None:
    write_stubs(tmp_path, {"s.yaml": content})
    errors = relative(load_errors(tmp_path), tmp_path)
    assert any(error.startswith(expected) for error in errors), errors


def test_all_errors_of_all_files_are_reported_together(tmp_path: Path) -> None:
    write_stubs(
        tmp_path,
        {
            "a.yaml": "- request: {heders: {}}\n- request: {path: /ok}\n- response: {}\n",
            "b.yaml": "- request: {method: [GET, 'not a method']}\n",
            "c.yaml": "oops: [\n",
        },
    )
    errors = relative(load_errors(tmp_path), tmp_path)
    assert [error.split(":")[0] + ":" + error.split(":")[1] for error in errors] == [
        "a.yaml:1",
        "a.yaml:3",
        "b.yaml:1",
        "c.yaml:2",
    ]


def test_duplicate_ids_name_both_places(tmp_path: Path) -> None:
    write_stubs(
        tmp_path,
        {
            "a.yaml": "- id: charge\n  request: {path: /a}\n",
            "b.yaml": "- request: {path: /b}\n- id: charge\n  request: {path: /c}\n",
        },
    )
    errors = relative(load_errors(tmp_path), tmp_path)
    assert errors == ["b.yaml:2: id: duplicate id 'charge': also defined at a.yaml:1"]


def test_body_file_symlink_out_of_the_stub_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    stubs = write_stubs(
        tmp_path / "stubs",
        {"s.yaml": "- request: {path: /a}\n  response: {body_file: __files/link.txt}\n"},
    )
    (stubs / "__files").mkdir()
    os.symlink(outside, stubs / "__files" / "link.txt")
    errors = relative(load_errors(stubs), stubs)
    assert errors == [
        "s.yaml:2: response.body_file: '__files/link.txt' resolves outside the stub directories"
    ]


def test_non_utf8_stub_file_is_an_error(tmp_path: Path) -> None:
    write_stubs(tmp_path, {"s.yaml": b"- request: {path: /\xff}\n"})
    assert relative(load_errors(tmp_path), tmp_path) == [
        "s.yaml:1: not UTF-8 text: invalid start byte"
    ]


def test_missing_stub_directory_is_an_error(tmp_path: Path) -> None:
    assert load_errors(tmp_path / "absent") == [f"{tmp_path}/absent: stub directory does not exist"]


def test_admin_text_accepts_one_stub_with_document_fields(tmp_path: Path) -> None:
    stubs = parse_stub_text(
        "id: one\nservice: pay\nbase_path: /pay\nrequest: {path: /x}\n", stub_dirs=[tmp_path]
    )
    assert [(stub.id, stub.service, stub.base_path, stub.source) for stub in stubs] == [
        ("one", "pay", "/pay", "api")
    ]


def test_admin_text_errors_carry_the_line_of_the_body(tmp_path: Path) -> None:
    with pytest.raises(StubLoadError) as caught:
        parse_stub_text("- request: {path: /a}\n- request: {heders: {}}\n", stub_dirs=[tmp_path])
    assert [str(error) for error in caught.value.errors] == [
        "api:2: request.heders: unknown field 'heders'; did you mean 'headers'?"
    ]


def test_build_stubs_makes_stubs_from_specs_without_yaml(tmp_path: Path) -> None:
    write_stubs(tmp_path, {"__files/c.json": '{"id": "cus_1"}'})
    specs = [
        StubSpec.model_validate({"request": {"path": "/a"}, "response": {"json": {"n": 1}}}),
        StubSpec.model_validate(
            {"id": "file", "request": {"path": "/b"}, "response": {"body_file": "__files/c.json"}}
        ),
    ]
    header = DocumentHeader(service="pay", base_path="/pay", stubs=[])
    stubs = build_stubs(specs, "file", tmp_path, header=header, name="recorded")
    assert [(stub.id, stub.source, stub.origin, stub.service) for stub in stubs] == [
        ("recorded:0", "recorded", "file", "pay"),
        ("file", "recorded", "file", "pay"),
    ]
    assert [stub.responses[0].body for stub in stubs] == [b'{"n":1}', b'{"id": "cus_1"}']
    assert stubs[0].matcher.path is not None
    assert stubs[0].matcher.path.base_path == "/pay"


def test_build_stubs_errors_name_the_field_with_the_given_source(tmp_path: Path) -> None:
    specs = [
        StubSpec.model_validate({"id": "x", "request": {}}),
        StubSpec.model_validate(
            {"id": "x", "request": {}, "responses": [{}, {"body_file": "gone.json"}]}
        ),
    ]
    with pytest.raises(StubLoadError) as caught:
        build_stubs(specs, "api", tmp_path)
    assert [str(error) for error in caught.value.errors] == [
        f"api: responses[1].body_file: 'gone.json' does not exist ({tmp_path}/gone.json)"
    ]
    with pytest.raises(StubLoadError) as caught:
        build_stubs(specs[:1] * 2, "api", tmp_path)
    assert [str(error) for error in caught.value.errors] == [
        "api: id: duplicate id 'x': also defined at api"
    ]


def test_admin_json_is_validated_as_models_and_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(StubLoadError) as caught:
        parse_stub_data(
            [
                {"request": {"path": "v1/charges"}},
                {"request": {"query": {"q": {"matches": "("}}, "heders": {}}},
                "a string",
            ],
            stub_dirs=[tmp_path],
        )
    assert [str(error) for error in caught.value.errors] == [
        "api: request.path: path 'v1/charges' must start with '/'",
        "api: request.query.q.matches: invalid regular expression '(': missing ), "
        "unterminated subpattern at position 0",
        "api: request.heders: unknown field 'heders'; did you mean 'headers'?",
        "api: a stub must be a mapping, got str 'a string'",
    ]


def test_admin_json_keeps_its_numbers(tmp_path: Path) -> None:
    # read back through YAML 1.1, JSON's 1e+100 would have become the string "1e+100"
    stubs = parse_stub_data(
        {"request": {}, "response": {"json": {"big": 1e100, "small": 1e-7}}}, stub_dirs=[tmp_path]
    )
    assert stubs[0].responses[0].body == b'{"big":1e+100,"small":1e-07}'


def test_admin_json_document_fields_apply_and_listing_fields_are_ignored(tmp_path: Path) -> None:
    stubs = parse_stub_data(
        {
            "service": "pay",
            "base_path": "/pay/",
            "stubs": [
                {"id": "one", "source": "s.yaml:1", "hits": 3, "request": {}},
                {"request": {}},
            ],
        },
        stub_dirs=[tmp_path],
    )
    assert [(stub.id, stub.service, stub.base_path, stub.source) for stub in stubs] == [
        ("one", "pay", "/pay", "api"),
        ("api:1", "pay", "/pay", "api"),
    ]
    with pytest.raises(StubLoadError) as caught:
        parse_stub_data({"base_path": "pay", "request": {}}, stub_dirs=[tmp_path])
    assert [str(error) for error in caught.value.errors] == [
        "api: base_path: base_path 'pay' must start with '/'"
    ]
