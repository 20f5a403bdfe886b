"""Fixtures that run the real server on a free loopback port, with stubs written for the test."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mockserver.app import build_app, mock_runner
from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread

ServeStubs = Callable[..., Awaitable[TestClient[Any, Any]]]


def write_stubs(directory: Path, files: dict[str, str | bytes]) -> Path:
    """Write {relative path: content} under `directory`; YAML text is dedented."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content).lstrip("\n"))
    return directory


@pytest.fixture
def serve(tmp_path: Path, aiohttp_client: Any) -> ServeStubs:
    """serve({"file.yaml": "..."}, max_body=...) -> a client of a real server on 127.0.0.1."""

    async def start(files: dict[str, str | bytes] | None = None, **options: Any) -> Any:
        stubs = write_stubs(tmp_path / "stubs", files or {})
        settings = Settings(stubs=(stubs,), port=0, **options)
        return await aiohttp_client(MockTestServer(build_app(settings), settings))

    return start


class MockTestServer(TestServer):
    """pytest-aiohttp's server with the runner `mockserver serve` uses."""

    def __init__(self, app: web.Application, settings: Settings) -> None:
        super().__init__(app, host="127.0.0.1")
        self._settings = settings

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        # aiohttp's test server cancels a handler whose client left; `mockserver serve` lets
        # it run on (a recording reads the upstream's answer to its end): tested as served
        kwargs["handler_cancellation"] = False
        return mock_runner(self.app, self._settings, **kwargs)


async def raw_exchange(client: TestClient[Any, Any], data: bytes) -> bytes:
    """Send raw bytes to the server and read until it closes (requests without client help)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(data)  # the request should say "Connection: close", so the server ends it
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()


ServeInThread = Callable[..., RunningServer]


@pytest.fixture
def serve_in_thread(tmp_path: Path) -> Iterator[ServeInThread]:
    """serve_in_thread({"file.yaml": "..."}, cors=True) -> a server on a background thread, for
    clients that are not asyncio (requests, httpx, urllib3, curl, node, java); stopped after."""
    started: list[RunningServer] = []

    def start(files: dict[str, str | bytes] | None = None, **options: Any) -> RunningServer:
        stubs = write_stubs(tmp_path / "stubs", files or {})
        running = start_in_thread(Settings(stubs=(stubs,), port=0, **options))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
