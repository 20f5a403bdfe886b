"""Header values beyond ASCII are ISO-8859-1, HTTP's rule (PRODUCT.md §10): read so (the
journal and the matchers see b"caf\\xe9" as "café", never a lone surrogate) and written so (a
stub's "café" goes out as b"caf\\xe9", whichever path writes the answer).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import requests
import urllib3

from tests.serving import ServeStubs, raw_exchange
from tests.test_wire_answers import exchange_kept_open, get
from tests.test_wire_paths import require_tool

STUBS = """
    - id: cafe
      request: {path: /menu, headers: {X-Note: café}}
      response: {headers: {X-Note: café, X-Plain: ok}, body: matched}
    - id: stream
      request: {path: /stream}
      response:
        headers: {X-Note: café}
        sse: {events: [{data: one}]}
    - id: rendered
      request: {path: "/echo/{word}"}
      response:
        template: true
        headers: {X-Echo: "{{ request.headers['x-note'] }}", X-Fixed: "crème"}
        body: "{{ request.headers['x-note'] }}"
"""


def header_line(answer: bytes, name: bytes) -> bytes:
    head = answer.partition(b"\r\n\r\n")[0]
    [line] = [line for line in head.split(b"\r\n") if line.lower().startswith(name.lower() + b":")]
    return line.partition(b":")[2].strip()


async def test_a_latin1_header_value_matches_and_is_journaled_as_text(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": STUBS})
    request = b"GET /menu HTTP/1.1\r\nHost: x\r\nX-Note: caf\xe9\r\nConnection: close\r\n\r\n"
    answer = await raw_exchange(client, request)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert answer.endswith(b"matched")
    wrong = b"GET /menu HTTP/1.1\r\nHost: x\r\nX-Note: caf\xc3\xa9\r\nConnection: close\r\n\r\n"
    assert (await raw_exchange(client, wrong)).startswith(b"HTTP/1.1 404")  # UTF-8 is not é
    text = await (await client.get("/__admin/requests")).text()
    assert "\\ud" not in text  # no lone surrogate anywhere in the journal's JSON
    first, second = json.loads(text)["requests"]
    assert (first["stub_id"], first["headers"]["x-note"]) == ("cafe", "café")
    assert second["headers"]["x-note"] == "cafÃ©"  # the two bytes, each a character


@pytest.mark.parametrize(
    ("request_bytes", "name"),
    [
        (get("/menu", "X-Note: caf\xe9"), b"X-Note"),  # kept alive: the pre-serialised head
        (get("/menu", "X-Note: caf\xe9", "Connection: close"), b"X-Note"),
        (get("/menu", "X-Note: caf\xe9", "Connection: close", method="HEAD"), b"X-Note"),
        (get("/menu", "X-Note: caf\xe9", version="1.0"), b"X-Note"),
        (get("/stream", "Connection: close"), b"X-Note"),
        (get("/echo/x", "X-Note: caf\xe9", "Connection: close"), b"X-Echo"),
        (get("/echo/x", "X-Note: caf\xe9"), b"X-Echo"),
    ],
    ids=["kept-alive", "closing", "head", "http-1.0", "stream", "rendered", "rendered-kept"],
)
async def test_a_stub_header_goes_out_as_latin1(
    serve: ServeStubs, request_bytes: bytes, name: bytes
) -> None:
    client = await serve({"s.yaml": STUBS})
    data = request_bytes.replace(b"\xc3\xa9", b"\xe9")  # `get` encodes as UTF-8
    if b"Connection: close" in data or b"HTTP/1.0" in data:
        answer = await raw_exchange(client, data)
    else:
        answer = await exchange_kept_open(client, data, 1)
    assert header_line(answer, name) == b"caf\xe9"


async def test_a_rendered_header_beyond_ascii_goes_out_as_latin1(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": STUBS})
    answer = await raw_exchange(client, get("/echo/x", "Connection: close"))
    assert header_line(answer, b"X-Fixed") == b"cr\xe8me"


async def read_with(kind: str, url: str) -> str:
    """The X-Note header of a GET, as a real client reads it."""
    if kind == "requests":
        reply = await asyncio.to_thread(requests.get, url, headers={"X-Note": "café"}, timeout=10)
        assert reply.text == "matched"
        return str(reply.headers["X-Note"])
    if kind == "httpx":
        async with httpx.AsyncClient() as http:
            answer = await http.get(url, headers={"X-Note": "café".encode("latin-1")})
            assert answer.text == "matched"
            return answer.headers["X-Note"]
    if kind == "urllib3":
        with urllib3.PoolManager() as pool:
            raw = await asyncio.to_thread(
                pool.request, "GET", url, headers={"X-Note": "café"}, timeout=10.0
            )
        assert raw.data == b"matched"
        return str(raw.headers["X-Note"])
    require_tool("curl")
    curl = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--max-time", "10", "--include",
        "--header", b"X-Note: caf\xe9", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await curl.communicate()
    assert curl.returncode == 0, err
    assert out.endswith(b"matched")
    return header_line(out, b"X-Note").decode("latin-1")


@pytest.mark.parametrize("kind", ["requests", "httpx", "urllib3", "curl"])
async def test_real_clients_send_and_read_latin1_headers(serve: ServeStubs, kind: str) -> None:
    client = await serve({"s.yaml": STUBS})
    assert await read_with(kind, f"http://{client.host}:{client.port}/menu") == "café"
    [entry] = (await (await client.get("/__admin/requests")).json())["requests"]
    assert (entry["stub_id"], entry["headers"]["x-note"]) == ("cafe", "café")


def test_header_bytes() -> None:
    from mockserver.incoming import IncomingRequest, header_bytes

    assert header_bytes("café") == b"caf\xe9"
    assert header_bytes("→") == "→".encode()  # beyond ISO-8859-1: UTF-8, never an error
    request = IncomingRequest("GET", "/", {}, {"x-note": "café"})
    assert request.raw_headers == ((b"x-note", b"caf\xe9"),)
    back = IncomingRequest.from_wire("GET", "/", "", request.raw_headers)
    assert back.headers == {"x-note": "café"}
