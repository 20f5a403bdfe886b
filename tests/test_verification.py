"""Verification over a journal: count conditions, sequences, and the near misses of a failure."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.exchange import Exchange, Outcome
from mockserver.incoming import IncomingRequest
from mockserver.matching import RequestMatcher, compile_request
from mockserver.memory_journal import MemoryJournal
from mockserver.spec import RequestSpec
from mockserver.verification import CountCondition, verify_count, verify_sequence


def matcher(data: dict[str, Any]) -> RequestMatcher:
    return compile_request(RequestSpec.model_validate(data))


async def journal_of(*requests: tuple[str, str, bytes]) -> MemoryJournal:
    journal = MemoryJournal(1000, 10**7)
    for method, path, body in requests:
        request = IncomingRequest(method, path, {}, {"content-type": "application/json"}, body)
        await journal.record(Exchange(request, Outcome(True, 200), 0.0, 0.1))
    return journal


@pytest.mark.parametrize(
    ("condition", "found", "holds", "may_still_hold"),
    [
        (CountCondition(count=1), 1, True, True),
        (CountCondition(count=1), 2, False, False),
        (CountCondition(count=2), 1, False, True),
        (CountCondition(at_least=2), 3, True, True),
        (CountCondition(at_most=1), 2, False, False),
        (CountCondition(at_least=1, at_most=3), 0, False, True),
    ],
    ids=["exact", "too-many", "not-yet", "at-least", "over-at-most", "between-not-yet"],
)
def test_count_conditions(
    condition: CountCondition, found: int, holds: bool, may_still_hold: bool
) -> None:
    assert condition.holds(found) is holds
    assert condition.may_still_hold(found) is may_still_hold


@pytest.mark.parametrize(
    ("condition", "text"),
    [
        (CountCondition(count=1), "exactly 1"),
        (CountCondition(at_least=2), "at least 2"),
        (CountCondition(at_most=3), "at most 3"),
        (CountCondition(at_least=1, at_most=3), "between 1 and 3"),
    ],
)
def test_conditions_describe_themselves(condition: CountCondition, text: str) -> None:
    assert condition.describe() == text


async def test_a_count_that_holds_has_no_near_misses() -> None:
    journal = await journal_of(("POST", "/v1/charges", b'{"currency": "usd"}'))
    wanted = matcher({"method": "POST", "path": "/v1/charges"})
    verdict = await verify_count(journal, wanted, CountCondition(count=1), "POST /v1/charges")
    assert (verdict.ok, verdict.count) == (True, 1)
    assert not verdict.near_misses


async def test_a_failed_count_names_the_closest_requests_and_their_first_differing_field() -> None:
    journal = await journal_of(
        ("GET", "/v1/balance", b""),
        ("POST", "/v1/charges", b'{"currency": "eur"}'),
    )
    wanted = matcher(
        {"method": "POST", "path": "/v1/charges", "body": {"json": {"currency": "usd"}}}
    )
    verdict = await verify_count(journal, wanted, CountCondition(count=1), "a charge in usd")
    assert (verdict.ok, verdict.count, verdict.expected) == (False, 0, "exactly 1")
    closest = verdict.near_misses[0]
    near = closest if isinstance(closest, dict) else closest.to_json()
    assert (near["request_seq"], near["field"], near["actual"]) == (2, "body.json.currency", "eur")


async def test_a_sequence_allows_other_requests_in_between_but_not_another_order() -> None:
    journal = await journal_of(
        ("POST", "/login", b""),
        ("GET", "/noise", b""),
        ("POST", "/pay", b""),
    )
    steps = [(matcher({"path": "/login"}), "login"), (matcher({"path": "/pay"}), "pay")]
    ok = await verify_sequence(journal, steps)
    assert _field(ok, "ok") is True
    assert list(_field(ok, "matched_seqs")) == [1, 3]
    reversed_steps = list(reversed(steps))
    failed = await verify_sequence(journal, reversed_steps)
    assert _field(failed, "ok") is False
    assert _field(failed, "failed_step") == 1
    assert list(_field(failed, "matched_seqs")) == [3]


def _field(outcome: Any, name: str) -> Any:
    # the outcome is a mapping or a verdict object with the same field names
    return outcome[name] if isinstance(outcome, dict) else getattr(outcome, name)
