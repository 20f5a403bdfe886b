"""What the Redis state adds to the contract: two processes' views of one Redis agree.

Each `RedisState` here stands for a replica (its own connections and its own compiled stubs);
they share a key prefix, as replicas naming one Redis do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mockserver.clock import ClockSetting
from mockserver.exchange import Exchange, Outcome
from mockserver.incoming import IncomingRequest
from mockserver.loader import parse_stub_text
from mockserver.redis_state import RedisState
from mockserver.state import ApiStubsChange, Refusal
from tests.redis_server import unique_prefix

Replicas = Callable[[], RedisState]


@pytest.fixture
async def replica(redis_url: str) -> AsyncIterator[Replicas]:
    prefix = unique_prefix()
    made: list[RedisState] = []

    def make() -> RedisState:
        state = RedisState(
            redis_url, journal_limit=100, journal_max_bytes=10**9, limit=4, prefix=prefix
        )
        made.append(state)
        return state

    yield make
    for state in made:
        await state.close()


def request(path: str) -> Exchange:
    return Exchange(IncomingRequest("GET", path, {}, {}), Outcome(False, 404), 0.0, 0.1)


async def test_claims_and_the_journal_are_shared(replica: Replicas) -> None:
    one, two = replica().default, replica().default
    claims = await asyncio.gather(
        *(state.claim("once", times=1) for state in (one, two) for _ in range(20))
    )
    assert [claim for claim in claims if not isinstance(claim, Refusal)] == [1]
    seqs = await asyncio.gather(*(state.journal.record(request("/x")) for state in (one, two)))
    assert sorted(seqs) == [1, 2]
    assert (await one.journal.stats()).last_seq == (await two.journal.stats()).last_seq == 2


async def test_api_stubs_added_by_one_are_rebuilt_by_the_other(
    replica: Replicas, tmp_path: Path
) -> None:
    one, two = replica().default, replica().default
    text = (
        "service: pay\nbase_path: /v1\nstubs:\n"
        "- id: a\n  request: {path: /a}\n  response: {status: 201, json: {ok: true}}\n"
    )
    (added,) = parse_stub_text(text, stub_dirs=[tmp_path])
    written = await one.update_api_stubs(lambda current: ApiStubsChange((added,), frozenset({"f"})))
    seen = await two.api_stubs()
    assert seen.version == written.version
    assert seen.hidden_file_ids == frozenset({"f"})
    (rebuilt,) = seen.stubs
    assert (rebuilt.id, rebuilt.order, rebuilt.source, rebuilt.origin) == (
        added.id, added.order, added.source, added.origin,
    )  # fmt: skip
    assert (rebuilt.service, rebuilt.base_path, rebuilt.spec) == ("pay", "/v1", added.spec)
    assert rebuilt.responses == added.responses
    assert await two.api_stubs() is seen  # kept while the version holds


async def test_namespaces_and_the_clock_are_shared(replica: Replicas) -> None:
    one, two = replica(), replica()
    await one.create("team")
    assert await two.names() == ["team"]
    frozen = ClockSetting.frozen_at(datetime(2026, 1, 1, tzinfo=UTC))
    await (await one.create("team")).update_clock(lambda _current: frozen)
    found = await two.lookup("team")
    assert found is not None
    assert await found.clock() == frozen
    assert await one.remove("team")
    assert await two.lookup("team") is None


async def test_a_namespace_created_again_never_shows_stubs_compiled_before(
    replica: Replicas, tmp_path: Path
) -> None:
    one, two = replica(), replica()
    (first,) = parse_stub_text("id: first\nrequest: {path: /a}\n", stub_dirs=[tmp_path])
    (second,) = parse_stub_text("id: second\nrequest: {path: /a}\n", stub_dirs=[tmp_path])
    await (await one.create("team")).update_api_stubs(
        lambda _: ApiStubsChange((first,), frozenset())
    )
    seen = await two.lookup("team")
    assert seen is not None
    assert [stub.id for stub in (await seen.api_stubs()).stubs] == ["first"]
    await one.remove("team")
    await (await one.create("team")).update_api_stubs(
        lambda _: ApiStubsChange((second,), frozenset())
    )
    assert [stub.id for stub in (await seen.api_stubs()).stubs] == ["second"]


async def test_many_waiting_subscriptions_leave_connections_for_requests(
    replica: Replicas,
) -> None:
    # more followers than the bounded pool has connections (verifies waiting with within_ms)
    journal = replica().default.journal
    feeds = [journal.subscribe() for _ in range(80)]
    async with asyncio.timeout(10):
        for feed in feeds:
            await feed.__aenter__()
        waiting = [asyncio.ensure_future(anext(feed)) for feed in feeds]
        assert await journal.record(request("/x")) == 1
        assert {entry.seq for entry in await asyncio.gather(*waiting)} == {1}
    for feed in feeds:
        await feed.__aexit__(None, None, None)


async def test_callback_attempts_and_api_stubs_callbacks_are_shared(
    replica: Replicas, tmp_path: Path
) -> None:
    one, two = replica(), replica()
    mine = await one.create("hooks")
    await mine.record_attempt({"id": "cb_1", "attempt": 1, "outcome": "delivered"})
    assert await (await two.create("hooks")).attempts() == [
        {"id": "cb_1", "attempt": 1, "outcome": "delivered"}
    ]
    (api,) = parse_stub_text(
        "id: hook\nrequest: {path: /a}\ncallbacks: [{url: 'http://localhost/h', json: {a: 1}}]\n",
        stub_dirs=[tmp_path],
    )
    await mine.update_api_stubs(lambda current: ApiStubsChange((api,), frozenset()))
    (rebuilt,) = (await (await two.lookup("hooks")).api_stubs()).stubs  # type: ignore[union-attr]
    assert [callback.spec.url for callback in rebuilt.callbacks] == ["http://localhost/h"]
    await (await two.lookup("hooks")).reset()  # type: ignore[union-attr]
    assert await mine.attempts() == []
