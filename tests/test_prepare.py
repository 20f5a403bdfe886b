"""Response compilation: bodies, Content-Types, SSE frames, body files and templates, at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mockserver.prepare import ResponseError, prepare_response, sse_frame
from mockserver.spec import ResponseSpec, SseEvent
from tests.serving import write_stubs


def prepared_headers(response: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    prepared = prepare_response(ResponseSpec.model_validate(response), tmp_path, (tmp_path,))
    return dict(prepared.headers)


@pytest.mark.parametrize(
    ("response", "body", "content_type"),
    [
        (
            {"json": {"id": "ch_1", "amount": 2000}},
            b'{"id":"ch_1","amount":2000}',
            "application/json",
        ),
        ({"json": None}, b"null", "application/json"),
        ({"body": "plain"}, b"plain", "text/plain; charset=utf-8"),
        ({}, b"", None),
        (
            {"json": {}, "headers": {"content-type": "application/vnd.api+json"}},
            b"{}",
            "application/vnd.api+json",
        ),
    ],
    ids=["json", "json-null", "text", "no-body", "own-content-type"],
)
def test_bodies_are_serialised_once_with_their_content_type(
    tmp_path: Path, response: dict[str, Any], body: bytes, content_type: str | None
) -> None:
    prepared = prepare_response(ResponseSpec.model_validate(response), tmp_path, (tmp_path,))
    assert prepared.body == body
    types = [value for name, value in prepared.headers if name.lower() == "content-type"]
    assert types == ([content_type] if content_type else [])


def test_an_event_stream_is_framed_at_load_and_not_cached(tmp_path: Path) -> None:
    response = {"sse": {"events": [{"data": "a"}, {"data": "[DONE]"}], "interval_ms": 20}}
    prepared = prepare_response(ResponseSpec.model_validate(response), tmp_path, (tmp_path,))
    assert prepared.stream == (b"data: a\n\n", b"data: [DONE]\n\n")
    assert prepared.interval_ms == 20
    assert prepared_headers(response, tmp_path) == {
        "Cache-Control": "no-cache",
        "Content-Type": "text/event-stream; charset=utf-8",
    }


@pytest.mark.parametrize(
    ("event", "frame"),
    [
        ({"data": {"delta": "hi"}}, b'data: {"delta":"hi"}\n\n'),
        ({"data": "[DONE]"}, b"data: [DONE]\n\n"),
        ({"data": "one\ntwo"}, b"data: one\ndata: two\n\n"),
        (
            {"id": "7", "event": "message", "retry": 100, "data": 1},
            b"id: 7\nevent: message\nretry: 100\ndata: 1\n\n",
        ),
    ],
    ids=["object-on-one-line", "string-verbatim", "a-data-line-per-line", "every-field"],
)
def test_sse_frames(event: dict[str, Any], frame: bytes) -> None:
    assert sse_frame(SseEvent.model_validate(event)) == frame


def test_body_file_is_read_at_load_time_with_a_type_from_its_name(tmp_path: Path) -> None:
    write_stubs(tmp_path, {"__files/c.json": '{"id": "cus_1"}'})
    spec = ResponseSpec(body_file="__files/c.json")
    prepared = prepare_response(spec, tmp_path, (tmp_path,))
    (tmp_path / "__files" / "c.json").unlink()
    assert prepared.body == b'{"id": "cus_1"}'
    assert ("Content-Type", "application/json; charset=utf-8") in prepared.headers


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("missing.json", "'missing.json' does not exist"),
        ("../outside.txt", "'../outside.txt' resolves outside the stub directories"),
    ],
    ids=["missing", "outside"],
)
def test_an_unusable_body_file_names_its_field(tmp_path: Path, relative: str, message: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    with pytest.raises(ResponseError) as caught:
        prepare_response(ResponseSpec(body_file=relative), stubs, (stubs,))
    assert caught.value.loc == ("body_file",)
    assert caught.value.message.startswith(message)


def test_a_template_error_carries_its_path_and_line_inside_the_response(tmp_path: Path) -> None:
    spec = ResponseSpec.model_validate(
        {"template": True, "json": {"items": [{"id": "ok"}, {"id": "line\n{{ x }"}]}}
    )
    with pytest.raises(ResponseError) as caught:
        prepare_response(spec, tmp_path, (tmp_path,))
    assert caught.value.loc == ("json", "items", 1, "id")
    assert caught.value.line == 2
    assert caught.value.message.startswith("template: template syntax error")


def test_text_that_is_not_unicode_is_an_error_of_the_response(tmp_path: Path) -> None:
    with pytest.raises(ResponseError) as caught:
        prepare_response(ResponseSpec(body="\ud800"), tmp_path, (tmp_path,))
    assert caught.value.loc == ()
    assert "unpaired surrogate" in caught.value.message
