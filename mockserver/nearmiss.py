"""Near misses: which stubs (or journal entries) came closest to a request, and why they missed.

Ranking follows the contract: candidates whose path and host matched come first, then by the
share of their declared fields that matched, then in the order given (stub order, or journal
order). At most three are kept. Pure: called only when nothing matched, never on a hit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, TypeVar

from mockserver.incoming import IncomingRequest
from mockserver.matching import Miss, RequestMatcher, match_request
from mockserver.stub import Stub

NEAR_MISS_LIMIT: Final = 3
T = TypeVar("T")


def rank(
    candidates: Iterable[tuple[T, Miss]], limit: int = NEAR_MISS_LIMIT
) -> list[tuple[T, Miss]]:
    """The closest `limit` candidates, best first; ties keep their given order."""
    ordered = sorted(candidates, key=lambda pair: (not pair[1].path_matched, -pair[1].score))
    return ordered[:limit]


def miss_json(miss: Miss) -> dict[str, Any]:
    return {"field": miss.field, "expected": miss.expected, "actual": miss.actual}


def stub_near_misses(
    stubs: Iterable[Stub],
    request: IncomingRequest,
    skipped: Iterable[tuple[Stub, Miss]] = (),
    limit: int = NEAR_MISS_LIMIT,
) -> list[dict[str, Any]]:
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
    return [
        {"stub_id": stub.id, "source": stub.source, **miss_json(miss)}
        for stub, miss in rank(scored, limit)
    ]


def request_near_misses(
    matcher: RequestMatcher,
    requests: Iterable[tuple[int, IncomingRequest]],
    limit: int = NEAR_MISS_LIMIT,
) -> list[dict[str, Any]]:
    """The recorded requests (seq, request) closest to an admin matcher: a failed verify."""
    scored = []
    for seq, request in requests:
        outcome = match_request(matcher, request, score=True)
        if isinstance(outcome, Miss):
            scored.append(((seq, request), outcome))
    return [
        {"request_seq": seq, "method": request.method, "path": request.path, **miss_json(miss)}
        for (seq, request), miss in rank(scored, limit)
    ]
