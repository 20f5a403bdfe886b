"""State: what a request changes — the journal, per-stub hit counters, scenario states.

One small interface with an in-memory implementation. Everything that must be shared once
several server processes sit behind one address (journal, counters, and the scenario states of
the dynamic-response features) goes through it, so another backend can replace `MemoryState`
without touching the matcher or the admin API. Pure: no sockets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Final, Protocol

from mockserver.clock import REAL, ClockSetting
from mockserver.errors import NamespaceLimitError
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

    @property
    def clock(self) -> ClockSetting:
        """What "now" is for this namespace's templates (PRODUCT.md section 14)."""
        ...

    def set_clock(self, setting: ClockSetting) -> None: ...

    def reset(self) -> None:
        """Clear the journal and every counter; every scenario goes back to "started", the
        clock to real time."""
        ...


class MemoryState:
    """State in this process's memory."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._hits: dict[str, int] = {}
        self._scenarios: dict[str, str] = {}
        self._clock = REAL
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

    @property
    def clock(self) -> ClockSetting:
        return self._clock

    def set_clock(self, setting: ClockSetting) -> None:
        self._clock = setting  # one assignment of a frozen value: readers see old or new

    def reset(self) -> None:
        self._journal.clear()
        with self._lock:
            self._hits.clear()
            self._scenarios.clear()
            self._clock = REAL


class Namespaces:
    """The state of every namespace: the default one (None) and others created on first use.

    Their number is bounded, so a client inventing namespaces cannot exhaust memory; each has
    its own journal (with the configured bounds), counters, scenario states and clock (which
    starts as the default namespace's).
    """

    def __init__(self, make_state: Callable[[], State], limit: int) -> None:
        self._make_state = make_state
        self._limit = limit
        self._states: dict[str | None, State] = {None: make_state()}
        self._lock = threading.Lock()

    def state(self, namespace: str | None) -> State:
        found = self._states.get(namespace)
        if found is not None:
            return found
        with self._lock:
            found = self._states.get(namespace)
            if found is None:
                if len(self._states) - 1 >= self._limit:
                    raise NamespaceLimitError(
                        f"namespace {namespace!r} would exceed the limit of {self._limit} "
                        "namespaces; remove unused ones through the admin API or raise "
                        "--max-namespaces"
                    )
                found = self._states[namespace] = self._new_state()
            return found

    def fresh(self) -> State:
        """A state belonging to no namespace (what a namespace not yet created looks like)."""
        return self._new_state()

    def _new_state(self) -> State:
        """A new namespace's state: its clock starts as the default namespace's."""
        state = self._make_state()
        state.set_clock(self._states[None].clock)
        return state

    def remove(self, namespace: str) -> bool:
        with self._lock:
            return self._states.pop(namespace, None) is not None

    @property
    def limit(self) -> int:
        return self._limit
