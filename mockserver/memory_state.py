"""MemoryState: the state interface in this process's memory (the default `--state memory`).

A claim is one step under one lock, so `times` and scenarios hold under any concurrency, threads
included. Being local, it offers the request path synchronous counting and recording
(`LocalNamespaceState`). Pure: no sockets.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping

from pydantic import JsonValue

from mockserver.clock import REAL, ClockSetting
from mockserver.exchange import Exchange
from mockserver.memory_journal import MemoryJournal
from mockserver.state import (
    ATTEMPTS_KEPT,
    STARTED,
    ApiStubs,
    ApiStubsChange,
    Claim,
    NamespaceState,
    Recordings,
    ScenarioStep,
    namespace_limit_error,
    scenario_refusal,
    times_refusal,
)


class MemoryNamespace:
    """One namespace's state in memory."""

    def __init__(
        self, name: str | None, journal: MemoryJournal, clock: ClockSetting = REAL
    ) -> None:
        self._name = name
        self._journal = journal
        self._hits: dict[str, int] = {}
        self._scenarios: dict[str, str] = {}
        self._api = ApiStubs()
        self._clock = clock
        self._attempts: deque[dict[str, JsonValue]] = deque(maxlen=ATTEMPTS_KEPT)
        self._recordings = Recordings()
        self._lock = threading.Lock()

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def journal(self) -> MemoryJournal:
        return self._journal

    def hit_now(self, stub_id: str) -> int:
        with self._lock:
            count = self._hits[stub_id] = self._hits.get(stub_id, 0) + 1
            return count

    def claim_now(
        self, stub_id: str, *, times: int | None = None, scenario: ScenarioStep | None = None
    ) -> Claim:
        with self._lock:
            if scenario is not None and scenario.expected is not None:
                current = self._scenarios.get(scenario.name, STARTED)
                if current != scenario.expected:
                    return scenario_refusal(scenario, current)
            count = self._hits.get(stub_id, 0) + 1
            if times is not None and count > times:
                return times_refusal(times)
            self._hits[stub_id] = count
            if scenario is not None and scenario.next is not None:
                self._scenarios[scenario.name] = scenario.next
            return count

    async def claim(
        self, stub_id: str, *, times: int | None = None, scenario: ScenarioStep | None = None
    ) -> Claim:
        return self.claim_now(stub_id, times=times, scenario=scenario)

    async def record_counted(
        self, exchange: Exchange, stub_id: str, *, version: int | None = None
    ) -> int | None:
        with self._lock:
            if version is not None and version != self._api.version:
                return None
            self._hits[stub_id] = self._hits.get(stub_id, 0) + 1
        # counted first: a reader that sees the entry sees its count
        return self._journal.record_now(exchange)

    async def scenarios(self) -> Mapping[str, str]:
        with self._lock:
            return dict(self._scenarios)

    async def set_scenario(self, name: str, state: str) -> None:
        with self._lock:
            self._scenarios[name] = state

    async def hits(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self._hits)

    def api_stubs_now(self) -> ApiStubs:
        return self._api

    async def api_stubs(self) -> ApiStubs:
        return self._api

    async def update_api_stubs(self, change: Callable[[ApiStubs], ApiStubsChange]) -> ApiStubs:
        with self._lock:
            changed = change(self._api)
            for stub_id in changed.forget:
                self._hits.pop(stub_id, None)
            self._api = ApiStubs(changed.stubs, changed.hidden_file_ids, self._api.version + 1)
            return self._api

    def clock_now(self) -> ClockSetting:
        return self._clock

    async def clock(self) -> ClockSetting:
        return self._clock

    async def update_clock(self, change: Callable[[ClockSetting], ClockSetting]) -> ClockSetting:
        with self._lock:
            self._clock = change(self._clock)
            return self._clock

    async def record_attempt(self, attempt: Mapping[str, JsonValue]) -> None:
        with self._lock:
            self._attempts.append(dict(attempt))

    async def attempts(self) -> list[dict[str, JsonValue]]:
        with self._lock:
            return list(self._attempts)

    async def recordings(self) -> Recordings:
        return self._recordings

    async def update_recordings(self, change: Callable[[Recordings], Recordings]) -> Recordings:
        with self._lock:
            self._recordings = change(self._recordings)
            return self._recordings

    async def reset(self) -> int:
        await self._journal.clear()
        with self._lock:
            removed = len(self._api.stubs)
            self._attempts.clear()
            self._hits.clear()
            self._scenarios.clear()
            self._clock = REAL
            self._api = ApiStubs((), self._api.hidden_file_ids, self._api.version + 1)
            return removed


class MemoryState:
    """Every namespace in memory: the default one (None) and others created on first write.

    Their number is bounded, so a client inventing namespaces cannot exhaust memory; each has
    its own journal (with the configured bounds), counters and scenario states.
    """

    kind = "memory"

    def __init__(self, journal_limit: int, journal_max_bytes: int, limit: int) -> None:
        self._journal_limit = journal_limit
        self._journal_max_bytes = journal_max_bytes
        self._limit = limit
        self._default = self._new(None)
        self._namespaces: dict[str, MemoryNamespace] = {}
        # journals handed to readers of namespaces not yet created, while a reader holds one: a
        # namespace created meanwhile records into it, so a verify waiting on it (within_ms)
        # sees the requests that create the namespace
        self._detached: weakref.WeakValueDictionary[str, MemoryJournal] = (
            weakref.WeakValueDictionary()
        )
        self._next_api_order = 1
        self._lock = threading.Lock()

    def _new(self, name: str | None, journal: MemoryJournal | None = None) -> MemoryNamespace:
        if journal is None:
            journal = MemoryJournal(self._journal_limit, self._journal_max_bytes)
        # a new namespace's clock starts as the default's (PRODUCT.md §14)
        clock = REAL if name is None else self._default.clock_now()
        return MemoryNamespace(name, journal, clock)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def default(self) -> MemoryNamespace:
        return self._default

    def local(self, namespace: NamespaceState) -> MemoryNamespace | None:
        return namespace if isinstance(namespace, MemoryNamespace) else None

    async def lookup(self, name: str | None) -> MemoryNamespace | None:
        return self._default if name is None else self._namespaces.get(name)

    async def create(self, name: str) -> MemoryNamespace:
        found = self._namespaces.get(name)
        if found is not None:
            return found
        with self._lock:
            found = self._namespaces.get(name)
            if found is None:
                if len(self._namespaces) >= self._limit:
                    raise namespace_limit_error(name, self._limit)
                found = self._new(name, self._detached.pop(name, None))
                self._namespaces[name] = found
            return found

    async def remove(self, name: str) -> bool:
        with self._lock:
            return self._namespaces.pop(name, None) is not None

    async def names(self) -> list[str]:
        return sorted(self._namespaces)

    def detached(self, name: str | None) -> MemoryNamespace:
        if name is None:
            return self._default
        with self._lock:
            found = self._namespaces.get(name)
            if found is not None:
                return found
            journal = self._detached.get(name)
            if journal is None:
                journal = self._detached[name] = MemoryJournal(
                    self._journal_limit, self._journal_max_bytes
                )
            return self._new(name, journal)

    async def next_api_orders(self, count: int) -> int:
        with self._lock:
            first = self._next_api_order
            self._next_api_order += count
            return first
