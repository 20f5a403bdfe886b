"""The `proxy` answer: requests forwarded to a real upstream on loopback (a second mockserver, or
a raw socket server that misbehaves on purpose), answers streamed back, failures as JSON."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from mockserver.app import build_app
from mockserver.config import Settings
from tests.serving import MockTestServer, ServeStubs, write_stubs
from tests.upstreams import RawUpstream

Upstream = Callable[[str], Awaitable[TestClient[Any, Any]]]

UPSTREAM_STUBS = """
    - id: echo-charge
      request:
        method: POST
        path: /v1/charges
        query: {expand: customer}
        headers: {X-Added: yes-added, Authorization: Bearer sk_test_upstream}
        body: {form: {amount: "2000"}}
      response:
        status: 201
        headers: {X-Upstream: "1", Set-Cookie: [a=1, b=2]}
        json: {id: ch_1, amount: 2000}
    - id: stream
      request: {path: /v1/stream}
      response:
        sse:
          events: [{data: {n: 1}}, {data: {n: 2}}, {data: "[DONE]"}]
          interval_ms: 10
    - id: chunks
      request: {path: /v1/chunks}
      response:
        chunks: {parts: [alpha-, beta-, gamma], interval_ms: 5}
    - id: head
      request: {method: HEAD, path: /v1/file}
      response: {headers: {Content-Type: text/plain}, body: "0123456789"}
"""


@pytest.fixture
def upstream(tmp_path: Path, aiohttp_client: Any) -> Upstream:
    """A second mockserver serving `stubs`: the upstream a proxy stub forwards to."""

    async def start(stubs: str = UPSTREAM_STUBS) -> TestClient[Any, Any]:
        directory = write_stubs(tmp_path / "upstream", {"up.yaml": stubs})
        settings = Settings(stubs=(directory,), port=0)
        return await aiohttp_client(MockTestServer(build_app(settings), settings))

    return start


def proxy_stubs(url: str, **proxy: Any) -> dict[str, str]:
    options = json.dumps({"to": url, **proxy})
    return {
        "proxy.yaml": textwrap.dedent(f"""
            service: stripe
            base_path: /stripe
            stubs:
              - id: to-upstream
                request: {{path: {{starts_with: /}}}}
                response:
                  proxy: {options}
            """)
    }


def url_of(client: TestClient[Any, Any]) -> str:
    return f"http://127.0.0.1:{client.port}"


async def journal(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    response = await client.get("/__admin/requests")
    return list((await response.json())["requests"])


async def test_a_request_goes_upstream_after_the_base_path_and_its_answer_comes_back(
    serve: ServeStubs, upstream: Upstream
) -> None:
    real = await upstream()
    client = await serve(
        proxy_stubs(
            url_of(real),
            headers={"add": {"X-Added": "yes-added"}, "remove": ["X-Secret-Local"]},
        )
    )
    response = await client.post(
        "/stripe/v1/charges?expand=customer",
        data={"amount": "2000"},
        headers={
            "Authorization": "Bearer sk_test_upstream",
            "X-Secret-Local": "not for upstream",
            "Keep-Alive": "timeout=5",
        },
    )
    assert response.status == 201, await response.text()
    assert await response.json() == {"id": "ch_1", "amount": 2000}
    assert response.headers["X-Upstream"] == "1"
    assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
    (arrived,) = await journal(real)
    assert (arrived["method"], arrived["path"], arrived["query"]) == (
        "POST",
        "/v1/charges",
        {"expand": ["customer"]},
    )
    assert arrived["stub_id"] == "echo-charge"
    assert "x-secret-local" not in arrived["headers"]
    assert "keep-alive" not in arrived["headers"]
    (entry,) = await journal(client)
    assert entry["stub_id"] == "to-upstream"
    assert entry["service"] == "stripe"
    assert entry["status"] == 201
    assert entry["upstream_status"] == 201
    assert entry["proxied_to"] == f"{url_of(real)}/v1/charges?expand=customer"


async def test_an_upstream_miss_comes_back_as_the_upstreams_404(
    serve: ServeStubs, upstream: Upstream
) -> None:
    real = await upstream()
    client = await serve(proxy_stubs(url_of(real)))
    response = await client.get("/stripe/v1/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"] == "no stub matched GET /v1/nothing-here"
    (entry,) = await journal(client)
    assert (entry["matched"], entry["status"], entry["upstream_status"]) == (True, 404, 404)


async def test_server_sent_events_and_chunks_stream_through_whole(
    serve: ServeStubs, upstream: Upstream
) -> None:
    real = await upstream()
    client = await serve(proxy_stubs(url_of(real)))
    response = await client.get("/stripe/v1/stream")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    lines = [line.decode() async for line in response.content]
    assert "".join(lines) == 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n'
    chunked = await client.get("/stripe/v1/chunks")
    assert await chunked.text() == "alpha-beta-gamma"
    assert chunked.headers["Transfer-Encoding"] == "chunked"


async def test_with_cors_a_proxied_answer_carries_the_origins_headers(
    serve: ServeStubs, upstream: Upstream
) -> None:
    real = await upstream()
    client = await serve(proxy_stubs(url_of(real)), cors=True)
    origin = {"Origin": "http://app.test"}
    streamed = await client.get("/stripe/v1/stream", headers=origin)
    assert await streamed.text() == 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n'
    assert streamed.headers["Access-Control-Allow-Origin"] == "http://app.test"
    assert "Content-Type" in streamed.headers["Access-Control-Expose-Headers"]
    down = await serve(proxy_stubs(f"http://127.0.0.1:{await _closed_port()}"), cors=True)
    failed = await down.get("/stripe/v1/x", headers=origin)
    assert failed.status == 502
    assert failed.headers["Access-Control-Allow-Origin"] == "http://app.test"


async def test_a_head_answer_keeps_the_upstreams_content_length(
    serve: ServeStubs, upstream: Upstream
) -> None:
    real = await upstream()
    client = await serve(proxy_stubs(url_of(real)))
    response = await client.head("/stripe/v1/file")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Length"] == "10"


async def _closed_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


async def test_an_unreachable_upstream_is_a_502_naming_it(serve: ServeStubs) -> None:
    url = f"http://127.0.0.1:{await _closed_port()}"
    client = await serve(proxy_stubs(url))
    response = await client.get("/stripe/v1/charges")
    assert response.status == 502
    body = await response.json()
    assert body["upstream"] == f"{url}/v1/charges"
    assert body["error"].startswith(f"upstream {url}/v1/charges is unreachable")
    (entry,) = await journal(client)
    assert entry["status"] == 502
    assert entry["upstream_status"] is None
    assert entry["error"] == body["error"]


async def test_a_silent_upstream_is_a_504_after_timeout_ms(
    serve: ServeStubs, raw_upstream: RawUpstream
) -> None:
    never = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await never.wait()

    url = await raw_upstream(silent)
    client = await serve(proxy_stubs(url, timeout_ms=100))
    response = await client.get("/stripe/v1/slow")
    assert response.status == 504
    body = await response.json()
    assert body["error"] == f"upstream {url}/v1/slow sent no answer within 100 ms"
    (entry,) = await journal(client)
    assert (entry["status"], entry["error"]) == (504, body["error"])


async def test_an_upstream_that_answers_garbage_is_a_502(
    serve: ServeStubs, raw_upstream: RawUpstream
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x00\x7fNOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    url = await raw_upstream(garbage)
    client = await serve(proxy_stubs(url))
    response = await client.get("/stripe/v1/garbage")
    assert response.status == 502
    body = await response.json()
    assert body["error"].startswith(f"upstream {url}/v1/garbage failed: ")
    (entry,) = await journal(client)
    assert (entry["status"], entry["error"]) == (502, body["error"])


async def test_an_upstream_that_stops_mid_stream_cuts_the_client_and_says_so(
    serve: ServeStubs, raw_upstream: RawUpstream
) -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            b'10\r\ndata: {"n":1}\n\n\r\n'
        )
        await writer.drain()
        writer.close()

    url = await raw_upstream(half)
    client = await serve(proxy_stubs(url))
    response = await client.get("/stripe/v1/half")
    assert response.status == 200, await response.text()
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    (entry,) = await journal(client)
    assert entry["upstream_status"] == 200
    assert entry["error"].startswith(f"upstream {url}/v1/half broke off mid-stream")


async def test_proxy_answers_are_checked_at_load(tmp_path: Path) -> None:
    from mockserver.errors import StubLoadError
    from mockserver.loader import load_paths

    write_stubs(
        tmp_path,
        {
            "bad.yaml": """
                - request: {path: /a}
                  response: {proxy: {to: "ftp://example.test"}}
                - request: {path: /b}
                  response: {proxy: {to: "http://example.test"}, json: {a: 1}}
            """
        },
    )
    with pytest.raises(StubLoadError) as failure:
        load_paths([tmp_path])
    messages = [str(error) for error in failure.value.errors]
    assert any(
        ":2: response.proxy.to:" in message and "not an http:// or https:// URL" in message
        for message in messages
    ), messages
    assert any(
        ":4: response:" in message and "json does not apply" in message for message in messages
    ), messages
