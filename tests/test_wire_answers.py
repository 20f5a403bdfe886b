"""Fixed and rendered answers sent as bytes we serialise: the same bytes aiohttp would write.

A keep-alive HTTP/1.1 exchange gets the pre-serialised head; HEAD, HTTP/1.0 and
`Connection: close` go through aiohttp's Response. Both must look the same to a client.
"""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import HttpVersion, HttpVersion10, HttpVersion11, web
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.test_utils import TestClient, make_mocked_request

from mockserver.responder import send_prepared
from mockserver.stub import PreparedResponse, serialised_head
from tests.serving import ServeStubs, raw_exchange

STUBS = """
    - id: customer
      request: {method: GET, path: /v1/customers/cus_1}
      response:
        headers: {X-Request-Id: req_1, X-Note: "café"}
        json: {id: cus_1, name: Jenny}
    - id: teapot
      request: {path: /teapot}
      response: {status: 418, body: short and stout}
    - id: odd-status
      request: {path: /odd}
      response: {status: 599, body: odd}
    - id: empty
      request: {path: /empty}
      response: {status: 200}
    - id: no-content
      request: {path: /gone}
      response: {status: 204}
    - id: stub-content-length
      request: {path: /stub-content-length}
      response: {headers: {Content-Length: "2"}, body: "ok"}
    - id: templated
      request: {method: GET, path: "/v1/echo/{id}"}
      response:
        template: true
        headers: {X-Echo: "{{ request.path_params.id }}"}
        json: {id: "{{ request.path_params.id }}"}
    - id: posted
      request: {method: POST, path: /v1/charges, body: {json: {amount: 2000}}}
      response: {status: 201, json: {id: ch_1}}
"""


def parse_responses(data: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """Split a byte stream into (status line, headers, body) by Content-Length."""
    answers = []
    while data:
        head, end, rest = data.partition(b"\r\n\r\n")
        if not end:  # a head still arriving (a read may end anywhere)
            break
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines)
        length = int(headers.get("Content-Length", "0"))
        answers.append((status, headers, rest[:length]))
        data = rest[length:]
    return answers


async def exchange_kept_open(
    client: TestClient[Any, Any], data: bytes, answers: int, receive_buffer: int | None = None
) -> bytes:
    """Send raw requests on one kept-alive connection and read `answers` complete responses."""
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (client.host, client.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(data)
        await writer.drain()
        received = bytearray()
        complete, end = 0, 0  # answers whole so far, and where the last of them ends
        while complete < answers:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            assert chunk, f"connection closed after {bytes(received)!r}"
            received += chunk
            # parse on from the last whole answer: reparsing everything per read is quadratic
            while (head_end := received.find(b"\r\n\r\n", end)) != -1:
                length = _content_length(bytes(received[end:head_end]))
                if len(received) < head_end + 4 + length:
                    break
                complete, end = complete + 1, head_end + 4 + length
        return bytes(received)
    finally:
        writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def parse_complete(data: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """The responses fully received so far (the last may still be arriving, its head too)."""
    complete = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:  # a read can stop in the middle of a head
            break
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines)
        length = int(headers.get("Content-Length", "0"))
        if len(rest) < length:
            break
        complete.append((status, headers, rest[:length]))
        data = rest[length:]
    return complete


def get(path: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: mock", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("path", "status_line"),
    [
        ("/v1/customers/cus_1", "HTTP/1.1 200 OK"),
        ("/teapot", "HTTP/1.1 418 I'm a Teapot"),
        ("/odd", "HTTP/1.1 599 "),
        ("/empty", "HTTP/1.1 200 OK"),
        ("/v1/echo/abc", "HTTP/1.1 200 OK"),  # rendered per request, serialised the same way
    ],
)
async def test_a_kept_alive_answer_is_what_aiohttp_writes_for_a_closing_one(
    serve: ServeStubs, path: str, status_line: str
) -> None:
    client = await serve({"s.yaml": STUBS})
    # the first is answered from the pre-serialised head, the second by aiohttp's Response
    [(fast_status, fast_headers, fast_body)] = parse_responses(
        await exchange_kept_open(client, get(path), 1)
    )
    [(slow_status, slow_headers, slow_body)] = parse_responses(
        await raw_exchange(client, get(path, "Connection: close"))
    )
    assert fast_status == slow_status == status_line
    assert slow_headers.pop("Connection") == "close"
    assert fast_headers.keys() == slow_headers.keys()
    for name in fast_headers.keys() - {"Date"}:
        assert fast_headers[name] == slow_headers[name], name
    assert fast_body == slow_body


async def test_headers_body_and_date_of_a_pre_serialised_answer(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": STUBS})
    before = int(time.time())
    [(status, headers, body)] = parse_responses(
        await exchange_kept_open(client, get("/v1/customers/cus_1"), 1)
    )
    assert status == "HTTP/1.1 200 OK"
    assert headers["X-Request-Id"] == "req_1"
    assert headers["X-Note"] == "café"
    assert headers["Content-Type"] == "application/json"
    assert body == b'{"id":"cus_1","name":"Jenny"}'
    assert headers["Content-Length"] == str(len(body))
    sent = email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
    assert before <= sent <= time.time()
    assert "Connection" not in headers  # HTTP/1.1 keeps the connection open by default


async def test_pipelined_requests_are_answered_in_order_and_journaled(
    serve: ServeStubs,
) -> None:
    client = await serve({"s.yaml": STUBS})
    charge = (
        b"POST /v1/charges HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
        b'Content-Length: 16\r\n\r\n{"amount": 2000}'
    )
    data = get("/teapot") + charge + get("/v1/customers/cus_1") + get("/nowhere") + get("/odd")
    answers = parse_responses(await exchange_kept_open(client, data, 5))
    assert [(status, body[:20]) for status, _, body in answers] == [
        ("HTTP/1.1 418 I'm a Teapot", b"short and stout"),
        ("HTTP/1.1 201 Created", b'{"id":"ch_1"}'),
        ("HTTP/1.1 200 OK", b'{"id":"cus_1","name"'),
        ("HTTP/1.1 404 Not Found", b'{"error": "no stub m'),
        ("HTTP/1.1 599 ", b"odd"),
    ]
    listing = await (await client.get("/__admin/requests")).json()
    assert [(entry["path"], entry["status"]) for entry in listing["requests"]] == [
        ("/teapot", 418),
        ("/v1/charges", 201),
        ("/v1/customers/cus_1", 200),
        ("/nowhere", 404),
        ("/odd", 599),
    ]


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (get("/teapot", method="HEAD"), ("HTTP/1.1 418 I'm a Teapot", b"")),
        (get("/teapot", version="1.0"), ("HTTP/1.0 418 I'm a Teapot", b"short and stout")),
        (get("/gone"), ("HTTP/1.1 204 No Content", b"")),
        (get("/stub-content-length"), ("HTTP/1.1 200 OK", b"ok")),  # the stub's length dropped
    ],
    ids=["head", "http-1.0", "no-content", "stub-content-length-recomputed"],
)
async def test_exchanges_the_http_layer_must_write_go_through_aiohttp(
    serve: ServeStubs, request_bytes: bytes, expected: tuple[str, bytes]
) -> None:
    client = await serve({"s.yaml": STUBS})
    data = request_bytes.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    [(status, headers, body)] = parse_responses(await raw_exchange(client, data))
    assert (status, body) == expected
    assert "Date" in headers


async def test_a_client_that_reads_slowly_gets_every_answer_whole(serve: ServeStubs) -> None:
    # 50 pipelined answers of 256 KiB to a client with a small receive buffer: the server's
    # writes outrun the reader, so it must wait for it (flow control), not drop or mangle
    big = "x" * 262144
    stubs = f"- {{id: big, request: {{path: /big}}, response: {{body: {big}}}}}\n"
    client = await serve({"s.yaml": stubs})
    received = await exchange_kept_open(client, get("/big") * 50, 50, receive_buffer=4096)
    answers = parse_complete(received)
    assert len(answers) == 50
    assert all(status == "HTTP/1.1 200 OK" and body == big.encode() for status, _, body in answers)


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (
            201,
            (("Content-Type", "application/json"),),
            b"{}",
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n",
        ),
        (
            200,
            (),
            b"raw",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: application/octet-stream\r\n",
        ),
        (200, (), b"", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"),
        (599, (("X-A", "é"),), b"", b"HTTP/1.1 599 \r\nX-A: \xe9\r\nContent-Length: 0\r\n"),
    ],
)
def test_serialised_head(
    status: int, headers: tuple[tuple[str, str], ...], body: bytes, expected: bytes
) -> None:
    assert serialised_head(status, headers, body) == expected


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (204, ()),
        (304, ()),
        (101, ()),
        (200, (("content-length", "3"),)),
        (200, (("Transfer-Encoding", "chunked"),)),
        (200, (("Connection", "close"),)),
        (200, (("Date", "yesterday"),)),
        (200, (("Server", "other"),)),
        (200, (("X-Bad", "\udc80"),)),
    ],
)
def test_heads_the_http_layer_must_write_are_not_serialised(
    status: int, headers: tuple[tuple[str, str], ...]
) -> None:
    assert serialised_head(status, headers, b"abc") is None


async def test_a_rendered_answer_carries_its_rendered_header_and_body(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": STUBS})
    [(status, headers, body)] = parse_responses(
        await exchange_kept_open(client, get("/v1/echo/cus_9"), 1)
    )
    assert (status, headers["X-Echo"], body) == ("HTTP/1.1 200 OK", "cus_9", b'{"id":"cus_9"}')
    assert headers["Content-Type"] == "application/json"


def test_a_changed_response_gets_a_head_of_its_own() -> None:
    fixed = PreparedResponse(200, (("Content-Type", "text/plain"),), b"hi")
    longer = replace(fixed, body=b"hello")
    assert fixed.head == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    assert longer.head == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    assert PreparedResponse(200, (), b"", stream=(b"data: 1\n\n",)).head is None


class RecordingTransport(asyncio.Transport):
    """A transport that keeps what is written, so the path an answer took can be seen."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False


@pytest.mark.parametrize(
    ("method", "version", "closing", "writes_itself"),
    [
        ("GET", HttpVersion11, False, True),
        ("POST", HttpVersion11, False, True),
        ("HEAD", HttpVersion11, False, False),
        ("GET", HttpVersion10, False, False),
        ("GET", HttpVersion11, True, False),
    ],
)
def test_only_a_kept_alive_http11_exchange_is_written_directly(
    method: str, version: HttpVersion, closing: bool, writes_itself: bool
) -> None:
    # the byte comparisons above hold whichever path answers; this pins which path does
    transport = RecordingTransport()
    request = make_mocked_request(
        method, "/x", version=version, closing=closing, transport=transport
    )
    fixed = PreparedResponse(200, (("Content-Type", "text/plain"),), b"hi")
    answer = send_prepared(request, fixed, 1_800_000_000.0)
    if writes_itself:
        assert transport.written == [
            fixed.head + b"Date: Fri, 15 Jan 2027 08:00:00 GMT\r\n"
            b"Server: " + SERVER_SOFTWARE.encode() + b"\r\n\r\nhi"
        ]
        assert answer.keep_alive
    else:
        assert transport.written == []
        assert isinstance(answer, web.Response)
        assert (answer.status, answer.body) == (200, b"hi")
