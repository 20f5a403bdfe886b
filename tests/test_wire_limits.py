"""Limits are flags (PRODUCT.md §10): `--max-line-size`, `--max-field-size`, `--max-headers`. A
request over them is answered 414 (its request line) or 431 (its headers) as JSON, and journaled
with what was read of it: method, path so far, the header lines that arrived whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.request
from typing import Any

import aiohttp
import httpx
import pytest
import requests
from aiohttp.test_utils import TestClient

from mockserver.refused import RefusedHead, read_refused_head, read_refused_heads
from tests.serving import ServeInThread, ServeStubs, raw_exchange, write_stubs
from tests.test_cli import Server
from tests.test_wire_paths import require_tool

STUBS = "- {id: open, request: {path: /open}, response: {body: open}}\n"


async def journal(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await (await client.get("/__admin/requests")).json())[
        "requests"
    ]
    return entries


async def get_with(kind: str, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    """GET with a real client; (status, JSON body)."""
    if kind == "aiohttp":
        async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as got:
            return got.status, await got.json()
    if kind == "httpx":
        async with httpx.AsyncClient() as http:
            answer = await http.get(url, headers=headers)
            return answer.status_code, answer.json()
    if kind == "requests":
        reply = await asyncio.to_thread(requests.get, url, headers=headers, timeout=10)
        return reply.status_code, reply.json()
    require_tool("curl")
    arguments = [
        part for name, value in headers.items() for part in ("--header", f"{name}: {value}")
    ]
    curl = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--max-time", "10", "--write-out", "\n%{http_code}",
        *arguments, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await curl.communicate()
    assert curl.returncode == 0, err
    body, _, status = out.decode().rpartition("\n")
    return int(status), json.loads(body)


CLIENTS = ["aiohttp", "httpx", "requests", "curl"]


@pytest.mark.parametrize("kind", CLIENTS)
async def test_a_request_line_over_the_limit_is_414_and_journaled(
    serve: ServeStubs, kind: str
) -> None:
    client = await serve({"s.yaml": STUBS}, max_line_size=200)
    long_path = "/open/" + "a" * 300
    status, body = await get_with(kind, f"http://{client.host}:{client.port}{long_path}", {})
    assert status == 414
    assert body["error"] == "request line longer than 200 bytes"
    assert body["details"] == [
        {"field": "request line", "message": "raise it with --max-line-size"}
    ]
    [entry] = await journal(client)
    assert (entry["method"], entry["status"], entry["matched"]) == ("GET", 414, False)
    assert entry["error"] == "request line longer than 200 bytes"
    assert long_path.startswith(entry["path"])  # the path so far
    assert entry["path"].startswith("/open/aaaa")
    assert (await client.get("/open")).status == 200  # the limit is the request line's only


@pytest.mark.parametrize("kind", CLIENTS)
async def test_a_header_line_over_the_limit_is_431_and_journaled(
    serve: ServeStubs, kind: str
) -> None:
    client = await serve({"s.yaml": STUBS}, max_field_size=500)
    headers = {"X-Before": "kept", "X-Big": "b" * 800}
    status, body = await get_with(kind, f"http://{client.host}:{client.port}/open?q=1", headers)
    assert status == 431
    assert body["error"] == "request headers too large: a header line over 500 bytes"
    assert body["details"] == [{"field": "headers", "message": "raise it with --max-field-size"}]
    [entry] = await journal(client)
    assert (entry["method"], entry["path"], entry["query"], entry["status"]) == (
        "GET",
        "/open",
        {"q": ["1"]},
        431,
    )
    assert entry["headers"]["x-before"] == "kept"
    assert "x-big" not in entry["headers"]  # it never arrived whole


async def test_too_many_headers_is_431_and_journaled(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": STUBS}, max_headers=5)
    many = "".join(f"X-H{index}: v\r\n" for index in range(8))
    answer = await raw_exchange(
        client, f"POST /~w1/open HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode()
    )
    assert answer.split(b" ", 2)[1] == b"431"
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert body["error"] == "request headers too large: more than 5 headers"
    assert body["details"] == [{"field": "headers", "message": "raise it with --max-headers"}]
    listing = await (await client.get("/__admin/ns/w1/requests")).json()
    [entry] = listing["requests"]
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/open", 431)
    assert entry["error"] == "request headers too large: more than 5 headers"
    assert len(entry["headers"]) == 5


async def test_malformed_bytes_that_begin_a_request_are_journaled(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": STUBS})
    answer = await raw_exchange(client, b"GET /open HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"400"
    answer = await raw_exchange(client, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"400"
    answer = await raw_exchange(client, b"GET /__admin/" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"414"
    # the first is a request (a request line, then a broken header block); the TLS hello is
    # not; the admin API's own requests are never journaled
    [entry] = await journal(client)
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/open", 400)
    assert entry["error"].startswith("malformed HTTP request")


def test_a_refused_head_sent_in_pieces_is_journaled_every_time(
    serve_in_thread: ServeInThread,
) -> None:
    # the parser refuses at the first piece; the next piece can be read before the refusal's
    # handler runs a loop turn later, and must not take the place of the head to journal
    running = serve_in_thread({"s.yaml": STUBS})
    pieces = (b"get /open HTTP/1.1", b"\r\nHost: x\r\n\r", b"\n")
    tries = 200
    for _ in range(tries):
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with contextlib.suppress(OSError):  # refused at the first piece, maybe closed
                for piece in pieces:
                    connection.sendall(piece)
            answer = b""
            with contextlib.suppress(ConnectionResetError):  # closed with a piece unread
                while chunk := connection.recv(65536):
                    answer += chunk
        assert answer == b"" or answer.split(b" ", 2)[1] == b"400", answer
    with urllib.request.urlopen(running.url + "/__admin/requests?limit=1000") as listing:
        entries = json.loads(listing.read())["requests"]
    assert len(entries) == tries
    assert {(entry["method"], entry["path"], entry["status"]) for entry in entries} == {
        ("GET", "/open", 400)
    }


def test_the_limits_are_flags_and_variables(tmp_path: Any) -> None:
    stubs = write_stubs(tmp_path / "stubs", {"s.yaml": STUBS})
    started = Server(
        "--stubs", str(stubs), "--port", "0", "--max-line-size", "100", "--max-field-size", "300",
        env={"MOCKSERVER_MAX_HEADERS": "5"},
    )  # fmt: skip
    try:
        for headers, path, status in (
            ({}, "/open/" + "a" * 150, 414),
            ({"X-Big": "b" * 400}, "/open", 431),
            ({"A": "1", "B": "2", "C": "3"}, "/open", 431),  # beside urllib's own 4
            ({}, "/open", 200),
        ):
            request = urllib.request.Request(started.url + path, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    got = response.status
            except urllib.error.HTTPError as error:
                got = error.code
                error.close()
            assert got == status, (path, headers)
        statuses = [entry["status"] for entry in started.get("/__admin/requests")["requests"]]
        assert statuses == [414, 431, 431, 200]
    finally:
        code, _, err = started.stop()
    assert code == 0, err


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Big: aaa",
            RefusedHead("GET", "/a?b=1", True, ((b"Host", b"x"),)),
        ),
        (b"GET /aaaaaaa", RefusedHead("GET", "/aaaaaaa", False, ())),
        (b"\x16\x03\x01 not http", None),
        (b"", None),
        (
            b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n",
            RefusedHead("GET", "/", True, ((b"A", b"1"), (b"B", b"2"))),
        ),
        (
            b"GET http://api.test/x HTTP/1.1\r\nA: 1\r\nbroken\r\nB: 2\r\n",
            RefusedHead("GET", "http://api.test/x", True, ((b"A", b"1"),)),
        ),
    ],
    ids=["header-cut", "line-cut", "not-http", "empty", "max-headers", "stops-at-a-broken-line"],
)
def test_read_refused_head(data: bytes, expected: RefusedHead | None) -> None:
    assert read_refused_head(data, max_headers=2, max_field_size=100) == expected


def test_requests_read_with_the_refused_one_are_read_too() -> None:
    data = (
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /second HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
        b"GET /third HTTP/1.1\r\nno colon here\r\n\r\n"
    )
    assert read_refused_heads(data, max_headers=10, max_field_size=100) == [
        RefusedHead("GET", "/first", True, ((b"Host", b"x"),)),
        RefusedHead("POST", "/second", True, ((b"Content-Length", b"2"),)),
        RefusedHead("GET", "/third", True, ()),
    ]


async def test_a_request_pipelined_before_malformed_bytes_is_journaled(
    serve: ServeStubs,
) -> None:
    # aiohttp's parser refuses the whole read and drops the good request before the bad one:
    # the client reads the one 400 as that request's answer, and the journal has both
    client = await serve({"s.yaml": STUBS})
    answer = await raw_exchange(
        client,
        b"GET /open HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nno colon here\r\n\r\n",
    )
    assert answer.split(b" ", 2)[1] == b"400"
    assert answer.count(b"HTTP/1.") == 1
    entries = await journal(client)
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/open", 400),
        ("GET", "/second", 400),
    ]
    assert entries[0]["headers"] == {"host": "x"}
    assert entries[0]["error"].endswith("(in what followed this request in the same read)")
    assert entries[1]["error"].startswith("malformed HTTP request: Invalid header token")


def test_a_header_line_over_the_field_limit_ends_what_was_read() -> None:
    data = b"GET / HTTP/1.1\r\nA: 1\r\nB: " + b"b" * 200 + b"\r\nC: 3\r\n\r\n"
    assert read_refused_head(data, max_headers=10, max_field_size=100) == RefusedHead(
        "GET", "/", True, ((b"A", b"1"),)
    )
