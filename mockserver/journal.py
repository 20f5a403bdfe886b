"""Journal: every mocked request, numbered, bounded, oldest dropped first.

An entry keeps the `IncomingRequest` itself rather than a copy, and renders to JSON only when an
admin call reads it, so recording costs an append. `seq` is assigned under one lock (never held
across an await) and keeps increasing for the server's lifetime. Subscribers are told of each
append after the lock is released (eventual verification and a live view build on this).
Pure: no sockets, no aiohttp.
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

_ENTRY_OVERHEAD: Final = 400
"""Bytes an entry costs beyond its body, headers and path (objects, dicts, the deque slot)."""

_BOOT: Final = uuid.uuid4().hex[:12]
"""Makes entry ids unique across server restarts while costing nothing per request."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One recorded request and how the mock answered it."""

    seq: int
    time: float
    request: IncomingRequest
    matched: bool
    status: int | None
    duration_ms: float
    stub_id: str | None = None
    service: str | None = None
    near_misses: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    fault: str | None = None
    size: int = field(default=0, compare=False)

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


def entry_size(request: IncomingRequest) -> int:
    """A cheap estimate of an entry's memory, for --journal-max-bytes."""
    headers = request.headers
    names, values = sum(map(len, headers)), sum(map(len, headers.values()))
    return _ENTRY_OVERHEAD + len(request.body) + len(request.path) + names + values


Subscriber = Callable[[JournalEntry], None]


class Journal:
    """A bounded, numbered record of requests; safe to read from any thread."""

    def __init__(self, limit: int, max_bytes: int) -> None:
        self._entries: deque[JournalEntry] = deque()
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
        near_misses: tuple[dict[str, Any], ...] = (),
        error: str | None = None,
        fault: str | None = None,
    ) -> JournalEntry:
        """Number and append one entry, dropping the oldest beyond the bounds."""
        size = entry_size(request)
        with self._lock:
            entry = JournalEntry(
                self._next_seq,
                time,
                request,
                matched,
                status,
                duration_ms,
                stub_id,
                service,
                near_misses,
                error,
                fault,
                size,
            )
            self._next_seq += 1
            self._entries.append(entry)
            self._bytes += size
            while len(self._entries) > self._limit or (
                self._bytes > self._max_bytes and len(self._entries) > 1
            ):
                self._bytes -= self._entries.popleft().size
                self._dropped += 1
        if self._subscribers:
            for subscriber in tuple(self._subscribers):
                subscriber(entry)
        return entry

    def snapshot(self) -> list[JournalEntry]:
        """Every entry, oldest first, as of now."""
        with self._lock:
            return list(self._entries)

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
