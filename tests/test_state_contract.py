"""The state interface's contract, run against every implementation, races included.

A state shared through another store (Redis) joins `STATES` and must pass the same tests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mockserver.clock import REAL, ClockSetting
from mockserver.errors import AdminInputError, NamespaceLimitError
from mockserver.exchange import Exchange, Outcome
from mockserver.incoming import IncomingRequest
from mockserver.loader import parse_stub_text
from mockserver.memory_state import MemoryState
from mockserver.recorded import RecordedStub
from mockserver.redis_state import RedisState
from mockserver.spec import StubSpec
from mockserver.state import (
    ATTEMPTS_KEPT,
    STARTED,
    ApiStubs,
    ApiStubsChange,
    Recordings,
    Refusal,
    ScenarioStep,
    ServiceRecording,
    State,
)
from mockserver.stub import Stub
from tests.redis_server import unique_prefix

MakeState = Callable[[int], State]


def memory_states(_request: pytest.FixtureRequest) -> MakeState:
    return lambda limit: MemoryState(1000, 10**9, limit)


def redis_states(request: pytest.FixtureRequest) -> MakeState:
    url = request.getfixturevalue("redis_url")  # the session's redis-server
    return lambda limit: RedisState(
        url, journal_limit=1000, journal_max_bytes=10**9, limit=limit, prefix=unique_prefix()
    )


STATES: dict[str, Callable[[pytest.FixtureRequest], MakeState]] = {
    "memory": memory_states,
    "redis": redis_states,
}


@pytest.fixture(params=sorted(STATES))
async def make_state(request: pytest.FixtureRequest) -> AsyncIterator[MakeState]:
    new_state = STATES[request.param](request)
    made: list[State] = []

    def make(limit: int) -> State:
        made.append(new_state(limit))
        return made[-1]

    yield make
    for state in made:
        if isinstance(state, RedisState):
            await state.close()


def stub(text: str, tmp_path: Path) -> Stub:
    (parsed,) = parse_stub_text(text, stub_dirs=[tmp_path])
    return parsed


async def test_many_concurrent_claims_of_a_times_1_stub_have_one_winner(
    make_state: MakeState,
) -> None:
    state = make_state(4).default
    claims = await asyncio.gather(*(state.claim("once", times=1) for _ in range(200)))
    winners = [claim for claim in claims if not isinstance(claim, Refusal)]
    assert winners == [1]
    refused = [claim for claim in claims if isinstance(claim, Refusal)]
    assert len(refused) == 199
    assert refused[0] == Refusal("times", "at most 1", "already answered 1 time")
    assert (await state.hits())["once"] == 1


def test_claims_from_many_threads_never_overshoot_times() -> None:
    # the in-memory state is also read by the pytest plugin's thread: one lock, any thread
    state = MemoryState(1000, 10**9, 4).default
    barrier = threading.Barrier(8)
    won: list[int] = []

    def claim_many() -> None:
        barrier.wait()
        for _ in range(100):
            claim = state.claim_now("five", times=5)
            if isinstance(claim, int):
                won.append(claim)

    threads = [threading.Thread(target=claim_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [1, 2, 3, 4, 5]


async def test_a_scenario_moves_once_per_claim_even_when_claims_race(
    make_state: MakeState,
) -> None:
    state = make_state(4).default
    pay = ScenarioStep("checkout", STARTED, "paid")
    claims = await asyncio.gather(*(state.claim("pay", scenario=pay) for _ in range(50)))
    assert [claim for claim in claims if isinstance(claim, int)] == [1]
    refusal = next(claim for claim in claims if isinstance(claim, Refusal))
    assert refusal == Refusal("scenario.state", "scenario 'checkout' in state 'started'", "paid")
    assert await state.scenarios() == {"checkout": "paid"}
    # a stub that asks for no particular state moves it whatever it is
    assert await state.claim("cancel", scenario=ScenarioStep("checkout", None, "cancelled")) == 1
    assert await state.scenarios() == {"checkout": "cancelled"}


async def test_the_hit_count_picks_the_response_and_grows_by_one(make_state: MakeState) -> None:
    state = make_state(4).default
    assert [await state.claim("seq") for _ in range(3)] == [1, 2, 3]
    await state.set_scenario("s", "x")
    assert await state.scenarios() == {"s": "x"}


def answered(stub_id: str) -> Exchange:
    return Exchange(IncomingRequest("GET", "/plain", {}, {}), Outcome(True, 200, stub_id), 0.0, 0.1)


async def test_a_claim_free_answer_is_counted_with_its_journal_entry_as_one_step(
    make_state: MakeState,
) -> None:
    state = make_state(4).default
    seen: list[tuple[int, int]] = []

    async def read_while_recording() -> None:
        for _ in range(30):
            journaled = await state.journal.count()  # the entries first, then the count
            seen.append((journaled, (await state.hits()).get("plain", 0)))

    seqs, _ = await asyncio.gather(
        asyncio.gather(*(state.record_counted(answered("plain"), "plain") for _ in range(60))),
        read_while_recording(),
    )
    assert sorted(seq or 0 for seq in seqs) == list(range(1, 61))
    assert (await state.hits())["plain"] == 60
    assert await state.journal.count() == 60
    # whatever a reader saw of the journal, the count already held those answers
    assert all(hits >= journaled for journaled, hits in seen), seen
    (entry,) = await state.journal.latest(1)
    assert (entry.seq, entry.exchange.outcome.stub_id) == (60, "plain")


async def test_a_claim_free_answer_chosen_under_stale_api_stubs_is_neither_counted_nor_recorded(
    make_state: MakeState, tmp_path: Path
) -> None:
    state = make_state(4).default
    before = await state.api_stubs()
    assert await state.record_counted(answered("a"), "a", version=before.version) == 1
    added = stub("id: b\nrequest: {path: /b}\n", tmp_path)
    after = await state.update_api_stubs(
        lambda current: ApiStubsChange((*current.stubs, added), current.hidden_file_ids)
    )
    assert await state.record_counted(answered("a"), "a", version=before.version) is None
    assert await state.hits() == {"a": 1}
    assert await state.journal.count() == 1
    assert await state.record_counted(answered("a"), "a", version=after.version) == 2
    assert await state.hits() == {"a": 2}


async def test_api_stubs_change_atomically_and_get_a_new_version(
    make_state: MakeState, tmp_path: Path
) -> None:
    state = make_state(4).default
    first = stub("id: a\nrequest: {path: /a}\n", tmp_path)
    before = await state.api_stubs()
    after = await state.update_api_stubs(
        lambda current: ApiStubsChange((*current.stubs, first), current.hidden_file_ids)
    )
    assert after.version > before.version
    assert [s.id for s in (await state.api_stubs()).stubs] == ["a"]

    def refuse(current: ApiStubs) -> ApiStubsChange:
        raise AdminInputError("no")

    with pytest.raises(AdminInputError):
        await state.update_api_stubs(refuse)
    assert (await state.api_stubs()) == after  # a refused change leaves everything as it was


async def test_forgotten_stubs_count_from_zero_again(make_state: MakeState) -> None:
    state = make_state(4).default
    await state.claim("a")
    await state.claim("a")
    await state.update_api_stubs(
        lambda current: ApiStubsChange(current.stubs, current.hidden_file_ids, frozenset({"a"}))
    )
    assert await state.claim("a") == 1


async def test_reset_clears_everything_of_its_namespace_and_nothing_else(
    make_state: MakeState, tmp_path: Path
) -> None:
    state = make_state(4)
    mine, other = await state.create("mine"), await state.create("other")
    api = stub("id: a\nrequest: {path: /a}\n", tmp_path)
    for namespace in (mine, other):
        await namespace.claim("s")
        await namespace.set_scenario("flow", "done")
        await namespace.journal.record(
            Exchange(IncomingRequest("GET", "/x", {}, {}), Outcome(False, 404), 0.0, 0.1)
        )
        await namespace.update_api_stubs(
            lambda current: ApiStubsChange((api,), frozenset({"file-stub"}))
        )
    assert await mine.reset() == 1
    assert (await mine.hits(), await mine.scenarios()) == ({}, {})
    assert (await mine.journal.stats()).size == 0
    cleared = await mine.api_stubs()
    assert (cleared.stubs, cleared.hidden_file_ids) == ((), frozenset({"file-stub"}))
    assert (await other.hits(), await other.scenarios()) == ({"s": 1}, {"flow": "done"})
    assert (await other.journal.stats()).size == 1
    assert len((await other.api_stubs()).stubs) == 1


async def test_namespaces_are_bounded_and_only_created_on_purpose(make_state: MakeState) -> None:
    state = make_state(2)
    assert await state.lookup("ghost") is None
    state.detached("ghost")  # what a reader of a namespace not yet created sees
    assert await state.names() == []
    await state.create("a")
    assert await state.create("a") is await state.lookup("a")
    await state.create("b")
    with pytest.raises(NamespaceLimitError, match="limit of 2 namespaces"):
        await state.create("c")
    assert await state.names() == ["a", "b"]
    assert await state.remove("a")
    assert not await state.remove("a")
    await state.create("c")
    assert await state.lookup(None) is state.default


async def test_concurrent_creation_of_one_namespace_gives_one_state(make_state: MakeState) -> None:
    state = make_state(2)
    created = await asyncio.gather(*(state.create("same") for _ in range(20)))
    assert all(namespace is created[0] for namespace in created)
    assert await state.names() == ["same"]


async def test_api_orders_are_unique_under_concurrency(make_state: MakeState) -> None:
    state = make_state(2)
    firsts = await asyncio.gather(*(state.next_api_orders(3) for _ in range(50)))
    numbers = [first + offset for first in firsts for offset in range(3)]
    assert len(set(numbers)) == 150


async def test_a_namespace_starts_with_the_default_clock_and_reset_makes_it_real(
    make_state: MakeState,
) -> None:
    state = make_state(4)
    frozen = ClockSetting.frozen_at(datetime(2026, 1, 1, tzinfo=UTC))
    assert await state.default.clock() == REAL
    before = await state.create("before")
    assert await before.clock() == REAL
    await state.default.update_clock(lambda _current: frozen)
    assert await state.detached("ghost").clock() == frozen  # what it would start with
    created = await state.create("after")
    assert await created.clock() == frozen
    assert await before.clock() == REAL  # a copy at creation, not a link
    await created.reset()
    assert (await created.clock(), await state.default.clock()) == (REAL, frozen)


async def test_clock_changes_are_atomic(make_state: MakeState) -> None:
    state = make_state(4).default
    await state.update_clock(lambda _current: ClockSetting.offset_by(0))
    await asyncio.gather(
        *(state.update_clock(lambda current: current.advance(10)) for _ in range(100))
    )
    assert (await state.clock()).offset_ms == 1000


async def test_callback_attempts_are_kept_per_namespace_bounded_and_cleared_by_reset(
    make_state: MakeState,
) -> None:
    state = make_state(4)
    mine, other = await state.create("mine"), await state.create("other")
    await asyncio.gather(
        *(mine.record_attempt({"id": f"cb_{n}", "attempt": 1, "request": None}) for n in range(5))
    )
    await other.record_attempt({"id": "cb_other", "attempt": 2, "request": {"body": "é"}})
    assert sorted(attempt["id"] for attempt in await mine.attempts()) == [
        f"cb_{n}" for n in range(5)
    ]
    assert await other.attempts() == [{"id": "cb_other", "attempt": 2, "request": {"body": "é"}}]
    assert await state.detached("ghost").attempts() == []
    for n in range(ATTEMPTS_KEPT):
        await mine.record_attempt({"id": f"late_{n}"})
    kept = await mine.attempts()
    assert len(kept) == ATTEMPTS_KEPT
    assert (kept[0]["id"], kept[-1]["id"]) == ("late_0", f"late_{ATTEMPTS_KEPT - 1}")
    await mine.reset()
    assert await mine.attempts() == []
    assert len(await other.attempts()) == 1
    assert await state.remove("other")
    # a callback still delivered after its namespace went: not kept for one made again
    await other.record_attempt({"id": "cb_late"})
    assert await (await state.create("other")).attempts() == []


def recorded(stub_id: str, body: str, files: dict[str, bytes] | None = None) -> RecordedStub:
    spec = StubSpec.model_validate(
        {
            "id": stub_id,
            "request": {"method": "GET", "path": f"/{stub_id}"},
            "response": {"body": body},
        }
    )
    return RecordedStub(spec, files or {})


def with_recorded(recordings: Recordings, service: str, stub: RecordedStub) -> Recordings:
    recording = recordings.services.get(service) or ServiceRecording(service, f"/{service}")
    changed = replace(recording, stubs=(*recording.stubs, stub))
    return replace(recordings, services={**recordings.services, service: changed})


async def test_recordings_are_kept_per_namespace_changed_atomically_and_outlive_a_reset(
    make_state: MakeState,
) -> None:
    state = make_state(4)
    mine, other = await state.create("mine"), await state.create("other")
    assert await mine.recordings() == Recordings()
    logo = b"\x89PNG\r\n\x1a\n\x00\xff"  # body files are bytes, not text
    loaded = ServiceRecording(
        "api", "/api/v1", (recorded("old", "before", {"__files/logo.png": logo}),), (), frozenset()
    )
    await mine.update_recordings(lambda _: Recordings("new_episodes", {"api": loaded}))
    # 50 concurrent changes, each adding one stub: none is lost (Redis retries a change that
    # another client's came before)
    await asyncio.gather(
        *(
            mine.update_recordings(
                lambda recordings, n=n: with_recorded(recordings, "api", recorded(f"s{n}", "é"))
            )
            for n in range(50)
        )
    )
    seen = await mine.recordings()
    assert seen.mode == "new_episodes"
    api = seen.services["api"]
    assert (api.base_path, api.earlier) == ("/api/v1", loaded.earlier)
    assert api.earlier is not None
    assert api.earlier[0].files == {"__files/logo.png": logo}
    assert sorted(stub.spec.id or "" for stub in api.stubs) == sorted(f"s{n}" for n in range(50))
    assert api.stubs[0].spec.answers[0].body == "é"
    assert await other.recordings() == Recordings()

    def refuse(_: Recordings) -> Recordings:
        raise AdminInputError("refused", [])

    with pytest.raises(AdminInputError):
        await mine.update_recordings(refuse)
    assert await mine.recordings() == seen  # a refused change wrote nothing
    await mine.reset()  # a reset leaves what was recorded (it is not a test's traffic)
    assert await mine.recordings() == seen
    assert await state.remove("mine")
    assert await (await state.create("mine")).recordings() == Recordings()
