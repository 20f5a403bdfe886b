"""State: everything requests and admin calls change, which replicas must share (PRODUCT.md §15).

Per namespace (`NamespaceState`): the journal; one atomic claim per match, in which a stub's
scenario state, its `times`, its position in a response sequence and its hit count are decided
together; scenario states; the stubs added through the admin API, versioned; the clock that
templates read; the callback attempts; the recordings of recorded services (any replica replays
what another recorded); and a reset of it (the recordings aside) as one operation. Across
namespaces (`State`): the registry and its limit, and the counter that numbers API stubs. The
interface is async, so a store shared over the network (Redis) can sit behind it; the in-memory
one says it is `local`, which lets the request path take its synchronous fast answers
(`LocalNamespaceState`).

The compiled side (stub sets, indexes, matchers) is not state: every process builds its own from
the stubs the state holds. Pure: no sockets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from pydantic import JsonValue

from mockserver.clock import ClockSetting
from mockserver.errors import NamespaceLimitError
from mockserver.exchange import Exchange
from mockserver.journal import Journal, LocalJournal
from mockserver.recorded import RecordedStub
from mockserver.stub import Stub

ATTEMPTS_KEPT: Final = 1000
"""Callback attempts each namespace keeps; the oldest go first."""
STARTED: Final = "started"
"""Every scenario's state until a stub or an admin call moves it."""


@dataclass(frozen=True, slots=True)
class ScenarioStep:
    """What a stub asks of its scenario: to be in `expected` (None: any state), then to move
    it to `next` (None: leave it)."""

    name: str
    expected: str | None
    next: str | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a stub that matched every field may not answer: the near miss it becomes."""

    field: str
    expected: str
    actual: str


Claim = int | Refusal
"""The stub's hit count including this answer (it picks the response of a sequence), or why
it may not answer."""


def namespace_limit_error(name: str, limit: int) -> NamespaceLimitError:
    """Why namespace `name` cannot be created: every state says it the same way."""
    return NamespaceLimitError(
        f"namespace {name!r} would exceed the limit of {limit} namespaces; remove unused ones "
        "through the admin API or raise --max-namespaces"
    )


def scenario_refusal(step: ScenarioStep, current: str) -> Refusal:
    return Refusal("scenario.state", f"scenario {step.name!r} in state {step.expected!r}", current)


def times_refusal(times: int) -> Refusal:
    return Refusal(
        "times", f"at most {times}", f"already answered {times} time{'s' if times != 1 else ''}"
    )


@dataclass(frozen=True, slots=True)
class ApiStubs:
    """A namespace's stubs added through the admin API, and the file stubs it removed.

    `version` grows with each change, so a process knows when its compiled stub set is stale.
    """

    stubs: tuple[Stub, ...] = ()
    hidden_file_ids: frozenset[str] = frozenset()
    version: int = 0


@dataclass(frozen=True, slots=True)
class ApiStubsChange:
    """What an admin call makes of a namespace's API stubs: the new stubs, the file stubs now
    hidden, and the ids whose hit counters start again from zero."""

    stubs: tuple[Stub, ...]
    hidden_file_ids: frozenset[str]
    forget: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class ServiceRecording:
    """One service's recording in a namespace (PRODUCT.md §11): what it replays from before,
    then the stubs it recorded since, and the ids of those answering as API stubs there.

    `earlier` None: the stubs of the service's file in the recordings directory, which every
    process loads itself; () when recorded anew (`all`); a loaded cassette's otherwise.
    """

    service: str
    base_path: str
    earlier: tuple[RecordedStub, ...] | None = None
    stubs: tuple[RecordedStub, ...] = ()
    installed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Recordings:
    """A namespace's recordings: its own record mode (a test's, set with its cassette; None:
    each service's), and each service's recording, by service."""

    mode: str | None = None
    services: Mapping[str, ServiceRecording] = field(default_factory=dict)


class NamespaceState(Protocol):
    """One namespace's state."""

    @property
    def name(self) -> str | None: ...

    @property
    def journal(self) -> Journal: ...

    async def claim(
        self, stub_id: str, *, times: int | None = None, scenario: ScenarioStep | None = None
    ) -> Claim:
        """Decide, as one step, whether a matching stub may answer and count the answer.

        Refused when its scenario is not in the expected state, or when it has answered `times`
        times; otherwise its count grows by one and its scenario moves on. Concurrent claims
        never overshoot `times` nor both move a scenario from the same state.
        """
        ...

    async def record_counted(
        self, exchange: Exchange, stub_id: str, *, version: int | None = None
    ) -> int | None:
        """Count one answer of `stub_id` and record `exchange`, as one step; the entry's seq.

        For a claim-free stub (`Stub.claim_free`: its claim could not be refused and its count
        picks nothing), which therefore is not claimed before its answer: its count is kept with
        its journal entry, so `hits()` includes the answer once the journal shows it (one step
        fewer than `claim` then `journal.record`). With `version`, only while the API stubs are
        still at that version and the namespace still exists; else None, and nothing is counted
        or recorded (the caller reads the API stubs again and selects anew).
        """
        ...

    async def scenarios(self) -> Mapping[str, str]:
        """The states of scenarios that have left "started" (or were set)."""
        ...

    async def set_scenario(self, name: str, state: str) -> None: ...

    async def hits(self) -> Mapping[str, int]:
        """Answers per stub id since the last reset."""
        ...

    async def api_stubs(self) -> ApiStubs: ...

    async def update_api_stubs(self, change: Callable[[ApiStubs], ApiStubsChange]) -> ApiStubs:
        """Apply `change` to the current API stubs atomically (it may raise to refuse);
        the result, with its new version."""
        ...

    async def clock(self) -> ClockSetting:
        """What "now" is for this namespace's templates (PRODUCT.md §14)."""
        ...

    async def update_clock(self, change: Callable[[ClockSetting], ClockSetting]) -> ClockSetting:
        """Apply `change` to the clock atomically (it may raise to refuse); the new setting."""
        ...

    async def record_attempt(self, attempt: Mapping[str, JsonValue]) -> None:
        """Keep one callback attempt (its JSON, as the admin API lists it); the namespace keeps
        the newest `ATTEMPTS_KEPT`."""
        ...

    async def attempts(self) -> list[dict[str, JsonValue]]:
        """The callback attempts kept, oldest first."""
        ...

    async def recordings(self) -> Recordings:
        """What the namespace recorded (PRODUCT.md §11), as every replica sees it."""
        ...

    async def update_recordings(self, change: Callable[[Recordings], Recordings]) -> Recordings:
        """Apply `change` to the recordings atomically (it may raise: nothing changes); the
        new recordings."""
        ...

    async def reset(self) -> int:
        """Clear the journal, every counter and scenario state, the API stubs and the callback
        attempts, and put the
        clock back on real time, as one operation (file stubs this namespace removed stay
        removed); how many API stubs went."""
        ...


class LocalNamespaceState(NamespaceState, Protocol):
    """A namespace state in this process's memory: the fast path counts and records without an
    await."""

    @property
    def journal(self) -> LocalJournal: ...

    def hit_now(self, stub_id: str) -> int:
        """Count one answer of a stub with no `times` and no scenario; its new count."""
        ...

    def api_stubs_now(self) -> ApiStubs: ...


class State(Protocol):
    """Every namespace's state, and what namespaces share."""

    @property
    def kind(self) -> str:
        """What health reports: "memory", "redis"."""
        ...

    @property
    def limit(self) -> int:
        """How many namespaces (besides the default one) may exist at once."""
        ...

    @property
    def default(self) -> NamespaceState: ...

    def local(self, namespace: NamespaceState) -> LocalNamespaceState | None:
        """`namespace` itself when it lives in this process (the fast path may use it)."""
        ...

    async def lookup(self, name: str | None) -> NamespaceState | None:
        """An existing namespace's state; never creates one."""
        ...

    async def create(self, name: str) -> NamespaceState:
        """The namespace's state, created if new (NamespaceLimitError past the limit); a new
        namespace's clock starts as the default namespace's."""
        ...

    async def remove(self, name: str) -> bool: ...

    async def names(self) -> list[str]:
        """The namespaces in use (the default one aside), sorted."""
        ...

    def detached(self, name: str | None) -> NamespaceState:
        """What a namespace not yet created looks like to a reader: an empty state outside the
        registry (and its limit). If the namespace is created while a reader holds it, the
        reader sees what the namespace records from then on (a verify waiting with within_ms
        on a namespace its first request creates)."""
        ...

    async def next_api_orders(self, count: int) -> int:
        """Reserve `count` consecutive numbers for API stubs (their order, and the `api-<n>` id
        of a stub sent without one); the first. Unique across the namespaces and replicas."""
        ...


def forgotten(old: Iterable[Stub], new: Iterable[Stub]) -> frozenset[str]:
    """Ids of API stubs that went or were replaced: their counters start again."""
    kept = {id(stub) for stub in new}
    return frozenset(stub.id for stub in old if id(stub) not in kept)
