"""MemoryJournal: the journal in this process's memory, bounded, compact, safe from any thread.

An entry is stored as one plain tuple of atomic values (`_Record`): the request's method, path,
query string, header lines (one bytes object) and body as the parser delivered them, and how the
mock answered. So recording costs a tuple and an append, an entry takes a few hundred bytes
beyond its body, and the cyclic garbage collector, which stops tracking tuples of atomic values,
never walks a full journal (that walk was the mock's worst latency). The layout is private:
`_stored` and `_entry` are the only functions that know it; readers get `JournalEntry`s.

`seq` is assigned under one lock (never held across an await). Queries scan the stored tuples,
comparing method and path on the stored fields before rebuilding a request. Pure: no sockets.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterable
from itertools import islice
from types import TracebackType
from typing import Any, Final

from mockserver.exchange import (
    Exchange,
    JournalEntry,
    Outcome,
    is_preflight,
    rare_fields,
    unpack_rare,
)
from mockserver.incoming import IncomingRequest
from mockserver.journal import (
    EVERYTHING,
    JournalPage,
    JournalQuery,
    JournalStats,
    stored_filter,
)
from mockserver.matching import match_params

_ENTRY_OVERHEAD: Final = 300
"""Bytes an entry costs beyond its body, header lines and path (the tuple, numbers, the slot):
with them, the estimate that --journal-max-bytes bounds."""

_Record = tuple[Any, ...]

_INDEXED_READS: Final = 64
_INDEXED_PAGE: Final = 1000

_SEQ: Final = 0
_TIME: Final = 1
_DURATION_MS: Final = 2
_MATCHED: Final = 3
_STATUS: Final = 4
_STUB_ID: Final = 5
_SERVICE: Final = 6
_METHOD: Final = 7
_PATH: Final = 8
_QUERY_STRING: Final = 9
_HEADER_BLOCK: Final = 10
_BODY: Final = 11
_NAMESPACE: Final = 12
_SIZE: Final = 13
_EXTRA: Final = 14
"""None, or the rarely set fields (`exchange.rare_fields`)."""


def _stored(seq: int, exchange: Exchange) -> _Record:
    """An exchange in the stored layout (the inverse of `_entry`)."""
    request, outcome = exchange.request, exchange.outcome
    query_string, block = request.wire()
    extra = rare_fields(exchange)
    path, body = request.path, request.body
    raw_size = 0 if request.raw_body is None else len(request.raw_body)
    return (
        seq, exchange.time, exchange.duration_ms, outcome.matched, outcome.status,
        outcome.stub_id, outcome.service, request.method, path, query_string, block, body,
        request.namespace, _ENTRY_OVERHEAD + len(body) + raw_size + len(path) + len(block), extra,
    )  # fmt: skip


def _entry(record: _Record) -> JournalEntry:
    rare = unpack_rare(record[_EXTRA])
    request = IncomingRequest.from_wire(
        record[_METHOD],
        record[_PATH],
        record[_QUERY_STRING],
        record[_HEADER_BLOCK],
        record[_BODY],
        namespace=record[_NAMESPACE],
        **rare.request,
    )
    outcome = Outcome(
        record[_MATCHED],
        record[_STATUS],
        record[_STUB_ID],
        record[_SERVICE],
        rare.near_misses,
        rare.error,
        rare.fault,
        rare.proxied_to,
        rare.upstream_status,
    )
    exchange = Exchange(request, outcome, record[_TIME], record[_DURATION_MS])
    return JournalEntry(record[_SEQ], exchange)


def _selected(records: Iterable[_Record], query: JournalQuery) -> list[JournalEntry]:
    """The entries passing `query` (`limit` aside)."""
    return [_entry(record) for record in _passing(records, query)]


def _by_seq_only(query: JournalQuery) -> bool:
    """Whether `query` selects by seq bounds and limit alone (no field, no matcher)."""
    return (
        query.matcher is None
        and query.method is None
        and query.path is None
        and query.service is None
        and query.stub_id is None
        and query.matched is None
    )


def _passing(records: Iterable[_Record], query: JournalQuery) -> list[_Record]:
    """The records passing `query` (`limit` aside): stored fields first, a request is rebuilt
    only for a record that passes them, and none when they decide (so a page of the newest
    entries of a full journal rebuilds only that page)."""
    stored = stored_filter(query)
    if stored is None:
        return []
    methods, path, check = stored.methods, stored.path, stored.check
    matched, service, stub_id = stored.matched, stored.service, stored.stub_id
    with_preflights = not stored.skip_preflights
    since, before = query.since_seq, query.before_seq
    if (
        since is None
        and before is None
        and methods is None
        and path is None
        and matched is None
        and service is None
        and stub_id is None
        and check is None
        and with_preflights
    ):
        return list(records)
    selected = []
    for record in records:
        if (
            (since is None or record[_SEQ] > since)
            and (before is None or record[_SEQ] < before)
            and (methods is None or record[_METHOD] in methods)
            and (path is None or record[_PATH] == path)
            and (matched is None or record[_MATCHED] == matched)
            and (service is None or record[_SERVICE] == service)
            and (stub_id is None or record[_STUB_ID] == stub_id)
            and (
                with_preflights
                or not is_preflight(
                    record[_METHOD], record[_MATCHED], record[_STUB_ID], record[_STATUS]
                )
            )
        ) and (check is None or match_params(check, _entry(record).request) is not None):
            selected.append(record)
    return selected


class MemoryJournal:
    """A bounded, numbered record of exchanges."""

    def __init__(self, limit: int, max_bytes: int) -> None:
        self._records: deque[_Record] = deque()
        self._limit = limit
        self._max_bytes = max_bytes
        self._bytes = 0
        self._last_seq = 0
        self._dropped = 0
        self._lock = threading.Lock()
        self._subscriptions: list[_MemorySubscription] = []

    def record_now(self, exchange: Exchange) -> int:
        """`record` without an await: the request path's fast answers call this."""
        records = self._records
        with self._lock:
            seq = self._last_seq = self._last_seq + 1
            record = _stored(seq, exchange)
            records.append(record)
            self._bytes += record[_SIZE]
            limit, max_bytes = self._limit, self._max_bytes
            while len(records) > limit or (self._bytes > max_bytes and len(records) > 1):
                self._bytes -= records.popleft()[_SIZE]
                self._dropped += 1
        if self._subscriptions:
            for subscription in tuple(self._subscriptions):
                subscription.wake()
        return seq

    async def record(self, exchange: Exchange) -> int:
        return self.record_now(exchange)

    def amend_now(self, seq: int, outcome: Outcome) -> bool:
        """`amend` without an await. Seqs held are consecutive: the record is found by index."""
        records = self._records
        with self._lock:
            if not records or not records[0][_SEQ] <= seq <= records[-1][_SEQ]:
                return False
            index = seq - records[0][_SEQ]
            old = records[index]
            exchange = _entry(old).exchange
            exchange.outcome = outcome
            new = _stored(seq, exchange)
            records[index] = new
            self._bytes += new[_SIZE] - old[_SIZE]
        return True

    async def amend(self, seq: int, outcome: Outcome) -> bool:
        return self.amend_now(seq, outcome)

    def _snapshot(self) -> list[_Record]:
        with self._lock:
            return list(self._records)

    async def find(self, query: JournalQuery = EVERYTHING) -> JournalPage:
        if _by_seq_only(query):
            return self._window(query)
        selected = _passing(self._snapshot(), query)
        page = [_entry(record) for record in query.page(selected)]
        return JournalPage(page, len(selected), self._dropped)

    def _window(self, query: JournalQuery) -> JournalPage:
        """A query on seqs and limit alone, answered by index: seqs are consecutive, so the
        live view's page of the newest entries below a seq costs that page, not the journal."""
        with self._lock:
            records = self._records
            held = len(records)
            first = records[0][_SEQ] if records else 0
            since, before, limit = query.since_seq, query.before_seq, query.limit
            start = 0 if since is None else min(held, max(0, since - first + 1))
            stop = held if before is None else min(held, max(start, before - first))
            total = stop - start
            if limit is not None and limit < total:
                if since is not None:
                    stop = start + limit
                else:
                    start = stop - limit
            if stop - start > _INDEXED_PAGE:
                picked = list(islice(records, start, stop))
            else:  # a deque indexes from its nearer end, a block at a time: a page costs little
                picked = [records[index] for index in range(start, stop)]
        return JournalPage([_entry(record) for record in picked], total, self._dropped)

    async def count(self, query: JournalQuery = EVERYTHING) -> int:
        if query == EVERYTHING:
            return len(self._records)
        return len(_passing(self._snapshot(), query))

    async def get(self, seq: int) -> JournalEntry | None:
        return next((entry for entry in self.entries_after(seq - 1, 1) if entry.seq == seq), None)

    async def since(self, seq: int, limit: int | None = None) -> list[JournalEntry]:
        return self.entries_after(seq, limit)

    def entries_after(self, seq: int, limit: int | None = None) -> list[JournalEntry]:
        """Entries with a greater seq, oldest first: found from the newest end, since seqs are
        consecutive, so following a busy journal costs what is new, not what is held."""
        with self._lock:
            records = self._records
            if not records or records[-1][_SEQ] <= seq:
                return []
            skip = max(0, seq - records[0][_SEQ] + 1)
            count = len(records) - skip
            if limit is not None:
                count = min(count, limit)
            if count > _INDEXED_READS:
                picked = list(islice(records, skip, skip + count))
            else:  # a deque indexes from its nearer end: the newest entries cost little
                picked = [records[skip + offset] for offset in range(count)]
        return [_entry(record) for record in picked]

    async def latest(self, limit: int) -> list[JournalEntry]:
        with self._lock:
            records = self._records
            start = max(0, len(records) - limit)
            picked = list(islice(records, start, None))
        return [_entry(record) for record in picked]

    async def unmatched(self) -> list[JournalEntry]:
        return _selected(self._snapshot(), JournalQuery(matched=False))

    async def stats(self) -> JournalStats:
        return self.stats_now()

    def stats_now(self) -> JournalStats:
        return JournalStats(len(self._records), self._dropped, self._last_seq)

    async def clear(self) -> int:
        with self._lock:
            cleared = len(self._records)
            self._records.clear()
            self._bytes = 0
            self._dropped = 0
        return cleared

    def subscribe(self, after_seq: int | None = None) -> _MemorySubscription:
        return _MemorySubscription(self, self._last_seq if after_seq is None else after_seq)

    def _follow(self, subscription: _MemorySubscription) -> None:
        self._subscriptions.append(subscription)

    def _unfollow(self, subscription: _MemorySubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)


class _MemorySubscription:
    """Wakes on each append and hands out what is new since the last entry it gave, read back
    from the journal: a slow reader holds no copy of its own, and misses only entries the
    bounds dropped meanwhile."""

    def __init__(self, journal: MemoryJournal, after_seq: int) -> None:
        self._journal = journal
        self._last_seq = after_seq
        self._pending: deque[JournalEntry] = deque()
        self._appended = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._closed = False
        journal._follow(self)

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def wake(self) -> None:
        if self._loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._appended.set()
        else:  # an append on another thread
            self._loop.call_soon_threadsafe(self._appended.set)

    def __aiter__(self) -> _MemorySubscription:
        return self

    async def __anext__(self) -> JournalEntry:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            self._appended.clear()
            self._pending.extend(self._journal.entries_after(self._last_seq))
            if not self._pending:
                await self._appended.wait()
        entry = self._pending.popleft()
        self._last_seq = entry.seq
        return entry

    async def __aenter__(self) -> _MemorySubscription:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._journal._unfollow(self)
        self._appended.set()
