"""Admin calls that assert: verify a count, verify an order."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
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
from mockserver.journal import Journal, JournalQuery
from mockserver.responder import json_response
from mockserver.verification import CountCondition, verify_count, verify_sequence

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
        journal = (await self._context.scope(request)).state.journal
        query = JournalQuery(matcher=matcher)
        if within_ms:
            found = await _count_until(journal, query, condition, within_ms / 1000)
        else:
            found = await journal.count(query)
        verdict = await verify_count(journal, matcher, condition, description, found=found)
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
        journal = (await self._context.scope(request)).state.journal
        verdict = await verify_sequence(journal, matchers)
        return json_response(200 if verdict.ok else 422, verdict.to_json())


async def _count_until(
    journal: Journal, query: JournalQuery, condition: CountCondition, seconds: float
) -> int:
    """The count of matching entries once `condition` holds, or when it can no longer come to
    hold, or when the time is up.

    Follows the journal's feed from the moment of the first count, so each new entry is looked
    at once (no polling, no recount); nothing else on the loop is held up meanwhile.
    """
    last_seq = (await journal.stats()).last_seq
    async with journal.subscribe(after_seq=last_seq) as feed:
        # up to `last_seq` by counting, after it from the feed: each entry counted once
        found = await journal.count(query) - await journal.count(replace(query, since_seq=last_seq))
        deadline = asyncio.get_running_loop().time() + seconds
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                while not condition.holds(found) and condition.may_still_hold(found):
                    entry = await anext(feed)
                    if query.accepts(entry):
                        found += 1
        return found


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
