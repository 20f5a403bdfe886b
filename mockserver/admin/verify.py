"""Admin calls that assert: verify a count, verify an order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from mockserver.admin.context import (
    AdminContext,
    AdminRoute,
    admin_handler,
    parse_matcher,
    read_json_object,
)
from mockserver.errors import AdminInputError
from mockserver.journal import Journal
from mockserver.responder import json_response
from mockserver.verification import CountCondition, Verdict, verify_count, verify_sequence

_COUNT_FIELDS = ("count", "at_least", "at_most")
MAX_WITHIN_MS: Final = 30_000
"""The longest a verify may wait for requests still to come."""


class VerifyResource:
    def __init__(self, context: AdminContext) -> None:
        self._context = context

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute(
                "POST",
                "/verify",
                admin_handler(self.verify),
                "Assert how many recorded requests match",
                body={
                    "description": "{request: matcher, count | at_least | at_most, within_ms} "
                    "(no count: at least 1). within_ms (at most 30000) waits for requests "
                    "still to come: the answer comes when the condition holds or time is up.",
                    "schema": {"$ref": "#/components/schemas/VerifyRequest"},
                },
                responses=(200, 400, 422),
            ),
            AdminRoute(
                "POST",
                "/verify/sequence",
                admin_handler(self.verify_sequence),
                "Assert that requests happened in this order",
                body={
                    "description": "{requests: [matcher, ...]}",
                    "schema": {"$ref": "#/components/schemas/VerifySequenceRequest"},
                },
                responses=(200, 400, 422),
            ),
        ]

    async def verify(self, request: web.Request) -> web.Response:
        data = await read_json_object(
            request, self._context.settings, what="{request: matcher, count: n}"
        )
        unknown = sorted(set(data) - {"request", "within_ms", *_COUNT_FIELDS})
        if unknown:
            raise AdminInputError(
                f"unknown field {unknown[0]!r} in a verify body",
                [{"field": name, "message": "unknown field"} for name in unknown],
            )
        if "request" not in data:
            raise AdminInputError(
                "a verify needs 'request': the matcher of the requests to count",
                [{"field": "request", "message": "field required"}],
            )
        matcher, description = parse_matcher(data["request"], "request")
        condition = _condition(data)
        within_ms = _within(data)
        journal = self._context.scope(request).state.journal
        verdict = verify_count(matcher, journal.records(), condition, description)
        if not verdict.ok and within_ms and condition.may_still_hold(verdict.count):
            verdict = await _wait_for(
                journal,
                within_ms / 1000,
                lambda: verify_count(matcher, journal.records(), condition, description),
                condition,
            )
        return json_response(200 if verdict.ok else 422, verdict.to_json())

    async def verify_sequence(self, request: web.Request) -> web.Response:
        data = await read_json_object(
            request, self._context.settings, what="{requests: [matcher, ...]}"
        )
        steps = data.get("requests")
        if not isinstance(steps, list) or not steps:
            raise AdminInputError(
                "a sequence verify needs 'requests': a non-empty list of request matchers",
                [{"field": "requests", "message": "expected a non-empty list"}],
            )
        matchers = [parse_matcher(step, f"requests[{i}]") for i, step in enumerate(steps)]
        verdict = verify_sequence(matchers, self._context.scope(request).state.journal.records())
        return json_response(200 if verdict.ok else 422, verdict.to_json())


async def _wait_for(
    journal: Journal, seconds: float, check: Callable[[], Verdict], condition: CountCondition
) -> Verdict:
    """Re-check after each journal append until the condition holds or the time is up.

    Appends wake the waiter (no polling); nothing else on the loop is held up meanwhile.
    """
    loop = asyncio.get_running_loop()
    appended = asyncio.Event()

    def wake(_entry: object) -> None:
        loop.call_soon_threadsafe(appended.set)  # appends may come from another thread

    unsubscribe = journal.subscribe(wake)
    deadline = loop.time() + seconds
    try:
        while True:
            appended.clear()
            verdict = check()
            remaining = deadline - loop.time()
            if verdict.ok or remaining <= 0 or not condition.may_still_hold(verdict.count):
                return verdict
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(appended.wait(), remaining)
    finally:
        unsubscribe()


def _within(data: dict[str, Any]) -> int:
    value = data.get("within_ms")
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WITHIN_MS:
        raise AdminInputError(
            f"within_ms must be an integer from 0 to {MAX_WITHIN_MS}, got {value!r}",
            [{"field": "within_ms", "message": f"expected 0..{MAX_WITHIN_MS}"}],
        )
    return value


def _condition(data: dict[str, Any]) -> CountCondition:
    given = {name: data[name] for name in _COUNT_FIELDS if data.get(name) is not None}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AdminInputError(
                f"{name} must be a non-negative integer, got {value!r}",
                [{"field": name, "message": "expected a non-negative integer"}],
            )
    if "count" in given and len(given) > 1:
        raise AdminInputError(
            "give count, or at_least and/or at_most, not both",
            [{"field": "count", "message": "conflicts with at_least/at_most"}],
        )
    if not given:
        return CountCondition(at_least=1)
    return CountCondition(**given)
