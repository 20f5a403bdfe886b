"""JournalMirror: a replica's copy of a Redis journal, for the queries that filter by content.

A filtered query (a count or find by path, method, matcher, stub...) would otherwise read and
decode the whole journal from Redis each time: seconds at 100,000 entries. The copy makes each
such query cost what is new since the last one: the journal's seqs are consecutive, so one read
after the copy's last seq brings it up to date, and the oldest seq Redis still holds says what
the bounds (or a clear) took away. Then the scan runs here, comparing method, path and the
outcome on stored fields, and rebuilding a request only for an entry that passes them (as the
in-memory journal does).

Kept only by a replica that is asked such a query (the first one reads everything once), as the
stored strings with a few fields beside them. Another journal than the one copied (its epoch
changed: Redis restarted empty, or the namespace was removed and made again) is read again from
the start: the seqs it gives again are other entries. The stored layout is not known here:
`summary` and `decode`, given by the journal, read it. An entry is copied once: an operation that
rewrites a stored entry in place must have the copies read it again (none does yet).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import islice
from typing import Any, Final

from mockserver.exchange import JournalEntry
from mockserver.journal import JournalQuery, stored_filter
from mockserver.matching import RequestMatcher

Summary = tuple[str, str, bool, str | None, str | None]
"""What a scan compares before decoding: method, path, matched, service, stub id."""

_SEQ: Final = 0
_METHOD: Final = 1
_PATH: Final = 2
_MATCHED: Final = 3
_SERVICE: Final = 4
_STUB_ID: Final = 5
_STORED: Final = 6


class JournalMirror:
    """A copy of one Redis journal (see the module's docstring)."""

    def __init__(
        self,
        summary: Callable[[bytes], Summary],
        decode: Callable[[int, bytes, str], JournalEntry],
    ) -> None:
        self._summary = summary
        self._decode = decode
        self._records: deque[tuple[Any, ...]] = deque()
        self.last_seq = 0
        """The newest seq copied (what the next read starts after)."""
        self.source: str | None = None
        """Which journal the copy is of (its epoch: another one after a restart or a removal)."""

    def reset(self, source: str) -> None:
        """Forget the copy: the journal it came from is not the one answering now."""
        self._records.clear()
        self.last_seq = 0
        self.source = source

    def update(self, first: int, last: int, new: Iterable[tuple[int, bytes]]) -> None:
        """Bring the copy up to the journal as read: `first` is the oldest seq it holds, `last`
        the newest seq it gave, `new` the entries after the copy's `last_seq`."""
        records = self._records
        while records and records[0][_SEQ] < first:  # dropped by the bounds, or cleared
            records.popleft()
        summary = self._summary
        for seq, stored in new:
            records.append((seq, *summary(stored), stored))
        self.last_seq = max(self.last_seq, last)

    def select(self, query: JournalQuery) -> list[JournalEntry]:
        """The entries passing `query` (`limit` aside), oldest first."""
        candidates, _ = self._candidates(query)
        decode = self._decode
        source = self.source or ""
        entries = (decode(record[_SEQ], record[_STORED], source) for record in candidates)
        return [entry for entry in entries if query.accepts(entry)]

    def count(self, query: JournalQuery) -> int:
        """How many entries pass `query`: without decoding one when the stored fields decide."""
        candidates, check = self._candidates(query)
        if check is None and _only_known_filters(query):
            return sum(1 for _ in candidates)
        return len(self.select(query))

    def _candidates(
        self, query: JournalQuery
    ) -> tuple[Iterator[tuple[Any, ...]], RequestMatcher | None]:
        """The records that pass the stored fields, and the matcher still to check (None when
        the stored fields decide it)."""
        stored = stored_filter(query)
        if stored is None:
            return iter(()), None
        methods, path, since = stored.methods, stored.path, query.since_seq
        matched, service, stub_id = stored.matched, stored.service, stored.stub_id
        skip_preflights = stored.skip_preflights
        records: Iterable[tuple[Any, ...]] = self._records
        if since is not None and self._records:  # seqs are consecutive: skip to the bound
            skip = max(0, since - self._records[0][_SEQ] + 1)
            records = islice(self._records, skip, None)
        candidates = (
            record
            for record in records
            if (methods is None or record[_METHOD] in methods)
            and (path is None or record[_PATH] == path)
            and (matched is None or record[_MATCHED] == matched)
            and (service is None or record[_SERVICE] == service)
            and (stub_id is None or record[_STUB_ID] == stub_id)
            # a CORS preflight answered by the server (see `is_preflight`: matched with no
            # stub is only ever one), passed over unless the matcher asks for OPTIONS
            and not (
                skip_preflights
                and record[_METHOD] == "OPTIONS"
                and record[_MATCHED]
                and record[_STUB_ID] is None
            )
        )
        return candidates, stored.check


def _only_known_filters(query: JournalQuery) -> bool:
    """Whether the query filters on nothing beyond what the stored fields and `since_seq`
    decide (a filter added to `JournalQuery` later is checked on decoded entries)."""
    known = {"matcher", "method", "path", "service", "stub_id", "matched", "since_seq", "limit"}
    cleared = replace(query, **dict.fromkeys(known))
    return cleared == JournalQuery()
