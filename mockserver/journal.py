"""The journal's interface: one exchange in, numbered entries and answers to queries out.

Every mocked request is recorded, matched or not, numbered by `seq` (per namespace, from 1, never
reused, not even after a clear) and kept within bounds (the oldest go first; `dropped` says how
many). Readers ask questions (`find`, `count`, `get`, `since`, `unmatched`, `latest`, `stats`) or
follow new entries (`subscribe`); how an implementation stores entries is its own business, so
the in-memory journal keeps a compact form and another can push queries down to its store.

Reads are async: a journal shared between replicas answers over the network. Pure: the types and
the one filter every implementation applies; no I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeVar

from mockserver.exchange import Exchange, JournalEntry, Outcome, is_preflight
from mockserver.matching import RequestMatcher, match_params, record_filter

Selected = TypeVar("Selected")


def skips_preflights(matcher: RequestMatcher | None) -> bool:
    """Whether a request matcher passes over CORS preflights the server answered: every one
    but those that ask for OPTIONS (a browser's preflights are not the requests a test
    counts). Without a matcher (a listing), nothing is passed over."""
    return matcher is not None and (matcher.methods is None or "OPTIONS" not in matcher.methods)


@dataclass(frozen=True, slots=True)
class StoredFilter:
    """What a journal compares on the fields it stores before it rebuilds any request: the
    query's own filters, narrowed by what its matcher declares (methods, a literal path).
    `check` is the matcher still to apply to a rebuilt request (None: the stored fields
    decide); `skip_preflights` passes over the CORS preflights the server answered."""

    methods: frozenset[str] | None
    path: str | None
    matched: bool | None
    service: str | None
    stub_id: str | None
    skip_preflights: bool
    check: RequestMatcher | None


def stored_filter(query: JournalQuery) -> StoredFilter | None:
    """The query's `StoredFilter`; None when no entry can pass (its path and the path its
    matcher declares differ). `since_seq`, `before_seq` and `limit` are the journal's to apply."""
    methods = None if query.method is None else frozenset((query.method,))
    path = query.path
    decisive = True
    matcher = query.matcher
    if matcher is not None:
        matcher_methods, literal, decisive = record_filter(matcher)
        if matcher_methods is not None:
            methods = matcher_methods if methods is None else methods & matcher_methods
        if literal is not None:
            if path is not None and path != literal:
                return None
            path = literal
    return StoredFilter(
        methods,
        path,
        query.matched,
        query.service,
        query.stub_id,
        skips_preflights(matcher),
        None if decisive else matcher,
    )


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """Which entries a reader wants: every given filter must hold.

    `matcher` is a request matcher (the stub `request` format, compiled); the other filters
    compare the entry's fields as the admin API's `GET /requests` names them. With `since_seq`,
    only entries after it, and `limit` keeps the first N of those (paging forward); without it,
    `limit` keeps the newest N. With `before_seq`, only entries before it: with `limit`, the
    newest N of those (paging backward, as the live view does).
    """

    matcher: RequestMatcher | None = None
    method: str | None = None
    path: str | None = None
    service: str | None = None
    stub_id: str | None = None
    matched: bool | None = None
    since_seq: int | None = None
    limit: int | None = None
    before_seq: int | None = None

    def accepts(self, entry: JournalEntry) -> bool:
        """Whether `entry` passes every filter (`since_seq` and `limit` aside)."""
        request, outcome = entry.exchange.request, entry.exchange.outcome
        return (
            (self.before_seq is None or entry.seq < self.before_seq)
            and (self.method is None or request.method == self.method)
            and (self.path is None or request.path == self.path)
            and (self.service is None or outcome.service == self.service)
            and (self.stub_id is None or outcome.stub_id == self.stub_id)
            and (self.matched is None or outcome.matched == self.matched)
            and (self.matcher is None or match_params(self.matcher, request) is not None)
            and not (
                skips_preflights(self.matcher)
                and is_preflight(request.method, outcome.matched, outcome.stub_id, outcome.status)
            )
        )

    def page(self, selected: list[Selected]) -> list[Selected]:
        """`limit` applied to the selected entries (oldest first), or to what stands for them."""
        limit = self.limit
        if limit is None:
            return selected
        return selected[:limit] if self.since_seq is not None else selected[len(selected) - limit :]


EVERYTHING = JournalQuery()


@dataclass(frozen=True, slots=True)
class JournalPage:
    """Entries that passed a query, oldest first; `total` counts them before `limit`;
    `dropped` is how many entries the bounds have pushed out of the journal since its last
    clear."""

    entries: list[JournalEntry]
    total: int
    dropped: int


@dataclass(frozen=True, slots=True)
class JournalStats:
    size: int
    """Entries held now."""
    dropped: int
    """Entries the bounds pushed out since the last clear."""
    last_seq: int
    """The newest entry's seq (0 before the first)."""


class Subscription(Protocol):
    """New entries as they are recorded, in seq order, from where the subscription began.

    Use as `async with journal.subscribe() as feed: async for entry in feed: ...`. An entry
    the bounds pushed out before the reader got to it is skipped, never invented.
    """

    @property
    def last_seq(self) -> int:
        """The seq of the last entry handed out (or where the subscription began)."""
        ...

    def __aiter__(self) -> AsyncIterator[JournalEntry]: ...

    async def __anext__(self) -> JournalEntry: ...

    async def __aenter__(self) -> Subscription: ...

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def close(self) -> None: ...


class Journal(Protocol):
    """A namespace's journal."""

    async def record(self, exchange: Exchange) -> int:
        """Number and keep one exchange (dropping the oldest beyond the bounds); its seq."""
        ...

    async def amend(self, seq: int, outcome: Outcome) -> bool:
        """Replace the outcome of the entry `seq`: an answer recorded before it was sent and
        then cut (the server stopped during its delay, the client went away) says so. The
        request, time and seq stay; subscribers are not told again. False when the entry is
        no longer held (the bounds or a clear took it)."""
        ...

    async def find(self, query: JournalQuery = EVERYTHING) -> JournalPage: ...

    async def count(self, query: JournalQuery = EVERYTHING) -> int:
        """How many entries pass the query (`limit` aside)."""
        ...

    async def get(self, seq: int) -> JournalEntry | None: ...

    async def since(self, seq: int, limit: int | None = None) -> list[JournalEntry]:
        """Entries after `seq`, oldest first, at most `limit`."""
        ...

    async def latest(self, limit: int) -> list[JournalEntry]:
        """The newest `limit` entries, oldest first."""
        ...

    async def unmatched(self) -> list[JournalEntry]: ...

    async def stats(self) -> JournalStats: ...

    async def clear(self) -> int:
        """Forget every entry and the dropped count (seq goes on); how many were held."""
        ...

    def subscribe(self, after_seq: int | None = None) -> Subscription:
        """Follow entries recorded after `after_seq` (default: from now on)."""
        ...


class LocalJournal(Journal, Protocol):
    """A journal in this process's memory: recording needs no await (the request path's fast
    answers record synchronously)."""

    def record_now(self, exchange: Exchange) -> int: ...

    def amend_now(self, seq: int, outcome: Outcome) -> bool: ...
