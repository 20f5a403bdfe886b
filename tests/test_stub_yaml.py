"""Stub YAML values mean what they look like (PRODUCT.md §10): YAML 1.2 core-schema types, and
text compared and sent as written. The loader's reading, then requests and httpx against a real
server on loopback for each example of the README."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import yaml

from mockserver.errors import StubLoadError
from mockserver.loader import load_paths, parse_stub_text
from mockserver.stub_yaml import CoreLoader
from tests.serving import ServeInThread, write_stubs


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("NO", "NO"),
        ("no", "no"),
        ("yes", "yes"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("tRUE", "tRUE"),
        ("01234", 1234),
        ("0o17", 15),
        ("0x1F", 31),
        ("-0x1F", "-0x1F"),  # the core schema signs decimal integers only
        ("017", 17),
        ("1_000", "1_000"),
        ("12:30", "12:30"),
        ("190:20:30", "190:20:30"),
        ("1.10", 1.1),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("-.inf", -math.inf),
        ("2026-01-02", "2026-01-02"),
        ("~", None),
        ("null", None),
        ("", None),
        ("0b101", "0b101"),
        ("1.2.3", "1.2.3"),
    ],
    ids=repr,
)
def test_plain_scalars_read_with_yaml_12_core_types(written: str, read: Any) -> None:
    value = yaml.load(f"k: {written}\n", Loader=CoreLoader)["k"]  # a safe loader
    assert value == read
    assert type(value) is type(read)


def test_anchors_and_merge_keys_still_work() -> None:
    text = "base: &b {X-A: 1}\nmerged: {<<: *b, X-B: 2}\n"
    assert yaml.load(text, Loader=CoreLoader)["merged"] == {"X-A": 1, "X-B": 2}


VALUES = """
    - id: values
      request:
        method: POST
        path: /v/1.10
        query: {zip: 01234, version: 1.10, country: NO, flag: on, hex: 0x1F}
        headers: {X-Code: 007, X-Level: {any_of: [1.0, 2.50]}}
        cookies: {session: 0o17}
        body:
          form: {amount: 10.00, ok: yes, when: 12:30}
      response:
        status: 201
        headers:
          {X-Flag: yes, X-Version: 1.10, X-Off: off, X-True: True, Set-Cookie: [a=01, b=1.50]}
        json: {zip: 01234, version: 1.10, country: NO, flag: true, octal: 0o17, hex: 0x1F, on: off}
"""


def stub_of(tmp_path: Path, text: str) -> Any:
    [stub] = load_paths([write_stubs(tmp_path / "stubs", {"s.yaml": text})]).stubs
    return stub


def test_matcher_values_keep_the_text_as_written(tmp_path: Path) -> None:
    request = stub_of(tmp_path, VALUES).spec.request
    equals = {name: matcher.equals for name, matcher in request.query.items()}
    assert equals == {
        "zip": "01234",
        "version": "1.10",
        "country": "NO",
        "flag": "on",
        "hex": "0x1F",
    }
    assert request.headers["X-Code"].equals == "007"
    assert [m.equals for m in request.headers["X-Level"].any_of] == ["1.0", "2.50"]
    assert request.cookies["session"].equals == "0o17"
    form = {name: matcher.equals for name, matcher in request.body.form.items()}
    assert form == {"amount": "10.00", "ok": "yes", "when": "12:30"}


def test_response_headers_keep_the_text_and_json_keeps_the_types(tmp_path: Path) -> None:
    response = stub_of(tmp_path, VALUES).spec.response
    assert response.headers == {
        "X-Flag": "yes",
        "X-Version": "1.10",
        "X-Off": "off",
        "X-True": "True",
        "Set-Cookie": ["a=01", "b=1.50"],
    }
    assert response.json_ == {
        "zip": 1234,
        "version": 1.1,
        "country": "NO",
        "flag": True,
        "octal": 15,
        "hex": 31,
        "on": "off",
    }


def test_quoted_and_typed_fields_are_unchanged(tmp_path: Path) -> None:
    stub = stub_of(
        tmp_path,
        """
        - id: 0123
          priority: 0x0A
          times: 3
          request: {query: {zip: "01234", v: {present: true}}}
          response: {body: 1.10, delay_ms: 010}
        """,
    )
    assert (stub.id, stub.spec.priority, stub.spec.times) == ("0123", 10, 3)
    assert stub.spec.request.query["zip"].equals == "01234"
    assert stub.spec.request.query["v"].present is True
    assert (stub.spec.response.body, stub.spec.response.delay_ms.min) == ("1.10", 10)


def test_stream_texts_keep_the_text_and_event_data_keeps_the_type(tmp_path: Path) -> None:
    stub = stub_of(
        tmp_path,
        """
        - request: {path: /s}
          responses:
            - chunks: {parts: [1.10, 007, yes]}
            - sse: {events: [{id: 01, event: NO, data: 1.10}]}
        """,
    )
    chunks, sse = stub.spec.responses
    assert chunks.chunks.parts == ["1.10", "007", "yes"]
    [event] = sse.sse.events
    assert (event.id, event.event, event.data) == ("01", "NO", 1.1)


def test_errors_still_name_file_line_field_and_value(tmp_path: Path) -> None:
    stubs = write_stubs(
        tmp_path / "stubs",
        {"s.yaml": "- id: a\n  priority: NO\n  request: {query: {zip: ~}}\n"},
    )
    with pytest.raises(StubLoadError) as raised:
        load_paths([stubs])
    messages = sorted(str(error) for error in raised.value.errors)
    path = stubs / "s.yaml"
    assert messages == [
        f"{path}:2: priority: input should be a valid integer, unable to parse string as an "
        "integer (got 'NO')",
        f"{path}:3: request.query.zip: null is not a matcher: use {{present: false}} for an "
        "absent value",
    ]


def test_yaml_sent_to_the_admin_api_reads_the_same() -> None:
    [stub] = parse_stub_text(
        "request: {query: {zip: 01234}}\nresponse: {headers: {X-V: 1.10}, json: {v: 1.10}}\n",
        stub_dirs=(),
    )
    assert stub.spec.request.query["zip"].equals == "01234"
    assert (stub.spec.response.headers, stub.spec.response.json_) == ({"X-V": "1.10"}, {"v": 1.1})


def check_exchange(get: Any, post: Any, base: str) -> None:
    """The VALUES stub over one client: each value as written matches; the answer as written."""
    response = post(
        f"{base}/v/1.10",
        params={"zip": "01234", "version": "1.10", "country": "NO", "flag": "on", "hex": "0x1F"},
        headers={"X-Code": "007", "X-Level": "2.50", "Cookie": "session=0o17"},
        data={"amount": "10.00", "ok": "yes", "when": "12:30"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Flag"] == "yes"
    assert response.headers["X-Version"] == "1.10"
    assert response.headers["X-Off"] == "off"
    assert response.headers["X-True"] == "True"
    assert response.json() == {
        "zip": 1234,
        "version": 1.1,
        "country": "NO",
        "flag": True,
        "octal": 15,
        "hex": 31,
        "on": "off",
    }
    # what YAML 1.1 would have made of the values does not match
    missed = post(
        f"{base}/v/1.10",
        params={"zip": "668", "version": "1.1", "country": "false", "flag": "true", "hex": "31"},
        headers={"X-Code": "7", "X-Level": "2.5", "Cookie": "session=15"},
        data={"amount": "10.0", "ok": "true", "when": "750"},
    )
    assert missed.status_code == 404
    [near] = missed.json()["near_misses"]
    assert (near["stub_id"], near["field"], near["actual"]) == ("values", "query.zip", "668")
    listing = get(f"{base}/__admin/requests").json()["requests"]
    assert [entry["status"] for entry in listing[-2:]] == [201, 404]


def test_requests_sends_values_as_written(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread({"s.yaml": VALUES})
    with requests.Session() as session:
        check_exchange(session.get, session.post, server.url)


def test_httpx_sends_values_as_written(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread({"s.yaml": VALUES})
    with httpx.Client() as client:
        check_exchange(client.get, client.post, server.url)


def test_a_yaml_stub_added_over_the_api_matches_as_written(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread()
    added = httpx.post(
        f"{server.url}/__admin/stubs",
        content="request: {path: /zip, query: {zip: 01234, country: NO}}\n"
        "response: {headers: {X-Version: 1.10}}\n",
        headers={"Content-Type": "application/yaml"},
    )
    assert added.status_code == 201, added.text
    answer = httpx.get(f"{server.url}/zip", params={"zip": "01234", "country": "NO"})
    assert (answer.status_code, answer.headers["X-Version"]) == (200, "1.10")
