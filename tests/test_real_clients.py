"""HTTP as real clients speak it (PRODUCT.md §10), over a real server on loopback: raw sockets
where the bytes are the point, curl where a real client is.

The HTTP layer owns framing: a stub's Content-Length, Transfer-Encoding or Connection never
makes a malformed message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import importlib.util
import json
import logging
import shutil
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from mockserver.client import AsyncMockServerClient
from mockserver.errors import StubLoadError
from mockserver.intake import ReadBody, decode_body
from mockserver.loader import load_paths
from mockserver.spec import StubSpec, stub_file_schema
from mockserver.writer import write_stubs as write_stubs_yaml
from tests.serving import ServeStubs, raw_exchange, write_stubs
from tests.test_wire_answers import exchange_kept_open, get, parse_responses

FRAMING = """
    - id: pasted
      request: {path: /pasted}
      response:
        headers: {Content-Length: "99", Transfer-Encoding: chunked, X-Kept: yes-it-is}
        body: ok
    - id: closing
      request: {path: /closing}
      response: {headers: {Connection: close}, body: bye}
    - id: closing-rendered
      request: {path: "/closing/{name}"}
      response:
        template: true
        headers: {Connection: close}
        body: "bye {{ request.path_params.name }}"
"""


async def read_until_closed(client: TestClient[Any, Any], data: bytes) -> bytes:
    """Send `data` on a connection the request keeps alive; what came before the server closed
    it (a server that keeps it open fails the test instead of hanging it)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(data)
        await writer.drain()
        received = b""
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                received += chunk
        return received
    finally:
        writer.close()


async def test_a_stubs_framing_headers_are_computed_by_the_server(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": FRAMING})
    # two answers on one connection: a stub's Content-Length of 99 would swallow the second
    answers = parse_responses(await exchange_kept_open(client, get("/pasted") + get("/pasted"), 2))
    assert len(answers) == 2
    for status, headers, body in answers:
        assert (status, body) == ("HTTP/1.1 200 OK", b"ok")
        assert headers["Content-Length"] == "2"
        assert "Transfer-Encoding" not in headers
        assert headers["X-Kept"] == "yes-it-is"


def test_the_loader_warns_of_framing_headers_naming_the_stub(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_stubs(tmp_path, {"s.yaml": FRAMING})
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        loaded = load_paths([tmp_path])
    assert len(loaded.stubs) == 3  # a warning, not a load error
    warnings = [record.getMessage().replace(f"{tmp_path}/", "") for record in caplog.records]
    assert warnings == [
        "s.yaml:4: response.headers.Content-Length: computed by the server from the body; "
        "the stub's value is not sent (stub 'pasted')",
        "s.yaml:4: response.headers.Transfer-Encoding: chosen by the server for the answer; "
        "the stub's value is not sent (stub 'pasted')",
    ]


@pytest.mark.parametrize("path", ["/closing", "/closing/jo"], ids=["fixed", "rendered"])
async def test_a_stubs_connection_close_closes_the_connection(serve: ServeStubs, path: str) -> None:
    client = await serve({"s.yaml": FRAMING})
    # the request asks to keep the connection; the stub's answer ends it
    received = await read_until_closed(client, get(path) + get("/pasted"))
    [(status, headers, body)] = parse_responses(received)
    assert status == "HTTP/1.1 200 OK"
    assert headers["Connection"] == "close"
    assert body.startswith(b"bye")


@pytest.mark.parametrize("status", [100, 101, 103])
def test_an_interim_status_is_a_load_error_at_its_line(tmp_path: Path, status: int) -> None:
    stubs = f"- id: early\n  request: {{path: /early}}\n  response:\n    status: {status}\n"
    write_stubs(tmp_path, {"s.yaml": stubs})
    with pytest.raises(StubLoadError) as caught:
        load_paths([tmp_path])
    [error] = caught.value.errors
    assert str(error) == (
        f"{tmp_path}/s.yaml:4: response.status: {status} is an interim (1xx) status that leaves "
        "the client waiting for a final answer: use 200-599"
    )


REPEATED = """
    - id: cookies
      request: {path: /login}
      response:
        headers: {Set-Cookie: [session=abc; Path=/, theme=dark], X-One: 1}
        body: welcome
    - id: cookies-rendered
      request: {path: "/login/{user}"}
      response:
        template: true
        headers: {Set-Cookie: ["user={{ request.path_params.user }}", theme=dark]}
        body: welcome
    - id: cookies-streamed
      request: {path: /events}
      response:
        headers: {Set-Cookie: [a=1, b=2]}
        sse: {events: [{data: hi}]}
"""


def header_lines_of(head: bytes, name: str) -> list[str]:
    """Every value of header `name` in a response head, line by line as sent."""
    prefix = name.lower() + ":"
    return [
        line.split(":", 1)[1].strip()
        for line in head.decode("latin-1").split("\r\n")
        if line.lower().startswith(prefix)
    ]


@pytest.mark.parametrize(
    ("request_bytes", "cookies"),
    [
        (get("/login"), ["session=abc; Path=/", "theme=dark"]),  # the pre-serialised head
        (get("/login", "Connection: close"), ["session=abc; Path=/", "theme=dark"]),  # aiohttp
        (get("/login", version="1.0"), ["session=abc; Path=/", "theme=dark"]),
        (get("/login/jo"), ["user=jo", "theme=dark"]),
        (get("/events"), ["a=1", "b=2"]),
    ],
    ids=["fixed", "closing", "http10", "rendered", "streamed"],
)
async def test_a_header_given_a_list_is_sent_once_per_value(
    serve: ServeStubs, request_bytes: bytes, cookies: list[str]
) -> None:
    client = await serve({"s.yaml": REPEATED})
    data = request_bytes.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    head = (await raw_exchange(client, data)).partition(b"\r\n\r\n")[0]
    assert head.startswith((b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK"))
    assert header_lines_of(head, "Set-Cookie") == cookies


async def test_a_repeated_header_on_a_kept_alive_connection(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": REPEATED})
    received = await exchange_kept_open(client, get("/login"), 1)
    head = received.partition(b"\r\n\r\n")[0]
    assert header_lines_of(head, "Set-Cookie") == ["session=abc; Path=/", "theme=dark"]
    assert header_lines_of(head, "X-One") == ["1"]


def test_the_stub_schema_allows_a_list_of_header_values() -> None:
    schema = stub_file_schema()
    headers = schema["$defs"]["ResponseSpec"]["properties"]["headers"]["additionalProperties"]
    kinds = {option.get("type") for option in headers["anyOf"]}
    assert {"string", "array"} <= kinds
    jsonschema.validate(
        [{"request": {}, "response": {"headers": {"Set-Cookie": ["a=1", "b=2"]}}}], schema
    )


def test_a_repeated_header_is_written_back_as_a_list(tmp_path: Path) -> None:
    spec = StubSpec.model_validate(
        {"id": "c", "request": {}, "response": {"headers": {"Set-Cookie": ["a=1", "b=2"]}}}
    )
    text = write_stubs_yaml([spec])
    assert "Set-Cookie: [a=1, b=2]" in text
    write_stubs(tmp_path, {"s.yaml": text})
    [stub] = load_paths([tmp_path]).stubs
    assert stub.spec == spec
    assert stub.responses[0].headers == (("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"))


STREAMS = """
    - id: events
      request: {path: /events}
      response:
        sse: {events: [{id: "1", data: {n: 1}}, {data: "[DONE]"}], interval_ms: 20}
    - id: parts
      request: {path: /parts}
      response: {chunks: {parts: [one-, two-, three]}}
"""
EVENTS_BODY = b'id: 1\ndata: {"n":1}\n\ndata: [DONE]\n\n'


@pytest.mark.parametrize(("path", "body"), [("/events", EVENTS_BODY), ("/parts", b"one-two-three")])
async def test_an_http10_client_gets_a_stream_close_delimited(
    serve: ServeStubs, path: str, body: bytes
) -> None:
    client = await serve({"s.yaml": STREAMS})
    # no Connection: close: an HTTP/1.0 request closes unless it asks for keep-alive
    received = await read_until_closed(client, get(path, version="1.0"))
    head, _, sent = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert header_lines_of(head, "Transfer-Encoding") == []
    assert header_lines_of(head, "Content-Length") == []
    assert sent == body
    [entry] = (await (await client.get("/__admin/requests")).json())["requests"]
    assert (entry["path"], entry["status"]) == (path, 200)
    assert "error" not in entry


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(("path", "body"), [("/events", EVENTS_BODY), ("/parts", b"one-two-three")])
async def test_curl_http10_reads_a_whole_stream(serve: ServeStubs, path: str, body: bytes) -> None:
    client = await serve({"s.yaml": STREAMS})
    curl = await asyncio.create_subprocess_exec(
        "curl", "--http1.0", "--silent", "--show-error", "--include", "--max-time", "10",
        str(client.make_url(path)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await curl.communicate()
    assert curl.returncode == 0, err
    head, _, sent = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert sent == body


COMPRESSED = """
    - id: charge
      request: {method: POST, path: /v1/charges, body: {json: {amount: 2000}}}
      response: {status: 201, json: {id: ch_1}}
"""
CHARGE = b'{"amount": 2000, "currency": "usd"}'


def compressed(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "raw-deflate":  # sent as "deflate" by some clients: no zlib wrapper
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(data) + packer.flush()
    if encoding == "gzip, deflate":  # gzip first, then deflate
        return zlib.compress(gzip.compress(data))
    raise AssertionError(encoding)


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: mock", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode() + body


async def journal(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    listing: dict[str, Any] = await (await client.get("/__admin/requests")).json()
    return list(listing["requests"])


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "gzip, deflate"])
async def test_a_compressed_body_is_decoded_for_matching(serve: ServeStubs, encoding: str) -> None:
    client = await serve({"s.yaml": COMPRESSED})
    sent = compressed(encoding, CHARGE)
    header = "deflate" if encoding == "raw-deflate" else encoding
    data = post(
        "/v1/charges", sent, "Content-Type: application/json", f"Content-Encoding: {header}"
    )
    [(status, _, body)] = parse_responses(await raw_exchange(client, data))
    assert (status, body) == ("HTTP/1.1 201 Created", b'{"id":"ch_1"}')
    [entry] = await journal(client)
    assert (entry["status"], entry["body"], entry["json"]) == (201, CHARGE.decode(), {
        "amount": 2000, "currency": "usd"
    })  # fmt: skip
    assert entry["content_encoding"] == header
    assert base64.b64decode(entry["raw_body"]) == sent  # what arrived is kept too


async def test_the_client_reads_the_encoding_and_the_raw_body(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": COMPRESSED})
    sent = gzip.compress(CHARGE)
    await raw_exchange(client, post("/v1/charges", sent, "Content-Encoding: gzip"))
    async with AsyncMockServerClient(str(client.make_url(""))) as mock:
        [entry] = await mock.requests()
    assert (entry.content_encoding, entry.raw_body, entry.content) == ("gzip", sent, CHARGE)


def test_a_decoded_body_has_its_decoded_size() -> None:
    sent = gzip.compress(CHARGE)
    body = decode_body(ReadBody(sent, len(sent), truncated=False), "gzip", 1000)
    assert (body.data, body.size, body.raw, body.encoding) == (CHARGE, len(CHARGE), sent, "gzip")
    assert decode_body(ReadBody(b"x", 1, truncated=False), "identity", 1000).raw is None


@pytest.mark.parametrize(
    ("encoding", "sent", "status", "error"),
    [
        (
            "gzip",
            b"not gzip at all",
            400,
            "the body does not decode as gzip: Error -3 while decompressing data: "
            "incorrect header check",
        ),
        (
            "gzip",
            gzip.compress(CHARGE)[:-12],
            400,
            "the body does not decode as gzip: "
            "the data ends before the end of the compressed stream",
        ),
        (
            "compress",
            b"\x1f\x9d\x90",
            415,
            "content encoding 'compress' cannot be decoded here (it decodes ",
        ),
    ],
    ids=["not-gzip", "cut-gzip", "unknown"],
)
async def test_a_body_that_does_not_decode_is_journaled_and_answered_json(
    serve: ServeStubs, encoding: str, sent: bytes, status: int, error: str
) -> None:
    client = await serve({"s.yaml": COMPRESSED})
    data = post("/v1/charges", sent, f"Content-Encoding: {encoding}")
    [(status_line, headers, body)] = parse_responses(await raw_exchange(client, data))
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers["Content-Type"] == "application/json"
    reason = json.loads(body)["error"]
    assert reason.startswith(error)  # what it decodes depends on the libraries installed
    [entry] = await journal(client)
    assert (entry["status"], entry["error"], entry["matched"]) == (status, reason, False)
    assert entry["content_encoding"] == encoding
    assert "raw_body" not in entry  # not decoded: `body` is what arrived
    assert base64.b64decode(entry["body"]) == sent or entry["body"] == sent.decode()


def optional_codec(encoding: str) -> Any:
    """The module that compresses `encoding` in these tests, or None when it is not installed."""
    names = {"br": ["brotli"], "zstd": ["compression.zstd", "backports.zstd"]}[encoding]
    for name in names:
        with contextlib.suppress(ImportError):
            return importlib.import_module(name)
    return None


@pytest.mark.parametrize("encoding", ["br", "zstd"])
async def test_an_encoding_without_its_library_is_415(serve: ServeStubs, encoding: str) -> None:
    if optional_codec(encoding) is not None:
        pytest.skip(f"{encoding} can be decoded here")
    client = await serve({"s.yaml": COMPRESSED})
    data = post("/v1/charges", b"\x0b\x02\x80", f"Content-Encoding: {encoding}")
    [(status_line, _, _)] = parse_responses(await raw_exchange(client, data))
    assert status_line == "HTTP/1.1 415 Unsupported Media Type"
    [entry] = await journal(client)
    assert (entry["status"], entry["content_encoding"]) == (415, encoding)


@pytest.mark.parametrize("encoding", ["br", "zstd"])
async def test_br_and_zstd_decode_where_their_library_is_installed(
    serve: ServeStubs, encoding: str
) -> None:
    codec = optional_codec(encoding)
    if codec is None:
        pytest.skip(f"{encoding} cannot be decoded here")
    client = await serve({"s.yaml": COMPRESSED})
    sent = codec.compress(CHARGE)
    data = post("/v1/charges", sent, f"Content-Encoding: {encoding}")
    [(status, _, _)] = parse_responses(await raw_exchange(client, data))
    assert status == "HTTP/1.1 201 Created"
    cut = post("/v1/charges", sent[:-3], f"Content-Encoding: {encoding}")
    [(status, _, _)] = parse_responses(await raw_exchange(client, cut))
    assert status == "HTTP/1.1 400 Bad Request"
    entries = await journal(client)
    assert [(entry["status"], entry["content_encoding"]) for entry in entries] == [
        (201, encoding),
        (400, encoding),
    ]


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
async def test_a_body_that_inflates_past_the_limit_is_413(serve: ServeStubs, encoding: str) -> None:
    codec = gzip if encoding == "gzip" else optional_codec(encoding)
    if codec is None:
        pytest.skip(f"{encoding} cannot be decoded here")
    client = await serve({"s.yaml": COMPRESSED}, max_body=10_000)
    bomb = codec.compress(b"\0" * 10_000_000)  # 10 MB of zeros in at most 10 KB
    assert len(bomb) < 10_000
    data = post("/v1/charges", bomb, f"Content-Encoding: {encoding}")
    [(status_line, _, body)] = parse_responses(await raw_exchange(client, data))
    assert status_line == "HTTP/1.1 413 Request Entity Too Large"
    reason = f"the {encoding} body decodes to more than the limit of 10000 bytes"
    assert json.loads(body)["error"] == reason
    [entry] = await journal(client)
    assert (entry["status"], entry["error"]) == (413, reason)


async def test_curl_sends_a_gzip_body_that_matches(serve: ServeStubs, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    client = await serve({"s.yaml": COMPRESSED})
    payload = tmp_path / "charge.json.gz"
    payload.write_bytes(gzip.compress(CHARGE))
    curl = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--max-time", "10", "--data-binary", f"@{payload}",
        "-H", "Content-Type: application/json", "-H", "Content-Encoding: gzip",
        "--write-out", "\n%{http_code}", str(client.make_url("/v1/charges")),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await curl.communicate()
    assert curl.returncode == 0, err
    assert out == b'{"id":"ch_1"}\n201'


async def test_the_admin_api_reads_a_gzip_body(serve: ServeStubs) -> None:
    client = await serve({})
    stub = b'{"request": {"path": "/z"}, "response": {"body": "zipped"}}'
    added = await client.post(
        "/__admin/stubs",
        data=gzip.compress(stub),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert added.status == 201, await added.text()
    assert await (await client.get("/z")).text() == "zipped"
