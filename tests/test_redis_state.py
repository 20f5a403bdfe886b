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
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from mockserver.clock import ClockSetting
from mockserver.exchange import Exchange, Outcome
from mockserver.incoming import IncomingRequest
from mockserver.journal import JournalQuery
from mockserver.loader import parse_stub_text
from mockserver.redis_client import PreparedScript, connect, pack_command
from mockserver.redis_state import RedisState
from mockserver.state import ApiStubsChange, Refusal
from mockserver.store import StubStore
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


async def test_commands_of_one_event_loop_turn_go_in_one_pipeline(redis_url: str) -> None:
    """`BatchingRedis`: 100 calls made in one turn share one connection and one round trip,
    each caller gets its own reply, and an error reply stays its caller's."""
    key = unique_prefix() + "counter"
    observer = Redis.from_url(redis_url)
    batching = connect(redis_url)
    try:
        before = (await observer.info("stats"))["total_connections_received"]
        replies = await asyncio.gather(
            *(batching.incr(key) for _ in range(100)),
            batching.lpush(key, "x"),  # WRONGTYPE: that call's error, not the others'
            return_exceptions=True,
        )
        after = (await observer.info("stats"))["total_connections_received"]
    finally:
        await batching.aclose()
        await observer.aclose()
    assert replies[:100] == list(range(1, 101))  # queued in order, answered to each caller
    assert isinstance(replies[100], ResponseError)
    assert after - before == 1  # one connection: without batching, up to 64 would open


async def test_a_prepared_script_sends_its_fixed_and_varying_arguments_and_survives_a_flush(
    redis_url: str,
) -> None:
    """`PreparedScript`: keys and fixed arguments packed once, each call's after them; a Redis
    that forgot the script (restarted, flushed) gets it again and the call still answers."""
    batching = connect(redis_url)
    keys = (unique_prefix() + "a", unique_prefix() + "b")
    script = PreparedScript(batching, "return {KEYS[1], KEYS[2], unpack(ARGV)}", keys, (1, "f"))
    try:
        await batching.script_flush()
        first, second = await asyncio.gather(script(b"x\0y", "v", 7), script())
        await batching.script_flush()
        third = await script("again")
    finally:
        await batching.aclose()
    assert first == [k.encode() for k in keys] + [b"1", b"f", b"x\0y", b"v", b"7"]
    assert second == [k.encode() for k in keys] + [b"1", b"f"]
    assert third == [k.encode() for k in keys] + [b"1", b"f", b"again"]


async def test_a_replica_answers_filtered_queries_from_its_copy_kept_up_to_date(
    replica: Replicas,
) -> None:
    one, two = replica().default, replica().default  # the journal holds 100 entries
    for number in range(30):
        await one.journal.record(request(f"/p{number % 3}"))
    assert await two.journal.count(JournalQuery(path="/p0")) == 10  # the copy: 30 entries
    for number in range(30, 120):  # 20 pushed out by the bound: seqs 21..120 stay
        await one.journal.record(request(f"/p{number % 3}"))
    held = [seq for seq in range(21, 121) if (seq - 1) % 3 == 0]
    assert await two.journal.count(JournalQuery(path="/p0")) == len(held)
    page = await two.journal.find(JournalQuery(path="/p0", since_seq=100, limit=3))
    assert [entry.seq for entry in page.entries] == [103, 106, 109]  # after 100
    assert (page.total, page.dropped) == (len([s for s in held if s > 100]), 20)
    await one.journal.clear()
    assert await two.journal.count(JournalQuery(path="/p0")) == 0
    await one.journal.record(request("/p0"))
    found = await two.journal.find(JournalQuery(path="/p0"))
    assert [entry.seq for entry in found.entries] == [121]


async def test_an_entry_has_one_id_on_every_replica_and_a_journal_begun_again_new_ones(
    replica: Replicas,
) -> None:
    one, two = replica(), replica()
    await (await one.create("team")).journal.record(request("/x"))
    (seen_by_one,) = await (await one.create("team")).journal.latest(1)
    on_two = await two.create("team")  # two keeps this namespace's state from now on
    (seen_by_two,) = await on_two.journal.latest(1)
    assert seen_by_one.seq == seen_by_two.seq == 1
    assert seen_by_one.id == seen_by_two.id  # not each process's own boot id
    filtered = JournalQuery(path="/x")
    assert await on_two.journal.count(filtered) == 1  # two's copy holds seq 1: /x

    assert await one.remove("team")
    again = await one.create("team")
    for path in ("/y", "/x"):  # seq 1 again, then 2: past where two's copy stood
        await again.journal.record(request(path))
    (first_again, _) = await again.journal.latest(2)
    assert first_again.seq == 1
    assert first_again.id != seen_by_one.id  # another journal: another id
    assert await on_two.journal.count(filtered) == 1  # not the old /x and the new one


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


async def test_a_namespace_removed_through_one_replica_is_not_kept_by_another(
    replica: Replicas,
) -> None:
    one, two = StubStore([], replica()), StubStore([], replica())
    await (await two.scoped("team")).state.journal.record(request("/x"))  # two compiles it
    assert await one.remove_namespace("team")
    assert await two.namespaces() == []
    assert (await two.peek("team")).state.name == "team"  # a read: an empty state
    assert await two.namespaces() == []  # and it does not register it
    scope = await two.scoped("team")  # a write: registered again, as a new namespace
    assert await one.namespaces() == ["team"]
    assert (await scope.state.journal.stats()).size == 0


async def test_a_claim_free_answer_in_a_namespace_another_replica_removed_is_not_recorded(
    replica: Replicas,
) -> None:
    one, two = StubStore([], replica()), StubStore([], replica())
    scope = await two.scoped("team")  # two compiles it
    answered = Exchange(IncomingRequest("GET", "/p", {}, {}), Outcome(True, 200, "p"), 0.0, 0.1)
    version = scope.api_version
    assert await scope.state.record_counted(answered, "p", version=version) == 1
    assert await one.remove_namespace("team")
    # its own answer would land in a journal no replica lists: refused, to be chosen again
    assert await scope.state.record_counted(answered, "p", version=version) is None
    assert await two.namespaces() == []
    created = await two.scoped("team")
    assert await created.state.record_counted(answered, "p", version=created.api_version) == 1
    assert await created.state.hits() == {"p": 1}


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "a" * 40, 2, "k:hits", "k:scenarios", "stub", "", 1, "started"),
        ("SCRIPT LOAD", "return 1"),
        ("HSET", b"k", "f\u00e9", b"\x00\xff", 1.5, -3),
    ],
)
def test_commands_are_packed_as_redis_py_packs_them(args: tuple[object, ...]) -> None:
    assert pack_command(args) == b"".join(Connection().pack_command(*args))


async def test_filtered_queries_at_once_copy_each_entry_once(replica: Replicas) -> None:
    one, two = replica().default, replica().default
    for number in range(40):
        await one.journal.record(request(f"/p{number % 2}"))
    counts = await asyncio.gather(*(two.journal.count(JournalQuery(path="/p0")) for _ in range(5)))
    assert counts == [20] * 5
    await one.journal.record(request("/p0"))
    counts = await asyncio.gather(*(two.journal.count(JournalQuery(path="/p0")) for _ in range(5)))
    assert counts == [21] * 5
