"""An answer that was cut is journaled saying so, never as a plain success (PRODUCT.md §10).

A matched request is journaled before its delay (a test that gives up can still read it), with
the status it is to get; when the answer is then cut — the server stops during the delay, or the
client leaves before the answer or in the middle of a stream — the entry is amended: an `error`
saying who cut it, and 499 unless the status line had already gone out.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.serving import ServeStubs, write_stubs
from tests.test_cli import Server

CUTS = """
    - id: slow
      request: {path: /slow}
      response: {delay_ms: 30000, body: late}
    - id: stream
      request: {path: /stream}
      response:
        sse:
          interval_ms: 50
          events: [{data: one}, {data: two}, {data: three}, {data: four}, {data: five}]
    - id: quick
      request: {path: /quick}
      response: {body: ok}
"""

POLL_DEADLINE_S = 20.0


async def entries_when(
    client: TestClient[Any, Any], ready: Any, path: str = "/__admin/requests"
) -> list[dict[str, Any]]:
    """Poll the journal until `ready(entries)` holds (the server amends an entry on its own
    time: there is no event to wait on); fails the test past the deadline."""
    deadline = time.monotonic() + POLL_DEADLINE_S
    while True:
        entries: list[dict[str, Any]] = (await (await client.get(path)).json())["requests"]
        if ready(entries):
            return entries
        assert time.monotonic() < deadline, f"journal never got there: {entries}"
        await asyncio.sleep(0.01)


async def test_a_client_gone_during_a_delay_is_journaled_as_cut(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": CUTS.replace("30000", "300")})
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: mock\r\n\r\n")
    await writer.drain()
    await entries_when(client, lambda entries: len(entries) == 1)  # recorded before the delay
    writer.close()
    await writer.wait_closed()
    [entry] = await entries_when(client, lambda entries: "error" in entries[0])
    assert (entry["stub_id"], entry["matched"], entry["status"]) == ("slow", True, 499)
    assert entry["error"] == "cut: the client disconnected before the response was sent"
    assert await reader.read() == b""


async def test_a_client_gone_mid_stream_keeps_the_status_it_saw(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": CUTS})
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /stream HTTP/1.1\r\nHost: mock\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    writer.transport.abort()  # gone after the first bytes, before the last event
    [entry] = await entries_when(client, lambda entries: "error" in entries[0])
    assert (entry["stub_id"], entry["status"]) == ("stream", 200)
    assert entry["error"] == "cut: the client disconnected before the response ended"


async def test_an_answer_sent_in_full_is_not_amended(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": CUTS})
    assert (await (await client.get("/stream")).text()).count("data:") == 5
    assert await (await client.get("/quick")).text() == "ok"
    entries = await entries_when(client, lambda entries: len(entries) == 2)
    assert [(entry["status"], "error" in entry) for entry in entries] == [
        (200, False),
        (200, False),
    ]


def test_sigterm_during_a_delay_is_in_the_dump_as_cut(tmp_path: Path) -> None:
    stubs = write_stubs(tmp_path / "stubs", {"s.yaml": CUTS})
    dump = tmp_path / "journal.jsonl"
    started = Server(
        "--stubs", str(stubs), "--port", "0", "--shutdown-grace", "0.2",
        "--journal-dump", str(dump),
    )  # fmt: skip
    host, port = started.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as waiting:
        waiting.sendall(b"GET /slow HTTP/1.1\r\nHost: mock\r\n\r\n")
        deadline = time.monotonic() + POLL_DEADLINE_S
        while not started.get("/__admin/requests")["requests"]:  # recorded before the delay
            assert time.monotonic() < deadline, "the request never reached the journal"
            time.sleep(0.01)
        started.process.send_signal(signal.SIGTERM)
        _, err = started.process.communicate(timeout=20)
        assert waiting.recv(4096) == b""  # closed without an answer
    assert started.process.returncode == 0, err
    [entry] = [json.loads(line) for line in dump.read_text().splitlines()]
    assert (entry["path"], entry["stub_id"], entry["status"]) == ("/slow", "slow", 499)
    assert entry["error"] == "cut: the server stopped before the response was sent"
