"""Admin calls on the journal: list with filters, find, count, clear, unmatched."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockserver.admin.context import (
    AdminContext,
    AdminRoute,
    admin_handler,
    ok,
    parse_matcher,
    read_json_object,
)
from mockserver.errors import AdminInputError
from mockserver.journal import (
    MATCHED,
    METHOD,
    PATH,
    SEQ,
    SERVICE,
    STUB_ID,
    JournalEntry,
    Record,
)
from mockserver.verification import matching_records

MATCHER_BODY: dict[str, Any] = {
    "description": "A request matcher: the stub `request` format ({} matches every request).",
    "schema": {"$ref": "#/components/schemas/RequestMatcher"},
}
_FILTERS: tuple[dict[str, Any], ...] = (
    {"name": "method", "in": "query", "schema": {"type": "string"}},
    {"name": "path", "in": "query", "schema": {"type": "string"}},
    {"name": "service", "in": "query", "schema": {"type": "string"}},
    {"name": "stub_id", "in": "query", "schema": {"type": "string"}},
    {"name": "matched", "in": "query", "schema": {"type": "boolean"}},
    {"name": "since_seq", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}},
)


class RequestsResource:
    def __init__(self, context: AdminContext) -> None:
        self._context = context

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute(
                "GET",
                "/requests",
                admin_handler(self.list_entries),
                "The journal, oldest first, filtered",
                responses=(200, 400),
                parameters=_FILTERS,
            ),
            AdminRoute("DELETE", "/requests", admin_handler(self.clear), "Clear the journal"),
            AdminRoute(
                "POST",
                "/requests/find",
                admin_handler(self.find),
                "Recorded requests matching a request matcher",
                body=MATCHER_BODY,
                responses=(200, 400),
            ),
            AdminRoute(
                "POST",
                "/requests/count",
                admin_handler(self.count),
                "How many recorded requests match a request matcher",
                body=MATCHER_BODY,
                responses=(200, 400),
            ),
            AdminRoute(
                "GET",
                "/requests/unmatched",
                admin_handler(self.unmatched),
                "Requests no stub matched, each with its near misses",
            ),
        ]

    async def list_entries(self, request: web.Request) -> web.Response:
        journal = self._context.scope(request).state.journal
        records = filter_records(journal.records(), request.query)
        return ok(
            {
                "requests": [JournalEntry.of(record).to_json() for record in records],
                "total": len(records),
                "dropped": journal.dropped,
            }
        )

    async def clear(self, request: web.Request) -> web.Response:
        journal = self._context.scope(request).state.journal
        cleared = len(journal)
        journal.clear()
        return ok({"cleared": cleared})

    async def _matching(self, request: web.Request) -> list[Record]:
        data = await read_json_object(request, self._context.settings, what="a request matcher")
        matcher, _ = parse_matcher(data, "")
        journal = self._context.scope(request).state.journal
        return matching_records(matcher, journal.records())

    async def find(self, request: web.Request) -> web.Response:
        records = await self._matching(request)
        return ok({"requests": [JournalEntry.of(record).to_json() for record in records]})

    async def count(self, request: web.Request) -> web.Response:
        return ok({"count": len(await self._matching(request))})

    async def unmatched(self, request: web.Request) -> web.Response:
        journal = self._context.scope(request).state.journal
        entries = [JournalEntry.of(record) for record in journal.records() if not record[MATCHED]]
        return ok(
            {
                "requests": [
                    {
                        **entry.to_json(),
                        "near_misses": [near_miss.to_json() for near_miss in entry.near_misses],
                    }
                    for entry in entries
                ]
            }
        )


def _integer(query: Any, name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise AdminInputError(
            f"{name} must be a non-negative integer, got {raw!r}",
            [{"field": name, "message": "expected a non-negative integer"}],
        )
    return value


def _boolean(query: Any, name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise AdminInputError(
        f"{name} must be true or false, got {raw!r}",
        [{"field": name, "message": "expected true or false"}],
    )


def filter_records(records: list[Record], query: Any) -> list[Record]:
    """GET /requests filters: method, path, service, stub_id, matched, since_seq, limit."""
    since = _integer(query, "since_seq")
    limit = _integer(query, "limit")
    matched = _boolean(query, "matched")
    method = query.get("method")
    path = query.get("path")
    service = query.get("service")
    stub_id = query.get("stub_id")
    method = None if method is None else method.upper()
    selected = [
        record
        for record in records
        if (since is None or record[SEQ] > since)
        and (method is None or record[METHOD] == method)
        and (path is None or record[PATH] == path)
        and (service is None or record[SERVICE] == service)
        and (stub_id is None or record[STUB_ID] == stub_id)
        and (matched is None or record[MATCHED] == matched)
    ]
    if limit is not None:
        # with since_seq, the first N after it (paging forward); otherwise the newest N
        selected = selected[:limit] if since is not None else selected[len(selected) - limit :]
    return selected
