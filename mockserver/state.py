"""State: what a request changes — the journal, per-stub hit counters, scenario states.

One small interface with an in-memory implementation. Everything that must be shared once
several server processes sit behind one address (journal, counters, and the scenario states of
the dynamic-response features) goes through it, so another backend can replace `MemoryState`
without touching the matcher or the admin API. Pure: no sockets.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Final, Protocol

from mockserver.journal import Journal

STARTED: Final = "started"


class State(Protocol):
    """The mutable side of a running server."""

    @property
    def journal(self) -> Journal: ...

    def hit(self, stub_id: str, limit: int | None = None) -> int | None:
        """Count one answer by `stub_id` and return its new count.

        With `limit`, refuse (None, nothing counted) once the stub has answered `limit` times:
        the check and the count are one step, so concurrent requests never overshoot `times`.
        """
        ...

    def scenario(self, name: str) -> str:
        """A scenario's current state; every scenario starts in "started"."""
        ...

    def set_scenario(self, name: str, state: str) -> None: ...

    def scenarios(self) -> Mapping[str, str]:
        """The states of scenarios that have left "started" (or were set)."""
        ...

    def hits(self) -> Mapping[str, int]:
        """Answers per stub id since the last reset."""
        ...

    def forget(self, stub_id: str) -> None:
        """Drop a removed stub's counter, so a new stub with its id starts at zero."""
        ...

    def reset(self) -> None:
        """Clear the journal and every counter; every scenario goes back to "started"."""
        ...


class MemoryState:
    """State in this process's memory."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._hits: dict[str, int] = {}
        self._scenarios: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def journal(self) -> Journal:
        return self._journal

    def hit(self, stub_id: str, limit: int | None = None) -> int | None:
        with self._lock:
            count = self._hits.get(stub_id, 0) + 1
            if limit is not None and count > limit:
                return None
            self._hits[stub_id] = count
            return count

    def scenario(self, name: str) -> str:
        return self._scenarios.get(name, STARTED)

    def set_scenario(self, name: str, state: str) -> None:
        with self._lock:
            self._scenarios[name] = state

    def scenarios(self) -> Mapping[str, str]:
        with self._lock:
            return dict(self._scenarios)

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
            self._scenarios.clear()
