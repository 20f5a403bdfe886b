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

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from mockserver.errors import AdminInputError, NotFoundError
from mockserver.incoming import IncomingRequest
from mockserver.matching import Miss, match_params
from mockserver.state import Namespaces, State
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


def _skip(field: str, expected: str, actual: str) -> Miss:
    # every request field matched: such a stub ranks first among near misses
    return Miss(field, expected, actual, score=1.0, path_matched=True)


def _is_plain(stub: Stub) -> bool:
    matcher, spec = stub.matcher, stub.spec
    return (
        matcher.index_key is not None  # found by the index: its method and path hold
        and matcher.host is None
        and not matcher.checks
        and spec.scenario is None
        and spec.times is None
        and not spec.unmatched
        and all(
            response.templates is None
            and response.delay_ms is None
            and response.fault is None
            and response.stream is None
            for response in stub.responses
        )
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
        self._plain: dict[tuple[str, str], Stub | None] = {}

    def plain_answer(self, method: str, path: str) -> Stub | None:
        """The stub that answers (method, path) whatever else the request holds, when the first
        candidate in order declares nothing but method and literal path and answers with fixed
        responses (no scenario, `times`, template, delay, fault or stream); else None. Such
        requests need no matching at all: the common case of a mock, answered from this table.
        Cached like `candidates`, so bounded by the index's keys."""
        key = (method, path)
        if key in self._plain:
            return self._plain[key]
        if key not in self._index and (_ANY_METHOD, path) not in self._index:
            return None  # only the fallback list can match: not cached, or requests would fill it
        first = self.candidates(method, path)[0]
        answer = first if _is_plain(first) else None
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
    namespace; its state (journal, hits, scenarios) is its own.
    """

    def __init__(self, store: StubStore, namespace: str | None, state: State) -> None:
        self._store = store
        self.namespace = namespace
        self.state = state
        self._api_stubs: tuple[Stub, ...] = ()
        self._deleted_file_ids: frozenset[str] = frozenset()
        self._set: StubSet | None = None

    @property
    def stubs(self) -> StubSet:
        if self._set is None:  # rebuilt lazily after a change here or a reload of the files
            hidden = {stub.id for stub in self._api_stubs} | self._deleted_file_ids
            files = (stub for stub in self._store.file_stubs if stub.id not in hidden)
            self._set = StubSet((*files, *self._api_stubs))
        return self._set

    def invalidate(self) -> None:
        self._set = None

    def select(self, request: IncomingRequest) -> Found:
        """The first stub in order that matches and may answer; counts its answer. Hot path.

        Matching is pure; then a stub's scenario state and `times` decide whether it may
        answer. Check and count happen without an await in between, so concurrent requests on
        the event loop cannot both take a stub's last answer.
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
            if stub.spec.unmatched:
                unmatched_answer = unmatched_answer or stub
                continue
            scenario = stub.spec.scenario
            if scenario is not None and scenario.state is not None:
                current = state.scenario(scenario.name)
                if current != scenario.state:
                    expected = f"scenario {scenario.name!r} in state {scenario.state!r}"
                    skipped.append((stub, _skip("scenario.state", expected, current)))
                    continue
            times = stub.spec.times
            hits = state.hit(stub.id, times)
            if hits is None:
                used = f"already answered {times} time{'s' if times != 1 else ''}"
                skipped.append((stub, _skip("times", f"at most {times}", used)))
                continue
            if scenario is not None and scenario.set_state is not None:
                state.set_scenario(scenario.name, scenario.set_state)
            return Found(stub, params, examined, hits, tuple(skipped) if skipped else ())
        hits = 0 if unmatched_answer is None else state.hit(unmatched_answer.id) or 1
        return Found(None, None, examined, hits, tuple(skipped), unmatched_answer)

    def scenario_names(self) -> set[str]:
        return {stub.spec.scenario.name for stub in self.stubs if stub.spec.scenario is not None}

    def get(self, stub_id: str) -> Stub:
        stub = self.stubs.get(stub_id)
        if stub is None:
            raise NotFoundError(f"no stub with id {stub_id!r}")
        return stub

    def add(self, stubs: Sequence[Stub]) -> list[str]:
        """Add API stubs; an id already in use is an error (replace it with PUT)."""
        stamped = self._store.stamp(stubs)
        current = self.stubs
        for stub in stamped:
            existing = current.get(stub.id)
            if existing is not None:
                raise AdminInputError(
                    f"a stub with id {stub.id!r} already exists ({existing.source}); "
                    "use PUT to replace it",
                    [{"field": "id", "message": f"duplicate id {stub.id!r}"}],
                )
        self._api_stubs = (*self._api_stubs, *stamped)
        self.invalidate()
        return [stub.id for stub in stamped]

    def replace(self, stub_id: str, stub: Stub) -> Stub:
        """Replace a stub by id. A file stub is overridden by an API stub until reset."""
        self.get(stub_id)
        if stub.id != stub_id:
            raise AdminInputError(
                f"the body's id {stub.id!r} differs from the URL's {stub_id!r}",
                [{"field": "id", "message": f"expected {stub_id!r}"}],
            )
        (stamped,) = self._store.stamp([stub])
        self._api_stubs = (*(s for s in self._api_stubs if s.id != stub_id), stamped)
        self.state.forget(stub_id)
        self.invalidate()
        return stamped

    def remove(self, stub_id: str) -> Stub:
        """Remove a stub; a file stub stays removed (here) until the files are reloaded."""
        stub = self.get(stub_id)
        if stub.origin == "file":
            self._deleted_file_ids = self._deleted_file_ids | {stub_id}
        self._api_stubs = tuple(s for s in self._api_stubs if s.id != stub_id)
        self.state.forget(stub_id)
        self.invalidate()
        return stub

    def remove_api_stubs(self) -> int:
        """Remove every API stub; file stubs they overrode come back."""
        removed = len(self._api_stubs)
        for stub in self._api_stubs:
            self.state.forget(stub.id)
        self._api_stubs = ()
        self.invalidate()
        return removed

    def files_reloaded(self) -> None:
        self._deleted_file_ids = frozenset()
        self.invalidate()


class StubStore:
    """File stubs shared by every namespace, and each namespace's own scope.

    The default namespace (None) always exists; others are created on first use, up to the
    registry's limit, and removed by an admin call.
    """

    def __init__(self, file_stubs: Sequence[Stub], namespaces: Namespaces) -> None:
        self._namespaces = namespaces
        self.file_stubs: tuple[Stub, ...] = tuple(file_stubs)
        self._next_api_order = 1
        self._scopes: dict[str | None, ScopedStore] = {}
        self.scopes: Mapping[str | None, ScopedStore] = self._scopes
        """The existing scopes, read-only: the request path looks a namespace up here."""
        self.default = self.scoped(None)

    def scoped(self, namespace: str | None) -> ScopedStore:
        """The scope of `namespace`, created on first use (NamespaceLimitError past the limit)."""
        scope = self._scopes.get(namespace)
        if scope is None:
            scope = ScopedStore(self, namespace, self._namespaces.state(namespace))
            self._scopes[namespace] = scope
        return scope

    def peek(self, namespace: str | None) -> ScopedStore:
        """The scope of `namespace` for reading: an empty one, not kept, when it does not exist,
        so that reads cannot fill the registry up to --max-namespaces."""
        scope = self._scopes.get(namespace)
        if scope is None:
            scope = ScopedStore(self, namespace, self._namespaces.fresh())
        return scope

    def remove_namespace(self, namespace: str) -> bool:
        removed = self._scopes.pop(namespace, None) is not None
        return self._namespaces.remove(namespace) or removed

    def namespaces(self) -> list[str]:
        return sorted(name for name in self._scopes if name is not None)

    def select(self, request: IncomingRequest) -> Found:
        return self.scoped(request.namespace).select(request)

    @property
    def stubs(self) -> StubSet:
        """The default namespace's stubs."""
        return self.default.stubs

    def stamp(self, stubs: Sequence[Stub]) -> list[Stub]:
        """Give new API stubs their orders: newer calls sort first, a call keeps its own order.

        A stub sent without an id gets "api-<n>", unique for the server's lifetime.
        """
        first = self._next_api_order
        self._next_api_order += len(stubs)
        last = first + len(stubs) - 1
        return [
            replace(
                stub,
                order=last - position,
                id=stub.id if stub.spec.id is not None else f"api-{first + position}",
            )
            for position, stub in enumerate(stubs)
        ]

    def swap_files(self, file_stubs: Sequence[Stub]) -> None:
        """Replace every file stub at once (reload); API stubs stay, overriding by id."""
        self.file_stubs = tuple(file_stubs)
        for scope in self._scopes.values():
            scope.files_reloaded()
