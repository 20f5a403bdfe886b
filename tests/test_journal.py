"""The journal's contract, run against every implementation; then what the in-memory one adds.

Each implementation is a fixture parameter: a journal shared through another store (Redis) joins
`JOURNALS` and must pass the same tests.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from mockserver.exchange import Exchange, JournalEntry, Outcome
from mockserver.incoming import IncomingRequest, parse_query, raw_query
from mockserver.journal import EVERYTHING, Journal, JournalQuery
from mockserver.matching import compile_request
from mockserver.memory_journal import MemoryJournal
from mockserver.nearmiss import NearMiss, StubTarget
from mockserver.redis_journal import RedisJournal
from mockserver.redis_state import RedisState
from mockserver.spec import RequestSpec
from tests.redis_server import unique_prefix

MakeJournal = Callable[[int, int], Journal]


def memory_journals(_request: pytest.FixtureRequest) -> MakeJournal:
    return MemoryJournal


def redis_journals(request: pytest.FixtureRequest) -> MakeJournal:
    url = request.getfixturevalue("redis_url")  # the session's redis-server

    def make(limit: int, max_bytes: int) -> Journal:
        state = RedisState(
            url, journal_limit=limit, journal_max_bytes=max_bytes, limit=4, prefix=unique_prefix()
        )
        return state.default.journal

    return make


JOURNALS: dict[str, Callable[[pytest.FixtureRequest], MakeJournal]] = {
    "memory": memory_journals,
    "redis": redis_journals,
}


@pytest.fixture(params=sorted(JOURNALS))
async def make_journal(request: pytest.FixtureRequest) -> AsyncIterator[MakeJournal]:
    new_journal = JOURNALS[request.param](request)
    made: list[Journal] = []

    def make(limit: int, max_bytes: int) -> Journal:
        made.append(new_journal(limit, max_bytes))
        return made[-1]

    yield make
    for journal in made:
        if isinstance(journal, RedisJournal):
            await journal.client.aclose()
            await journal.feeds.aclose()


def exchange(
    path: str = "/x",
    *,
    method: str = "GET",
    body: bytes = b"",
    matched: bool = False,
    status: int = 404,
    stub_id: str | None = None,
    service: str | None = None,
) -> Exchange:
    request = IncomingRequest(method, path, {}, {}, body)
    return Exchange(request, Outcome(matched, status, stub_id, service), 0.0, 0.1)


async def record(journal: Journal, path: str = "/x", body: bytes = b"") -> JournalEntry:
    seq = await journal.record(exchange(path, body=body))
    entry = await journal.get(seq)
    assert entry is not None
    assert entry.seq == seq
    return entry


async def seqs(journal: Journal, query: JournalQuery = EVERYTHING) -> list[int]:
    return [entry.seq for entry in (await journal.find(query)).entries]


async def test_seq_starts_at_one_and_survives_clear(make_journal: MakeJournal) -> None:
    journal = make_journal(10, 10**6)
    assert [(await record(journal)).seq for _ in range(3)] == [1, 2, 3]
    assert await journal.clear() == 3
    assert (await journal.stats()).size == 0
    assert (await record(journal)).seq == 4


async def test_entry_limit_drops_the_oldest_and_counts_them(make_journal: MakeJournal) -> None:
    journal = make_journal(2, 10**6)
    for index in range(5):
        await record(journal, f"/{index}")
    page = await journal.find()
    assert [entry.request.path for entry in page.entries] == ["/3", "/4"]
    assert page.dropped == 3
    assert (await journal.stats()).dropped == 3
    assert await journal.get(1) is None
    # seq bounds count from what is held, not from 1
    assert await seqs(journal, JournalQuery(before_seq=5, limit=1)) == [4]
    assert await seqs(journal, JournalQuery(since_seq=1)) == [4, 5]
    assert await seqs(journal, JournalQuery(before_seq=2)) == []
    assert (await journal.find(JournalQuery(since_seq=3, before_seq=9))).total == 2


async def test_a_single_entry_larger_than_the_byte_bound_is_still_kept(
    make_journal: MakeJournal,
) -> None:
    journal = make_journal(10, 100)
    await record(journal, body=b"x" * 1000)
    assert (await journal.stats()).size == 1
    await record(journal, body=b"y" * 1000)
    assert await seqs(journal) == [2]
    assert (await journal.stats()).dropped == 1


async def test_filters_and_paging(make_journal: MakeJournal) -> None:
    journal = make_journal(100, 10**6)
    await journal.record(exchange("/a", matched=True, status=200, stub_id="s1", service="pay"))
    await journal.record(exchange("/b", method="POST"))
    await journal.record(exchange("/a", matched=True, status=200, stub_id="s2", service="mail"))
    await journal.record(exchange("/c"))
    assert await seqs(journal, JournalQuery(path="/a")) == [1, 3]
    assert await seqs(journal, JournalQuery(method="POST")) == [2]
    assert await seqs(journal, JournalQuery(service="mail")) == [3]
    assert await seqs(journal, JournalQuery(stub_id="s1")) == [1]
    assert await seqs(journal, JournalQuery(matched=False)) == [2, 4]
    assert [entry.seq for entry in await journal.unmatched()] == [2, 4]
    newest = await journal.find(JournalQuery(limit=2))
    assert ([entry.seq for entry in newest.entries], newest.total) == ([3, 4], 4)
    forward = await journal.find(JournalQuery(since_seq=1, limit=2))
    assert ([entry.seq for entry in forward.entries], forward.total) == ([2, 3], 3)
    backward = await journal.find(JournalQuery(before_seq=4, limit=2))
    assert ([entry.seq for entry in backward.entries], backward.total) == ([2, 3], 3)
    assert await seqs(journal, JournalQuery(before_seq=4, path="/a")) == [1, 3]
    assert await seqs(journal, JournalQuery(since_seq=1, before_seq=4, limit=1)) == [2]
    assert [entry.seq for entry in await journal.since(2)] == [3, 4]
    assert [entry.seq for entry in await journal.since(0, limit=1)] == [1]
    assert [entry.seq for entry in await journal.latest(3)] == [2, 3, 4]
    assert await journal.since(4) == []


async def test_a_request_matcher_selects_entries(make_journal: MakeJournal) -> None:
    journal = make_journal(100, 10**6)
    await journal.record(exchange("/v1/charges", method="POST", body=b'{"amount": 5}'))
    await journal.record(exchange("/v1/charges", method="POST", body=b'{"amount": 7}'))
    await journal.record(exchange("/v1/charges", method="GET"))
    by_body = compile_request(
        RequestSpec.model_validate({"method": "POST", "body": {"json": {"amount": 7}}})
    )
    assert await journal.count(JournalQuery(matcher=by_body)) == 1
    by_path = compile_request(RequestSpec.model_validate({"path": "/v1/charges"}))
    assert await journal.count(JournalQuery(matcher=by_path, method="GET")) == 1
    assert await journal.count(JournalQuery(matcher=by_path, path="/elsewhere")) == 0
    assert await journal.count() == 3


async def test_a_subscription_yields_each_new_entry_in_order(make_journal: MakeJournal) -> None:
    journal = make_journal(100, 10**6)
    await record(journal, "/before")
    async with journal.subscribe() as feed:
        await record(journal, "/one")
        await record(journal, "/two")
        got = [await anext(feed), await anext(feed)]
        assert [entry.request.path for entry in got] == ["/one", "/two"]
        waiting = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0)  # the reader is now parked on the feed
        assert not waiting.done()
        await record(journal, "/three")
        assert (await waiting).request.path == "/three"
        assert feed.last_seq == 4


async def test_a_subscription_resumes_after_a_given_seq(make_journal: MakeJournal) -> None:
    journal = make_journal(100, 10**6)
    for path in ("/1", "/2", "/3"):
        await record(journal, path)
    async with journal.subscribe(after_seq=1) as feed:
        assert [(await anext(feed)).seq, (await anext(feed)).seq] == [2, 3]


async def test_a_closed_subscription_ends(make_journal: MakeJournal) -> None:
    journal = make_journal(100, 10**6)
    feed = journal.subscribe()
    waiting = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0)
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await waiting


async def test_concurrent_records_are_numbered_without_gaps(make_journal: MakeJournal) -> None:
    journal = make_journal(100_000, 10**9)
    seqs_given = await asyncio.gather(*(journal.record(exchange()) for _ in range(2000)))
    assert sorted(seqs_given) == list(range(1, 2001))
    assert await seqs(journal) == list(range(1, 2001))


async def test_an_entry_gives_back_the_request_and_outcome_it_was_made_from(
    make_journal: MakeJournal,
) -> None:
    journal = make_journal(10, 10**6)
    raw = ((b"Host", b"x"), (b"X-Tag", b"a"), (b"x-tag", b"b"), (b"X-Empty", b""))
    sent = IncomingRequest.from_wire(
        "PUT",
        "/k",
        "q=1&q=2",
        raw,
        b"\xff\x00",
        body_size=9,
        body_truncated=True,
        namespace="n1",
        content_encoding="gzip",
        raw_body=b"\x1f\x8b compressed",
    )
    near = (NearMiss(StubTarget("s", "s.yaml:1"), "method", "equals 'GET'", "PUT"),)
    outcome = Outcome(False, 413, near_misses=near, error="too big", fault=None)
    seq = await journal.record(Exchange(sent, outcome, 1.5, 0.2))
    entry = await journal.get(seq)
    assert entry is not None
    back = entry.request
    assert back.raw_headers == raw
    assert back.headers == {"host": "x", "x-tag": "a, b", "x-empty": ""}
    assert back.query == {"q": ["1", "2"]}
    assert (back.body, back.body_size, back.body_truncated) == (b"\xff\x00", 9, True)
    assert (back.method, back.path, back.namespace) == ("PUT", "/k", "n1")
    assert (back.content_encoding, back.raw_body) == ("gzip", b"\x1f\x8b compressed")
    assert entry.outcome == outcome
    assert (entry.exchange.time, entry.exchange.duration_ms) == (1.5, 0.2)


async def test_entry_json_has_the_contract_fields(make_journal: MakeJournal) -> None:
    journal = make_journal(10, 10**6)
    request = IncomingRequest(
        "post",
        "/v1/charges",
        {"expand": ["customer"]},
        {"content-type": "application/x-www-form-urlencoded"},
        b"amount=2000&currency=usd",
    )
    outcome = Outcome(True, 200, "create-charge", "stripe")
    await journal.record(Exchange(request, outcome, 1_700_000_000.25, 0.4126))
    (entry,) = (await journal.find()).entries
    assert entry.to_json() == {
        "seq": 1,
        "id": entry.id,
        "namespace": None,
        "time": "2023-11-14T22:13:20.250000Z",
        "service": "stripe",
        "method": "POST",
        "path": "/v1/charges",
        "raw_path": "/v1/charges",
        "query": {"expand": ["customer"]},
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "body": "amount=2000&currency=usd",
        "json": None,
        "form": {"amount": ["2000"], "currency": ["usd"]},
        "matched": True,
        "stub_id": "create-charge",
        "status": 200,
        "duration_ms": 0.413,
    }


async def test_an_entry_keeps_the_path_as_sent_beside_its_decoded_path(
    make_journal: MakeJournal,
) -> None:
    journal = make_journal(10, 10**6)
    for path, raw_path in (("/files/a%2Fb/caf\u00e9", "/files/a%2fb/caf%C3%A9"), ("/x", None)):
        request = IncomingRequest.from_wire("GET", path, "", (), raw_path=raw_path)
        await journal.record(Exchange(request, Outcome(False, 404), 1.0, 0.1))
    encoded, plain = (await journal.find()).entries
    assert (encoded.request.path, encoded.request.raw_path) == (
        "/files/a%2Fb/caf\u00e9",
        "/files/a%2fb/caf%C3%A9",
    )
    assert (encoded.to_json()["path"], encoded.to_json()["raw_path"]) == (
        "/files/a/b/caf\u00e9",
        "/files/a%2fb/caf%C3%A9",
    )
    assert plain.request.raw_path is None  # the same as `path`: not stored twice
    assert (plain.to_json()["path"], plain.to_json()["raw_path"]) == ("/x", "/x")


async def test_amend_replaces_the_outcome_of_a_held_entry(make_journal: MakeJournal) -> None:
    journal = make_journal(3, 10**6)
    first = await journal.record(exchange("/slow", matched=True, status=200, stub_id="slow"))
    await journal.record(exchange("/other"))
    cut = Outcome(True, 499, "slow", error="cut: the server stopped before the response was sent")
    # a filtered query before the amend: a journal that keeps a copy for such queries (Redis's
    # mirror) must not answer the next one from the copy as it was
    assert await journal.count(JournalQuery(path="/slow", matched=True)) == 1
    assert await journal.amend(first, cut)
    [amended] = (await journal.find(JournalQuery(path="/slow"))).entries
    assert (amended.outcome.status, amended.outcome.error) == (499, cut.error)
    entry = await journal.get(first)
    assert entry is not None
    assert (entry.request.path, entry.seq, entry.outcome) == ("/slow", first, cut)
    assert entry.to_json()["error"] == cut.error
    assert [e.request.path for e in (await journal.find()).entries] == ["/slow", "/other"]
    assert [e.request.path for e in await journal.since(0)] == ["/slow", "/other"]
    for path in ("/a", "/b", "/c"):  # the bounds push the amended entry out
        await journal.record(exchange(path))
    assert not await journal.amend(first, cut)
    assert not await journal.amend(10**6, cut)  # never recorded
    assert (await journal.stats()).size == 3


async def test_a_proxied_entry_keeps_its_upstream_and_takes_a_later_error(
    make_journal: MakeJournal,
) -> None:
    journal = make_journal(2, 10**6)
    outcome = Outcome(True, 200, "up", proxied_to="http://127.0.0.1:9/v1/x", upstream_status=200)
    seq = await journal.record(Exchange(IncomingRequest("GET", "/x", {}, {}), outcome, 1.0, 0.1))
    await journal.record(exchange())
    assert await journal.amend(seq, replace(outcome, error="upstream stopped")) is True
    entry = await journal.get(seq)
    assert entry is not None
    assert entry.outcome == Outcome(
        True,
        200,
        "up",
        proxied_to="http://127.0.0.1:9/v1/x",
        upstream_status=200,
        error="upstream stopped",
    )
    rendered = entry.to_json()
    assert (rendered["proxied_to"], rendered["upstream_status"], rendered["error"]) == (
        "http://127.0.0.1:9/v1/x",
        200,
        "upstream stopped",
    )
    assert [e.seq for e in (await journal.find()).entries] == [seq, seq + 1]
    await journal.record(exchange())  # the bound of 2 drops the amended entry
    assert await journal.amend(seq, outcome) is False
    assert await journal.amend(seq + 5, outcome) is False


# What the in-memory journal adds: records from any thread, storage the collector skips.


def test_memory_records_from_many_threads_are_numbered_without_gaps() -> None:
    journal = MemoryJournal(100_000, 10**9)
    barrier = threading.Barrier(8)

    def append_many() -> None:
        barrier.wait()
        for _ in range(500):
            journal.record_now(exchange())

    threads = [threading.Thread(target=append_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [entry.seq for entry in journal.entries_after(0)] == list(range(1, 4001))


def test_memory_records_leave_the_garbage_collectors_view() -> None:
    # a full journal walked by every full collection was the worst latency of a busy mock
    journal = MemoryJournal(10, 10**6)
    for index in range(3):
        request = IncomingRequest.from_wire(
            "POST", f"/v1/{index}", "a=1", ((b"Host", b"x"), (b"Accept", b"*/*")), b"{}"
        )
        journal.record_now(Exchange(request, Outcome(True, 200, "s"), 0.0, 0.1))
    gc.collect()
    stored = journal._snapshot()  # the private layout: what this test is about
    assert len(stored) == 3
    assert not any(gc.is_tracked(record) for record in stored)


def test_memory_unmatched_records_keep_their_near_misses_as_plain_values() -> None:
    journal = MemoryJournal(10, 10**6)
    near = (
        NearMiss(StubTarget("a", "s.yaml:1"), "query.q", "equals 'x'", None),
        NearMiss(StubTarget("b", "s.yaml:5"), "method", "equals 'GET'", "POST"),
    )
    request = IncomingRequest.from_wire("POST", "/v1/x", "", ((b"Host", b"x"),), b"")
    journal.record_now(Exchange(request, Outcome(False, 404, near_misses=near), 0.0, 0.1))
    # a collection untracks a tuple only once what it holds is untracked: a pass for each level
    # (a near miss, the near misses, the rarely set fields, the record)
    for _ in range(4):
        gc.collect()
    (stored,) = journal._snapshot()
    assert not gc.is_tracked(stored)
    assert journal.entries_after(0)[0].outcome.near_misses == near


def test_raw_query_is_the_encoded_query_of_the_target() -> None:
    assert raw_query("/v1/x?a=%2B1&b=2#top") == "a=%2B1&b=2"
    assert raw_query("/v1/x") == ""
    assert parse_query(raw_query("/p?c=%2526")) == {"c": ["%26"]}


async def test_filtered_counts_pass_over_preflights_unless_asked_for_options(
    make_journal: MakeJournal,
) -> None:
    journal = make_journal(10, 10**6)
    preflight = IncomingRequest.from_wire("OPTIONS", "/v1/charges", "", ())
    await journal.record(Exchange(preflight, Outcome(True, 204), 1.0, 0.1))
    await journal.record(exchange("/v1/charges", matched=True, status=200, stub_id="charge"))
    anything = compile_request(RequestSpec.model_validate({}), base_path=None, host=None)
    options = compile_request(
        RequestSpec.model_validate({"method": "OPTIONS"}), base_path=None, host=None
    )
    # counted twice: a journal keeping a copy for filtered queries (Redis) answers the second
    for _ in range(2):
        assert await journal.count(JournalQuery(matcher=anything)) == 1
        assert await journal.count(JournalQuery(matcher=options)) == 1
        assert await journal.count() == 2
