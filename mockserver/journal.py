"""Journal: every mocked request, numbered, bounded, oldest dropped first.

An entry is stored as one plain tuple of atomic values (`Record`): the request's method, path,
query string, header lines (one bytes object) and body as the parser delivered them, and how the
mock answered. So recording costs a tuple and an append, an entry takes a few hundred bytes
beyond its body, and the cyclic garbage collector, which stops tracking tuples of atomic values,
never walks a full journal (that walk was the mock's worst latency). `JournalEntry` views are
built only when an admin call reads entries; counts and verifications scan the records.

`seq` is assigned under one lock (never held across an await) and keeps increasing for the
server's lifetime. Subscribers are told of each append (its seq) after the lock is released
(eventual verification builds on this). Pure: no sockets, no aiohttp.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from mockserver.incoming import IncomingRequest
from mockserver.nearmiss import NearMiss

_ENTRY_OVERHEAD: Final = 300
"""Bytes an entry costs beyond its body, header lines and path (the tuple, numbers, the slot):
with them, the estimate that --journal-max-bytes bounds."""

_BOOT: Final = uuid.uuid4().hex[:12]
"""Makes entry ids unique across server restarts while costing nothing per request."""

Record = tuple[Any, ...]
"""One entry as stored; read its fields with the index constants below."""

SEQ: Final = 0
TIME: Final = 1
DURATION_MS: Final = 2
MATCHED: Final = 3
STATUS: Final = 4
STUB_ID: Final = 5
SERVICE: Final = 6
METHOD: Final = 7
PATH: Final = 8
QUERY_STRING: Final = 9
HEADER_BLOCK: Final = 10
BODY: Final = 11
NAMESPACE: Final = 12
SIZE: Final = 13
EXTRA: Final = 14
"""None, or the rarely set fields: (near misses (each `NearMiss.packed()`), error, fault, client
certificate subject, body size, body truncated)."""


def request_of(record: Record) -> IncomingRequest:
    """The recorded request, rebuilt (lazily parsed, as on arrival) for matching or display."""
    extra = record[EXTRA]
    return IncomingRequest.from_wire(
        record[METHOD],
        record[PATH],
        record[QUERY_STRING],
        record[HEADER_BLOCK],
        record[BODY],
        body_size=None if extra is None else extra[4],
        body_truncated=False if extra is None else extra[5],
        namespace=record[NAMESPACE],
        client_cert=None if extra is None else extra[3],
    )


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One recorded request and how the mock answered it: a view of a `Record`."""

    seq: int
    time: float
    request: IncomingRequest
    matched: bool
    status: int | None
    duration_ms: float
    stub_id: str | None = None
    service: str | None = None
    near_misses: tuple[NearMiss, ...] = ()
    error: str | None = None
    fault: str | None = None
    size: int = field(default=0, compare=False)

    @classmethod
    def of(cls, record: Record) -> JournalEntry:
        extra = record[EXTRA]
        packed, error, fault = ((), None, None) if extra is None else extra[:3]
        return cls(
            record[SEQ],
            record[TIME],
            request_of(record),
            record[MATCHED],
            record[STATUS],
            record[DURATION_MS],
            record[STUB_ID],
            record[SERVICE],
            tuple(NearMiss.unpacked(near_miss) for near_miss in packed),
            error,
            fault,
            record[SIZE],
        )

    @property
    def id(self) -> str:
        return f"{_BOOT}-{self.seq}"

    def to_json(self) -> dict[str, Any]:
        """The entry as the admin API shows it (contract section 4)."""
        request = self.request
        text = request.text
        rendered: dict[str, Any] = {
            "seq": self.seq,
            "id": self.id,
            "namespace": request.namespace,
            "time": datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "service": self.service,
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": text if text is not None else base64.b64encode(request.body).decode(),
            "json": request.json_or_none(),
            "form": dict(request.form),
            "matched": self.matched,
            "stub_id": self.stub_id,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
        }
        if text is None:
            rendered["body_encoding"] = "base64"
        if request.body_truncated:
            rendered["body_truncated"] = True
            rendered["body_size"] = request.body_size
        if self.error is not None:
            rendered["error"] = self.error
        if self.fault is not None:
            rendered["fault"] = self.fault
        if request.client_cert is not None:
            rendered["client_cert_subject"] = request.client_cert
        return rendered


Subscriber = Callable[[int], None]


class Journal:
    """A bounded, numbered record of requests; safe to read from any thread."""

    def __init__(self, limit: int, max_bytes: int) -> None:
        self._entries: deque[Record] = deque()
        self._limit = limit
        self._max_bytes = max_bytes
        self._bytes = 0
        self._next_seq = 1
        self._dropped = 0
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def record(
        self,
        request: IncomingRequest,
        *,
        time: float,
        matched: bool,
        status: int | None,
        duration_ms: float,
        stub_id: str | None = None,
        service: str | None = None,
        near_misses: tuple[NearMiss, ...] = (),
        error: str | None = None,
        fault: str | None = None,
    ) -> int:
        """Number and append one entry, dropping the oldest beyond the bounds; its seq."""
        query_string, block = request.wire()
        extra = None
        if near_misses or error or fault or request.client_cert or request.body_truncated:
            extra = (
                tuple(near_miss.packed() for near_miss in near_misses),
                error,
                fault,
                request.client_cert,
                request.body_size,
                request.body_truncated,
            )
        return self.append(
            time, duration_ms, matched, status, stub_id, service, request.method, request.path,
            query_string, block, request.body, request.namespace, extra,
        )  # fmt: skip

    def append(
        self,
        time: float,
        duration_ms: float,
        matched: bool,
        status: int | None,
        stub_id: str | None,
        service: str | None,
        method: str,
        path: str,
        query_string: str,
        header_block: bytes,
        body: bytes,
        namespace: str | None,
        extra: tuple[Any, ...] | None = None,
    ) -> int:
        """`record` from fields already in stored form (positional: the request path's call)."""
        size = _ENTRY_OVERHEAD + len(body) + len(path) + len(header_block)
        entries = self._entries
        with self._lock:
            seq = self._next_seq
            self._next_seq = seq + 1
            entries.append(
                (
                    seq, time, duration_ms, matched, status, stub_id, service, method, path,
                    query_string, header_block, body, namespace, size, extra,
                )
            )  # fmt: skip
            self._bytes += size
            limit, max_bytes = self._limit, self._max_bytes
            while len(entries) > limit or (self._bytes > max_bytes and len(entries) > 1):
                self._bytes -= entries.popleft()[SIZE]
                self._dropped += 1
        if self._subscribers:
            for subscriber in tuple(self._subscribers):
                subscriber(seq)
        return seq

    def records(self) -> list[Record]:
        """Every stored record, oldest first, as of now (for scans: no views built)."""
        with self._lock:
            return list(self._entries)

    def snapshot(self) -> list[JournalEntry]:
        """Every entry, oldest first, as of now."""
        return [JournalEntry.of(record) for record in self.records()]

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def dropped(self) -> int:
        """How many entries the bounds have pushed out since the last clear."""
        return self._dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._dropped = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` after each append; returns the function that unsubscribes."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)
