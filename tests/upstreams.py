"""Upstreams that misbehave on purpose: a socket server on loopback that answers as the test
says (silence, bytes that are not HTTP, a stream cut mid-way), for proxy and record tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
RawUpstream = Callable[[Handler], Awaitable[str]]


@pytest.fixture
async def raw_upstream() -> AsyncIterator[RawUpstream]:
    """A socket server on loopback that answers as `handler` says: the upstreams that fail."""
    servers: list[asyncio.Server] = []
    held: list[asyncio.StreamWriter] = []

    async def start(handler: Handler) -> str:
        async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)
            await reader.readuntil(b"\r\n\r\n")
            await handler(reader, writer)

        server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for writer in held:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()
