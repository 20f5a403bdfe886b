"""StubStore: the stubs in force, in priority order, indexed, swapped atomically.

The stubs live in an immutable `StubSet` (ordered tuple plus an index); every change builds a new
set and replaces the old one with a single assignment, so a request never sees half a reload and
a failed reload leaves the old set in place.

The index maps (method, literal path) to the stubs that can only match that pair; stubs with a
template, a regex or no path sit in a fallback list. A request examines the union of its index
entry and the fallback, merged back into priority order, so lookups cost the same with 10 or 10,000
literal-path stubs while "first in order wins" still holds.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from mockserver.errors import AdminInputError, NotFoundError
from mockserver.exchange import Outcome
from mockserver.incoming import IncomingRequest
from mockserver.matching import Miss, match_params
from mockserver.state import (
    ApiStubs,
    ApiStubsChange,
    LocalNamespaceState,
    NamespaceState,
    Refusal,
    ScenarioStep,
    State,
)
from mockserver.stub import Stub

_ANY_METHOD: Final = ""


@dataclass(frozen=True, slots=True)
class Found:
    """The stub that answers a request, its path parameters, and how many stubs were examined.

    `hits` is the answering stub's count including this answer (it picks the response of a
    sequence). `skipped` holds stubs that matched every field but were passed over for their
    scenario state or their `times`, with why: the near misses of a 404 report them.
    `unmatched_answer` is the first matching `unmatched: true` stub, which shapes the answer
    when no other stub matched (the request stays unmatched).
    """

    stub: Stub | None
    path_params: Mapping[str, str] | None
    examined: int
    hits: int = 0
    skipped: tuple[tuple[Stub, Miss], ...] = ()
    unmatched_answer: Stub | None = None
    count_on_record: bool = False
    """The stub is claim-free (`Stub.claim_free`): not claimed, its hit is counted as its
    exchange is recorded (`NamespaceState.record_counted`); `hits` is 0."""


def _skip(refusal: Refusal) -> Miss:
    # every request field matched: such a stub ranks first among near misses
    return Miss(refusal.field, refusal.expected, refusal.actual, score=1.0, path_matched=True)


def _is_plain(stub: Stub) -> bool:
    """Whether a stub found by the index answers whatever else the request holds, with fixed
    responses and no state beyond its hit count: allow-lists all (see `ResponseSpec.is_fixed`)."""
    matcher = stub.matcher
    return (
        matcher.index_key is not None  # found by the index: its method and path hold
        and matcher.host is None
        and not matcher.checks
        and stub.spec.is_plain
        and not stub.cors  # its answers carry the request's Origin
        and all(response.fixed for response in stub.responses)
    )


class PlainAnswer:
    """A plain stub with what its fast answers need at hand: its responses and, for each, the
    outcome the journal records (built once, not per request)."""

    __slots__ = ("claim_free", "outcomes", "responses", "stub")

    def __init__(self, stub: Stub) -> None:
        self.stub = stub
        self.responses = stub.responses
        # one response: a shared state's fast answer counts it with its journal entry
        self.claim_free = stub.claim_free
        self.outcomes = tuple(
            Outcome(True, response.status, stub.id, stub.service) for response in stub.responses
        )


class StubSet:
    """An immutable, ordered, indexed set of stubs."""

    __slots__ = (
        "_by_id",
        "_fallback",
        "_fallback_ranks",
        "_index",
        "_merged",
        "_plain",
        "cors_stubs",
        "ordered",
    )

    def __init__(self, stubs: Iterable[Stub]) -> None:
        self.ordered: tuple[Stub, ...] = tuple(sorted(stubs, key=lambda stub: stub.sort_key))
        self._by_id = {stub.id: stub for stub in self.ordered}
        index: dict[tuple[str, str], list[int]] = {}
        fallback: list[int] = []
        for rank, stub in enumerate(self.ordered):
            key = stub.matcher.index_key
            if key is None:
                fallback.append(rank)
                continue
            methods, path = key
            for method in methods or (_ANY_METHOD,):
                index.setdefault((method, path), []).append(rank)
        self._index = {key: tuple(ranks) for key, ranks in index.items()}
        self._fallback = tuple(self.ordered[rank] for rank in fallback)
        self._fallback_ranks = tuple(fallback)
        # (method, path) -> its candidates in order, merged on first use; only keys of the
        # index are kept, so the cache is bounded by the stubs, not by the requests
        self._merged: dict[tuple[str, str], tuple[Stub, ...]] = {}
        self._plain: dict[tuple[str, str], PlainAnswer | None] = {}
        self.cors_stubs: tuple[Stub, ...] = tuple(stub for stub in self.ordered if stub.cors)
        """The stubs of `cors: true` documents, in order (empty: CORS is off but for --cors)."""

    def plain_answer(self, method: str, path: str) -> PlainAnswer | None:
        """The stub that answers (method, path) whatever else the request holds, when the first
        candidate in order declares nothing but method and literal path and answers with fixed
        responses and no state beyond its hit count (`_is_plain`); else None. Such requests need
        no matching at all: the common case of a mock, answered from this table. Cached like
        `candidates`, so bounded by the index's keys."""
        key = (method, path)
        if key in self._plain:
            return self._plain[key]
        if key not in self._index and (_ANY_METHOD, path) not in self._index:
            return None  # only the fallback list can match: not cached, or requests would fill it
        first = self.candidates(method, path)[0]
        answer = PlainAnswer(first) if _is_plain(first) else None
        if method == "OPTIONS" and self.cors_stubs and first.matcher.methods is None:
            answer = None  # may be a preflight, which CORS answers before a stub for any method
        self._plain[key] = answer
        return answer

    def candidates(self, method: str, path: str) -> tuple[Stub, ...]:
        """The stubs that may match, in priority order."""
        key = (method, path)
        merged = self._merged.get(key)
        if merged is not None:
            return merged
        exact = self._index.get(key)
        any_method = self._index.get((_ANY_METHOD, path))
        if exact is None and any_method is None:
            return self._fallback
        lists = [ranks for ranks in (exact, any_method, self._fallback_ranks) if ranks]
        ordered = self.ordered
        merged = tuple(ordered[rank] for rank in heapq.merge(*lists))
        self._merged[key] = merged
        return merged

    def get(self, stub_id: str) -> Stub | None:
        return self._by_id.get(stub_id)

    def __len__(self) -> int:
        return len(self.ordered)

    def __iter__(self) -> Iterator[Stub]:
        return iter(self.ordered)


class ScopedStore:
    """The stubs one namespace sees: the shared file stubs plus its own API stubs.

    A namespace's API stubs, overrides (PUT on a file stub) and removals touch no other
    namespace; they live in its state, and this scope compiles them (with the file stubs) into
    the `StubSet` the request path reads, again whenever their version changes.
    """

    def __init__(self, store: StubStore, state: NamespaceState, api: ApiStubs) -> None:
        self._store = store
        self.namespace = state.name
        self.state = state
        self.local: LocalNamespaceState | None = store.state.local(state)
        """The state itself when it lives in this process: the fast path counts and records
        through it without an await."""
        self._api = api
        self._set: StubSet | None = None

    @property
    def stubs(self) -> StubSet:
        if self._set is None:  # rebuilt lazily after a change here or a reload of the files
            api = self._api
            hidden = {stub.id for stub in api.stubs} | api.hidden_file_ids
            files = (stub for stub in self._store.file_stubs if stub.id not in hidden)
            self._set = StubSet((*files, *api.stubs))
        return self._set

    @property
    def api_version(self) -> int:
        """The version of the API stubs `stubs` was compiled from."""
        return self._api.version

    def adopt(self, api: ApiStubs) -> None:
        """Compile the state's API stubs again when they changed."""
        if api.version != self._api.version or api is not self._api:
            self._api = api
            self._set = None

    def files_reloaded(self) -> None:
        self._set = None

    async def show_file_stubs(self) -> None:
        """Bring back the file stubs this namespace removed (after a reload of the files)."""
        if self._api.hidden_file_ids:
            await self._change(lambda current: ApiStubsChange(current.stubs, frozenset()))

    async def select(self, request: IncomingRequest) -> Found:
        """The first stub in order that matches and may answer; counts its answer. Hot path.

        Matching is pure; then the state's claim decides, as one step, whether a stub's
        scenario state and `times` let it answer, and counts the answer.
        """
        examined = 0
        skipped: list[tuple[Stub, Miss]] = []
        unmatched_answer: Stub | None = None
        state = self.state
        for stub in self.stubs.candidates(request.method, request.path):
            examined += 1
            matcher = stub.matcher
            params = match_params(matcher, request, indexed=matcher.index_key is not None)
            if params is None:
                continue
            spec = stub.spec
            if spec.unmatched:
                unmatched_answer = unmatched_answer or stub
                continue
            if stub.claim_free:  # nothing to decide: counted with its journal entry
                kept = tuple(skipped) if skipped else ()
                return Found(stub, params, examined, 0, kept, count_on_record=True)
            scenario = spec.scenario
            step = (
                None
                if scenario is None
                else ScenarioStep(scenario.name, scenario.state, scenario.set_state)
            )
            claim = await state.claim(stub.id, times=spec.times, scenario=step)
            if isinstance(claim, Refusal):
                skipped.append((stub, _skip(claim)))
                continue
            return Found(stub, params, examined, claim, tuple(skipped) if skipped else ())
        hits = 0
        if unmatched_answer is not None:
            claim = await state.claim(unmatched_answer.id)
            hits = claim if isinstance(claim, int) else 1
        return Found(None, None, examined, hits, tuple(skipped), unmatched_answer)

    def scenario_names(self) -> set[str]:
        return {stub.spec.scenario.name for stub in self.stubs if stub.spec.scenario is not None}

    def get(self, stub_id: str) -> Stub:
        stub = self.stubs.get(stub_id)
        if stub is None:
            raise NotFoundError(f"no stub with id {stub_id!r}")
        return stub

    async def _change(self, change: Callable[[ApiStubs], ApiStubsChange]) -> None:
        self.adopt(await self.state.update_api_stubs(change))

    async def add(self, stubs: Sequence[Stub]) -> list[str]:
        """Add API stubs; an id already in use is an error (replace it with PUT)."""
        stamped = await self._store.stamp(stubs)
        file_stubs = self._store.file_stubs

        def add(current: ApiStubs) -> ApiStubsChange:
            taken = {stub.id: stub for stub in current.stubs}
            for stub in file_stubs:
                if stub.id not in current.hidden_file_ids:
                    taken.setdefault(stub.id, stub)
            for stub in stamped:
                existing = taken.get(stub.id)
                if existing is not None:
                    raise AdminInputError(
                        f"a stub with id {stub.id!r} already exists ({existing.source}); "
                        "use PUT to replace it",
                        [{"field": "id", "message": f"duplicate id {stub.id!r}"}],
                    )
            return ApiStubsChange((*current.stubs, *stamped), current.hidden_file_ids)

        await self._change(add)
        return [stub.id for stub in stamped]

    async def replace(self, stub_id: str, stub: Stub) -> Stub:
        """Replace a stub by id. A file stub is overridden by an API stub until reset."""
        self.get(stub_id)
        if stub.id != stub_id:
            raise AdminInputError(
                f"the body's id {stub.id!r} differs from the URL's {stub_id!r}",
                [{"field": "id", "message": f"expected {stub_id!r}"}],
            )
        (stamped,) = await self._store.stamp([stub])

        def replace(current: ApiStubs) -> ApiStubsChange:
            kept = tuple(s for s in current.stubs if s.id != stub_id)
            return ApiStubsChange((*kept, stamped), current.hidden_file_ids, frozenset((stub_id,)))

        await self._change(replace)
        return stamped

    async def remove(self, stub_id: str) -> Stub:
        """Remove a stub; a file stub stays removed (here) until the files are reloaded."""
        stub = self.get(stub_id)

        def remove(current: ApiStubs) -> ApiStubsChange:
            hidden = current.hidden_file_ids
            if stub.origin == "file":
                hidden = hidden | {stub_id}
            kept = tuple(s for s in current.stubs if s.id != stub_id)
            return ApiStubsChange(kept, hidden, frozenset((stub_id,)))

        await self._change(remove)
        return stub

    async def remove_api_stubs(self) -> int:
        """Remove every API stub; file stubs they overrode come back."""
        removed = 0

        def remove_all(current: ApiStubs) -> ApiStubsChange:
            nonlocal removed
            removed = len(current.stubs)
            ids = frozenset(stub.id for stub in current.stubs)
            return ApiStubsChange((), current.hidden_file_ids, ids)

        await self._change(remove_all)
        return removed

    async def reset(self) -> int:
        """The namespace's reset: journal, counters, scenarios and API stubs, as one step."""
        removed = await self.state.reset()
        self.adopt(await self.state.api_stubs())
        return removed


class StubStore:
    """File stubs shared by every namespace, and each namespace's compiled scope.

    The default namespace (None) always exists; others are created by their first write (a
    mocked request, an admin call that adds or sets something), up to the state's limit, and
    removed by an admin call. Reads never create one.
    """

    def __init__(self, file_stubs: Sequence[Stub], state: State) -> None:
        self.state = state
        self.file_stubs: tuple[Stub, ...] = tuple(file_stubs)
        default = state.default
        self._scopes: dict[str | None, ScopedStore] = {}
        self.scopes: Mapping[str | None, ScopedStore] = self._scopes
        """The scopes compiled so far, read-only: the request path looks a namespace up here."""
        local = state.local(default)
        api = local.api_stubs_now() if local is not None else ApiStubs()
        self.default = self._scopes[None] = ScopedStore(self, default, api)
        self.unjournaled = 0
        """Mocked requests answered 503 because the state store was out of reach: the journal
        lives there, so they are in no journal; health shows how many."""

    async def scoped(self, namespace: str | None) -> ScopedStore:
        """The scope of `namespace`, created on first use (NamespaceLimitError past the limit)."""
        scope = self._scopes.get(namespace)
        if scope is not None and (current := await self._current(scope)) is not None:
            return current
        assert namespace is not None  # the default scope always exists
        return await self._compile(await self.state.create(namespace))

    async def peek(self, namespace: str | None) -> ScopedStore:
        """The scope of `namespace` for reading: an empty one, not kept, when it does not exist,
        so that reads cannot fill the registry up to --max-namespaces."""
        scope = self._scopes.get(namespace)
        if scope is not None and (current := await self._current(scope)) is not None:
            return current
        found = await self.state.lookup(namespace)
        if found is not None:
            return await self._compile(found)
        return ScopedStore(self, self.state.detached(namespace), ApiStubs())

    async def _current(self, scope: ScopedStore) -> ScopedStore | None:
        """`scope` with the API stubs its state holds now: a shared state's may have been
        changed by another replica (a local one's change only through this scope). None when
        another replica removed the namespace: the scope is dropped, and a write creates the
        namespace again (within the limit) as if it were new."""
        if scope.local is None:
            name = scope.namespace
            if name is None:
                scope.adopt(await scope.state.api_stubs())
                return scope
            # asked together: one round trip to a shared state
            api, found = await asyncio.gather(scope.state.api_stubs(), self.state.lookup(name))
            if found is None:
                if self._scopes.get(name) is scope:
                    del self._scopes[name]
                return None
            scope.adopt(api)
        return scope

    async def _compile(self, state: NamespaceState) -> ScopedStore:
        api = await state.api_stubs()
        scope = self._scopes.get(state.name)
        if scope is None or scope.state is not state:
            scope = self._scopes[state.name] = ScopedStore(self, state, api)
        return scope

    async def remove_namespace(self, namespace: str) -> bool:
        removed = self._scopes.pop(namespace, None) is not None
        return await self.state.remove(namespace) or removed

    async def namespaces(self) -> list[str]:
        return await self.state.names()

    @property
    def stubs(self) -> StubSet:
        """The default namespace's stubs."""
        return self.default.stubs

    async def stamp(self, stubs: Sequence[Stub]) -> list[Stub]:
        """Give new API stubs their orders: newer calls sort first, a call keeps its own order.

        A stub sent without an id gets "api-<n>", unique for the server's lifetime.
        """
        first = await self.state.next_api_orders(len(stubs))
        last = first + len(stubs) - 1
        return [
            replace(
                stub,
                order=last - position,
                id=stub.id if stub.spec.id is not None else f"api-{first + position}",
            )
            for position, stub in enumerate(stubs)
        ]

    async def swap_files(self, file_stubs: Sequence[Stub]) -> None:
        """Replace every file stub at once (reload); API stubs stay, overriding by id, and file
        stubs a namespace removed come back."""
        self.file_stubs = tuple(file_stubs)
        for scope in tuple(self._scopes.values()):
            scope.files_reloaded()
            await scope.show_file_stubs()
