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
from mockserver.incoming import segment_path
from mockserver.journal import Journal, JournalQuery

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
    {
        "name": "before_seq",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0},
        "description": "Only entries with a smaller seq; with limit, the newest N of those "
        "(paging backward)",
    },
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

    async def _journal(self, request: web.Request, *, write: bool = False) -> Journal:
        return (await self._context.scope(request, write=write)).state.journal

    async def list_entries(self, request: web.Request) -> web.Response:
        page = await (await self._journal(request)).find(journal_query(request.query))
        return ok(
            {
                "requests": [entry.to_json() for entry in page.entries],
                "total": page.total,
                "dropped": page.dropped,
            }
        )

    async def clear(self, request: web.Request) -> web.Response:
        return ok({"cleared": await (await self._journal(request)).clear()})

    async def _matching(self, request: web.Request) -> JournalQuery:
        data = await read_json_object(request, self._context.settings, what="a request matcher")
        matcher, _ = parse_matcher(data, "")
        return JournalQuery(matcher=matcher)

    async def find(self, request: web.Request) -> web.Response:
        query = await self._matching(request)
        page = await (await self._journal(request)).find(query)
        return ok({"requests": [entry.to_json() for entry in page.entries]})

    async def count(self, request: web.Request) -> web.Response:
        query = await self._matching(request)
        return ok({"count": await (await self._journal(request)).count(query)})

    async def unmatched(self, request: web.Request) -> web.Response:
        entries = await (await self._journal(request)).unmatched()
        return ok({"requests": [entry.to_json(near_misses=True) for entry in entries]})


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


def journal_query(query: Any) -> JournalQuery:
    """GET /requests filters: method, path, service, stub_id, matched, since_seq, limit,
    before_seq."""
    method = query.get("method")
    path = query.get("path")  # encoded or decoded, as in a stub: compared in one form
    return JournalQuery(
        method=None if method is None else method.upper(),
        path=None if path is None else segment_path(path),
        service=query.get("service"),
        stub_id=query.get("stub_id"),
        matched=_boolean(query, "matched"),
        since_seq=_integer(query, "since_seq"),
        limit=_integer(query, "limit"),
        before_seq=_integer(query, "before_seq"),
    )
