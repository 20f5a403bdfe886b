"""Near misses: which stubs (or journal entries) came closest to a request, and why they missed.

Ranking follows the contract: candidates whose path and host matched come first, then by the
share of their declared fields that matched, then in the order given (stub order, or journal
order). At most three are kept. A `NearMiss` is the one shape every caller gets: the 404 body,
the journal, `/__admin/requests/unmatched`, a failed verify and `miss` in templates show its
`to_json()` or its `describe()`. Pure: called only when nothing matched, never on a hit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from pydantic import JsonValue

from mockserver.incoming import IncomingRequest
from mockserver.matching import Miss, RequestMatcher, match_request
from mockserver.stub import Stub
from mockserver.wording import describe_near_miss

NEAR_MISS_LIMIT: Final = 3
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StubTarget:
    """A stub that came close to an unmatched request."""

    stub_id: str
    source: str


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """A recorded request that came close to a verify's matcher."""

    request_seq: int
    method: str
    path: str


Packed = tuple[str, str, str, str, JsonValue] | tuple[int, str, str, str, str, JsonValue]
"""A near miss as the journal stores it: the target's fields, field, expected, actual."""


@dataclass(frozen=True, slots=True)
class NearMiss:
    """What came close (`target`) and the first field that differed: `expected` describes the
    matcher, `actual` is what the request had (None when it lacked the field)."""

    target: StubTarget | RequestTarget
    field: str
    expected: str
    actual: JsonValue

    @classmethod
    def of_stub(cls, stub: Stub, miss: Miss) -> NearMiss:
        return cls(StubTarget(stub.id, stub.source), miss.field, miss.expected, miss.actual)

    @classmethod
    def of_request(cls, seq: int, request: IncomingRequest, miss: Miss) -> NearMiss:
        target = RequestTarget(seq, request.method, request.path)
        return cls(target, miss.field, miss.expected, miss.actual)

    def to_json(self) -> dict[str, JsonValue]:
        """`{stub_id, source, field, expected, actual}`, or `{request_seq, method, path, ...}`."""
        target = self.target
        shown: dict[str, JsonValue]
        if isinstance(target, StubTarget):
            shown = {"stub_id": target.stub_id, "source": target.source}
        else:
            shown = {
                "request_seq": target.request_seq,
                "method": target.method,
                "path": target.path,
            }
        shown.update(field=self.field, expected=self.expected, actual=self.actual)
        return shown

    def describe(self) -> str:
        """The near miss on one line, as the client shows it too (`wording.describe_near_miss`):
        `stub create-charge (stubs/stripe.yaml:4): body.form.currency: expected equals 'usd',
        got "eur"`"""
        target = self.target
        if isinstance(target, StubTarget):
            return describe_near_miss(
                self.field,
                self.expected,
                self.actual,
                stub_id=target.stub_id,
                source=target.source,
            )
        return describe_near_miss(
            self.field,
            self.expected,
            self.actual,
            request_seq=target.request_seq,
            method=target.method,
            path=target.path,
        )

    def packed(self) -> Packed:
        """The near miss as a plain tuple, as the journal stores it (a record of plain values
        stays out of the garbage collector's view); `unpacked` reverses it."""
        target = self.target
        if isinstance(target, StubTarget):
            return (target.stub_id, target.source, self.field, self.expected, self.actual)
        return (
            target.request_seq, target.method, target.path, self.field, self.expected, self.actual,
        )  # fmt: skip

    @classmethod
    def unpacked(cls, values: Packed) -> NearMiss:
        if len(values) == 5:
            stub_id, source, field, expected, actual = values
            return cls(StubTarget(stub_id, source), field, expected, actual)
        seq, method, path, field, expected, actual = values
        return cls(RequestTarget(seq, method, path), field, expected, actual)


def rank(
    candidates: Iterable[tuple[T, Miss]], limit: int = NEAR_MISS_LIMIT
) -> list[tuple[T, Miss]]:
    """The closest `limit` candidates, best first; ties keep their given order."""
    ordered = sorted(candidates, key=lambda pair: (not pair[1].path_matched, -pair[1].score))
    return ordered[:limit]


def stub_near_misses(
    stubs: Iterable[Stub],
    request: IncomingRequest,
    skipped: Iterable[tuple[Stub, Miss]] = (),
    limit: int = NEAR_MISS_LIMIT,
) -> list[NearMiss]:
    """The stubs closest to an unmatched request, as the 404 body and the admin API show them.

    `skipped` are stubs that matched but could not answer (scenario state, `times`).
    """
    why_skipped = {stub.id: miss for stub, miss in skipped}
    scored = []
    for stub in stubs:
        if stub.spec.unmatched:
            continue  # it shapes the 404 itself; it is never what the request meant
        if stub.id in why_skipped:
            scored.append((stub, why_skipped[stub.id]))
            continue
        outcome = match_request(stub.matcher, request, score=True)
        if isinstance(outcome, Miss):
            scored.append((stub, outcome))
    return [NearMiss.of_stub(stub, miss) for stub, miss in rank(scored, limit)]


def request_near_misses(
    matcher: RequestMatcher,
    requests: Iterable[tuple[int, IncomingRequest]],
    limit: int = NEAR_MISS_LIMIT,
) -> list[NearMiss]:
    """The recorded requests (seq, request) closest to an admin matcher: a failed verify."""
    scored = []
    for seq, request in requests:
        outcome = match_request(matcher, request, score=True)
        if isinstance(outcome, Miss):
            scored.append(((seq, request), outcome))
    return [NearMiss.of_request(seq, request, miss) for (seq, request), miss in rank(scored, limit)]
