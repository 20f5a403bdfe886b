"""The request path's hooks, over real HTTP: after the exchange is recorded, after the answer is
sent (what record mode and webhooks build on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mockserver.answers import Answer
from mockserver.app import MOCKED_KEY, STORE_KEY, build_app
from mockserver.config import Settings
from mockserver.exchange import Exchange
from tests.serving import MockTestServer, write_stubs

STUBS = """
- id: plain
  request: {method: GET, path: /plain}
  response: {json: {ok: true}}
- id: rendered
  request: {method: POST, path: /echo}
  response: {template: true, json: {got: "{{ request.json.name }}"}}
- id: stream
  request: {path: /events}
  response: {sse: {events: [{data: one}, {data: two}]}}
"""


async def test_hooks_see_every_exchange_recorded_then_sent(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    settings = Settings(stubs=(write_stubs(tmp_path / "stubs", {"s.yaml": STUBS}),), port=0)
    app = build_app(settings)
    events: list[tuple[str, Any, Any]] = []
    journal = app[STORE_KEY].default.state.journal

    def recorded(exchange: Exchange) -> None:
        events.append(("recorded", exchange.request.path, exchange.outcome.status))

    def completed(exchange: Exchange, answer: Answer) -> None:
        sent = None if answer.sent is None else answer.sent.body
        events.append(("completed", exchange.request.path, sent))

    app[MOCKED_KEY].on_recorded(recorded)
    app[MOCKED_KEY].on_completed(completed)
    client = await aiohttp_client(MockTestServer(app, settings))

    assert await (await client.get("/plain")).json() == {"ok": True}  # no fast answer with hooks
    assert await (await client.post("/echo", json={"name": "ada"})).json() == {"got": "ada"}
    assert (await (await client.get("/events")).read()).count(b"data: ") == 2
    assert (await client.get("/nothing")).status == 404

    assert events == [
        ("recorded", "/plain", 200),
        ("completed", "/plain", b'{"ok":true}'),
        ("recorded", "/echo", 200),
        ("completed", "/echo", b'{"got":"ada"}'),  # the rendered answer, as sent
        ("recorded", "/events", 200),
        ("completed", "/events", b""),
        ("recorded", "/nothing", 404),
        ("completed", "/nothing", None),  # the server's own 404: no stub response
    ]
    assert (await journal.stats()).size == 4  # each exchange recorded once


async def test_an_exchange_is_in_the_journal_when_the_recorded_hook_runs(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    settings = Settings(stubs=(write_stubs(tmp_path / "stubs", {"s.yaml": STUBS}),), port=0)
    app = build_app(settings)
    journal = app[STORE_KEY].default.state.journal
    sizes: list[int] = []
    app[MOCKED_KEY].on_recorded(lambda _exchange: sizes.append(journal.stats_now().size))
    client = await aiohttp_client(MockTestServer(app, settings))
    await client.get("/plain")
    await client.get("/plain")
    assert sizes == [1, 2]
