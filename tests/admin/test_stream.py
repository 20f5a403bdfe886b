"""GET /__admin/requests/stream: the journal live as server-sent events."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse

from mockserver.client import AdminError, AsyncMockServerClient, JournalEntry, MockServerClient
from mockserver.config import Settings
from mockserver.server import start_in_thread
from tests.redis_server import unique_prefix
from tests.serving import ServeStubs, write_stubs

STUBS = {
    "pay.yaml": """
        service: payments
        stubs:
          - id: charge
            request: {method: POST, path: /v1/charges, body: {form: {currency: usd}}}
            response: {status: 201, json: {id: ch_1}}
          - id: ping
            request: {method: GET, path: /ping}
            response: {body: pong}
    """
}


class Events:
    """Reads one SSE response event by event: (event name, id, data or comment)."""

    def __init__(self, response: ClientResponse) -> None:
        self.response = response

    async def next(self) -> dict[str, Any]:
        event: dict[str, Any] = {"event": "message"}
        data: list[str] = []
        while True:
            line = (await self.response.content.readline()).decode()
            if line == "":
                return {"event": "end"}
            line = line.rstrip("\n")
            if not line:
                if data or "comment" in event or event["event"] != "message":
                    if data:
                        event["data"] = json.loads("\n".join(data))
                    return event
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                event["comment"] = value
            elif name == "data":
                data.append(value)
            else:
                event[name] = value

    async def next_message(self) -> dict[str, Any]:
        while True:
            event = await self.next()
            if event["event"] in ("message", "end") and "comment" not in event:
                return event


async def _open(client: Any, path: str = "/__admin/requests/stream", **kwargs: Any) -> Events:
    response = await client.get(path, **kwargs)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return Events(response)


async def test_entries_arrive_as_they_are_recorded_with_their_seq_as_id(
    serve: ServeStubs,
) -> None:
    client = await serve(STUBS)
    await client.get("/ping")  # before the feed: not sent, the feed starts from now
    events = await _open(client)
    ready = await events.next()
    assert (ready["event"], ready["id"], ready["data"]) == (
        "ready",
        "1",
        {"after_seq": 1, "last_seq": 1},
    )
    assert ready["retry"] == "1000"
    await client.post("/v1/charges", data={"currency": "eur"})
    await client.get("/ping")
    first, second = await events.next_message(), await events.next_message()
    assert (first["id"], first["data"]["seq"], first["data"]["matched"]) == ("2", 2, False)
    miss = first["data"]["near_misses"][0]
    assert (miss["stub_id"], miss["field"], miss["actual"]) == (
        "charge",
        "body.form.currency",
        "eur",
    )
    assert (second["id"], second["data"]["stub_id"], second["data"]["near_misses"]) == (
        "3",
        "ping",
        [],
    )


async def test_since_seq_replays_what_came_after_it_then_follows(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    for _ in range(3):
        await client.get("/ping")
    events = await _open(client, params={"since_seq": "1"})
    assert (await events.next())["data"] == {"after_seq": 1, "last_seq": 3}
    assert [(await events.next_message())["id"] for _ in range(2)] == ["2", "3"]
    await client.get("/ping")
    assert (await events.next_message())["id"] == "4"


async def test_last_event_id_resumes_and_wins_over_since_seq(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    for _ in range(3):
        await client.get("/ping")
    events = await _open(client, params={"since_seq": "0"}, headers={"Last-Event-ID": "2"})
    assert (await events.next())["id"] == "2"
    assert (await events.next_message())["id"] == "3"


async def test_a_resume_point_past_the_journal_replays_it_all(serve: ServeStubs) -> None:
    """After a restart the journal starts again at 1: an EventSource's Last-Event-ID of the
    old server must not skip the new server's entries."""
    client = await serve(STUBS)
    await client.get("/ping")
    events = await _open(client, headers={"Last-Event-ID": "500"})
    assert (await events.next())["data"] == {"after_seq": 0, "last_seq": 1}
    assert (await events.next_message())["id"] == "1"


async def test_filters_select_the_entries_sent(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    events = await _open(client, params={"matched": "false", "method": "post"})
    await events.next()
    await client.get("/ping")
    await client.post("/v1/charges", data={"currency": "usd"})
    await client.post("/v1/charges", data={"currency": "eur"})
    sent = await events.next_message()
    assert (sent["id"], sent["data"]["method"], sent["data"]["matched"]) == ("3", "POST", False)


async def test_a_namespace_has_its_own_feed(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    # the namespace does not exist yet: reading its feed does not create it, yet follows it
    events = await _open(client, "/__admin/ns/team-a/requests/stream")
    assert (await events.next())["data"] == {"after_seq": 0, "last_seq": 0}
    await client.get("/ping")
    await client.get("/~team-a/ping")
    sent = await events.next_message()
    assert (sent["id"], sent["data"]["namespace"], sent["data"]["path"]) == ("1", "team-a", "/ping")


async def test_an_idle_feed_sends_comments(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    events = await _open(client, params={"heartbeat_ms": "10"})
    await events.next()
    assert (await events.next())["comment"] == "keep-alive"


@pytest.mark.parametrize(
    ("params", "headers", "field"),
    [
        ({"limit": "5"}, {}, "limit"),
        ({"before_seq": "5"}, {}, "before_seq"),
        ({"heartbeat_ms": "1"}, {}, "heartbeat_ms"),
        ({"heartbeat_ms": "soon"}, {}, "heartbeat_ms"),
        ({"since_seq": "-1"}, {}, "since_seq"),
        ({"matched": "maybe"}, {}, "matched"),
        ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
    ],
    ids=[
        "limit",
        "before_seq",
        "heartbeat-too-short",
        "heartbeat-text",
        "negative-since",
        "matched",
        "last-event-id",
    ],
)
async def test_bad_parameters_are_400_naming_the_field(
    serve: ServeStubs, params: dict[str, str], headers: dict[str, str], field: str
) -> None:
    client = await serve(STUBS)
    response = await client.get("/__admin/requests/stream", params=params, headers=headers)
    assert response.status == 400
    assert (await response.json())["details"][0]["field"] == field


async def test_the_feed_needs_the_admin_token(serve: ServeStubs) -> None:
    client = await serve(STUBS, admin_token="s3cret")
    assert (await client.get("/__admin/requests/stream")).status == 401
    events = await _open(client, headers={"Authorization": "Bearer s3cret"})
    assert (await events.next())["event"] == "ready"


def test_the_client_follows_the_feed_and_it_ends_at_shutdown(tmp_path: Path) -> None:
    stubs = write_stubs(tmp_path / "stubs", STUBS)
    running = start_in_thread(Settings(stubs=(stubs,), port=0))
    client = MockServerClient(running.url)
    try:
        seen: list[JournalEntry] = []
        feed = client.stream_requests(since_seq=0, matched=False)
        urllib.request.urlopen(f"{running.url}/ping").close()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{running.url}/nothing-here")
        seen.append(next(feed))
        assert (seen[0].seq, seen[0].path, seen[0].matched) == (2, "/nothing-here", False)
        assert seen[0].near_misses  # the closest stubs come with the entry
        ended = threading.Event()

        def drain() -> None:
            for _ in feed:
                pass
            ended.set()

        reader = threading.Thread(target=drain)
        reader.start()
    finally:
        running.stop()  # ends the open feed: the iterator stops without an error
    reader.join(timeout=10)
    assert ended.is_set()


def test_the_client_reports_a_refused_feed(tmp_path: Path) -> None:
    running = start_in_thread(Settings(stubs=(), port=0))
    try:
        client = MockServerClient(running.url)
        with pytest.raises(AdminError) as refused:
            next(client.stream_requests(limit=3))
        assert refused.value.status == 400
        assert "limit" in str(refused.value)
    finally:
        running.stop()


async def test_the_async_client_follows_the_feed(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await client.get("/ping")
    async with AsyncMockServerClient(str(client.make_url(""))) as admin:
        feed = admin.stream_requests(since_seq=0, method="GET")
        first = await anext(feed)
        await client.post("/v1/charges", data={"currency": "usd"})  # filtered out
        await client.get("/nowhere")
        second = await anext(feed)
        await feed.aclose()
    assert [(first.seq, first.stub_id), (second.seq, second.matched)] == [(1, "ping"), (3, False)]


async def test_the_feed_follows_a_journal_shared_through_redis(
    serve: ServeStubs, redis_url: str
) -> None:
    client = await serve(STUBS, state=redis_url, state_prefix=unique_prefix())
    await client.get("/ping")
    events = await _open(client, params={"since_seq": "0"})
    assert (await events.next())["data"] == {"after_seq": 0, "last_seq": 1}
    assert (await events.next_message())["id"] == "1"  # replayed
    await client.get("/nowhere")
    sent = await events.next_message()  # followed through the journal's pub/sub feed
    assert (sent["id"], sent["data"]["matched"]) == ("2", False)
    assert sent["data"]["near_misses"][0]["stub_id"] == "ping"
