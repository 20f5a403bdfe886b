"""The journal: numbering, bounds, clearing, subscribers, and appends from many threads."""

from __future__ import annotations

import gc
import threading

from mockserver.incoming import IncomingRequest, parse_query, raw_query
from mockserver.journal import Journal, JournalEntry
from mockserver.nearmiss import NearMiss, StubTarget


def record(journal: Journal, path: str = "/x", body: bytes = b"") -> JournalEntry:
    request = IncomingRequest("GET", path, {}, {}, body)
    seq = journal.record(request, time=0.0, matched=False, status=404, duration_ms=0.1)
    entry = journal.snapshot()[-1]
    assert entry.seq == seq
    return entry


def test_seq_starts_at_one_and_survives_clear() -> None:
    journal = Journal(limit=10, max_bytes=10**6)
    assert [record(journal).seq for _ in range(3)] == [1, 2, 3]
    journal.clear()
    assert len(journal) == 0
    assert record(journal).seq == 4


def test_entry_limit_drops_the_oldest_and_counts_them() -> None:
    journal = Journal(limit=2, max_bytes=10**6)
    for index in range(5):
        record(journal, f"/{index}")
    assert [entry.request.path for entry in journal.snapshot()] == ["/3", "/4"]
    assert journal.dropped == 3


def test_a_single_entry_larger_than_the_byte_bound_is_still_kept() -> None:
    journal = Journal(limit=10, max_bytes=100)
    record(journal, body=b"x" * 1000)
    assert len(journal) == 1
    record(journal, body=b"y" * 1000)
    assert [entry.seq for entry in journal.snapshot()] == [2]
    assert journal.dropped == 1


def test_subscribers_hear_each_append_until_they_unsubscribe() -> None:
    journal = Journal(limit=10, max_bytes=10**6)
    heard: list[int] = []
    unsubscribe = journal.subscribe(heard.append)
    record(journal)
    record(journal)
    unsubscribe()
    record(journal)
    assert heard == [1, 2]


def test_appends_from_many_threads_are_numbered_without_gaps() -> None:
    journal = Journal(limit=100_000, max_bytes=10**9)
    barrier = threading.Barrier(8)

    def append_many() -> None:
        barrier.wait()
        for _ in range(500):
            journal.record(
                IncomingRequest("GET", "/x", {}, {}),
                time=0.0,
                matched=False,
                status=404,
                duration_ms=0.1,
            )

    threads = [threading.Thread(target=append_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [entry.seq for entry in journal.snapshot()] == list(range(1, 4001))


def test_entry_json_has_the_contract_fields() -> None:
    journal = Journal(limit=10, max_bytes=10**6)
    request = IncomingRequest(
        "post",
        "/v1/charges",
        {"expand": ["customer"]},
        {"content-type": "application/x-www-form-urlencoded"},
        b"amount=2000&currency=usd",
    )
    journal.record(
        request,
        time=1_700_000_000.25,
        matched=True,
        status=200,
        duration_ms=0.4126,
        stub_id="create-charge",
        service="stripe",
    )
    (entry,) = journal.snapshot()
    rendered = entry.to_json()
    assert rendered == {
        "seq": 1,
        "id": entry.id,
        "namespace": None,
        "time": "2023-11-14T22:13:20.250000Z",
        "service": "stripe",
        "method": "POST",
        "path": "/v1/charges",
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


def test_records_leave_the_garbage_collectors_view() -> None:
    # a full journal walked by every full collection was the worst latency of a busy mock
    journal = Journal(limit=10, max_bytes=10**6)
    for index in range(3):
        request = IncomingRequest.from_wire(
            "POST", f"/v1/{index}", "a=1", ((b"Host", b"x"), (b"Accept", b"*/*")), b"{}"
        )
        journal.record(request, time=0.0, matched=True, status=200, duration_ms=0.1, stub_id="s")
    gc.collect()
    assert not any(gc.is_tracked(record) for record in journal.records())


def test_unmatched_records_keep_their_near_misses_as_plain_values() -> None:
    journal = Journal(limit=10, max_bytes=10**6)
    near = (
        NearMiss(StubTarget("a", "s.yaml:1"), "query.q", "equals 'x'", None),
        NearMiss(StubTarget("b", "s.yaml:5"), "method", "equals 'GET'", "POST"),
    )
    request = IncomingRequest.from_wire("POST", "/v1/x", "", ((b"Host", b"x"),), b"")
    journal.record(request, time=0.0, matched=False, status=404, duration_ms=0.1, near_misses=near)
    # a collection untracks a tuple only once what it holds is untracked: a pass for each level
    # (a near miss, the near misses, the rarely set fields, the record)
    for _ in range(4):
        gc.collect()
    (stored,) = journal.records()
    assert not gc.is_tracked(stored)
    assert journal.snapshot()[0].near_misses == near


def test_a_record_gives_back_the_request_it_was_made_from() -> None:
    journal = Journal(limit=10, max_bytes=10**6)
    raw = ((b"Host", b"x"), (b"X-Tag", b"a"), (b"x-tag", b"b"), (b"X-Empty", b""))
    sent = IncomingRequest.from_wire(
        "PUT", "/k", "q=1&q=2", raw, b"\xff\x00", body_size=9, body_truncated=True, namespace="n1"
    )
    journal.record(sent, time=1.0, matched=False, status=413, duration_ms=0.2)
    (entry,) = journal.snapshot()
    back = entry.request
    assert back.raw_headers == raw
    assert back.headers == {"host": "x", "x-tag": "a, b", "x-empty": ""}
    assert back.query == {"q": ["1", "2"]}
    assert (back.body, back.body_size, back.body_truncated) == (b"\xff\x00", 9, True)
    assert (back.method, back.path, back.namespace) == ("PUT", "/k", "n1")


def test_raw_query_is_the_encoded_query_of_the_target() -> None:
    assert raw_query("/v1/x?a=%2B1&b=2#top") == "a=%2B1&b=2"
    assert raw_query("/v1/x") == ""
    assert parse_query(raw_query("/p?c=%2526")) == {"c": ["%26"]}
