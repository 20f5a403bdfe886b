"""State: what a request changes — the journal and the per-stub hit counters.

One small interface with an in-memory implementation. Everything that must be shared once
several server processes sit behind one address (journal, counters, and the scenario states of
the dynamic-response features) goes through it, so another backend can replace `MemoryState`
without touching the matcher or the admin API. Pure: no sockets.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol

from mockserver.journal import Journal


class State(Protocol):
    """The mutable side of a running server."""

    @property
    def journal(self) -> Journal: ...

    def hit(self, stub_id: str) -> int:
        """Count one answer by `stub_id`; returns its new count."""
        ...

    def hits(self) -> Mapping[str, int]:
        """Answers per stub id since the last reset."""
        ...

    def forget(self, stub_id: str) -> None:
        """Drop a removed stub's counter, so a new stub with its id starts at zero."""
        ...

    def reset(self) -> None:
        """Clear the journal and every counter."""
        ...


class MemoryState:
    """State in this process's memory."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def journal(self) -> Journal:
        return self._journal

    def hit(self, stub_id: str) -> int:
        with self._lock:
            count = self._hits.get(stub_id, 0) + 1
            self._hits[stub_id] = count
            return count

    def hits(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self._hits)

    def forget(self, stub_id: str) -> None:
        with self._lock:
            self._hits.pop(stub_id, None)

    def reset(self) -> None:
        self._journal.clear()
        with self._lock:
            self._hits.clear()
