"""Admin calls about the server itself: health, reset, the stub schema, the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from mockserver.admin.context import (
    LISTENING_KEY,
    NAMESPACE_PARAM,
    NAMESPACE_PARAMETER,
    NAMESPACE_SEGMENT,
    AdminContext,
    AdminRoute,
    admin_handler,
    ok,
)
from mockserver.errors import NotFoundError, StateUnavailableError
from mockserver.responder import json_response
from mockserver.spec import stub_file_schema


class MetaResource:
    def __init__(self, context: AdminContext, describe_api: Callable[[], dict[str, Any]]) -> None:
        self._context = context
        self._describe_api = describe_api
        self._schema: dict[str, Any] | None = None  # built on first request: start-up stays lean

    def routes(self) -> Sequence[AdminRoute]:
        return [
            AdminRoute(
                "GET",
                "/health",
                admin_handler(self.health),
                "Liveness and counts",
                responses=(200, 503),
            ),
            AdminRoute(
                "POST",
                "/reset",
                admin_handler(self.reset),
                "Clear the journal and counters, remove API-added stubs",
            ),
            AdminRoute(
                "GET", "/schema", admin_handler(self.schema), "The stub JSON Schema", scoped=False
            ),
            AdminRoute(
                "GET",
                "/openapi.json",
                admin_handler(self.openapi),
                "This API's description",
                scoped=False,
            ),
            AdminRoute(
                "GET",
                "/namespaces",
                admin_handler(self.namespaces),
                "Namespaces in use, with their request and stub counts",
                scoped=False,
            ),
            AdminRoute(
                "DELETE",
                NAMESPACE_SEGMENT,
                admin_handler(self.remove_namespace),
                "Remove a namespace: its stubs, journal, counters and scenario states",
                responses=(200, 404),
                parameters=(NAMESPACE_PARAMETER,),
                scoped=False,
            ),
        ]

    async def health(self, request: web.Request) -> web.Response:
        store = self._context.store
        try:
            scope = await self._context.scope(request)
            stats = await scope.state.journal.stats()
        except StateUnavailableError as down:
            return json_response(503, self._unavailable(down))
        answer = {
            "status": "ok",
            "version": self._context.version,
            "state": store.state.kind,
            "stubs": len(scope.stubs),
            "requests": stats.size,
            "dropped": stats.dropped,
            "listening": request.app.get(LISTENING_KEY, []),
        }
        if store.state.kind != "memory":  # a shared store can be out of reach: say what it cost
            answer["unjournaled"] = store.unjournaled
        return ok(answer)

    def _unavailable(self, down: StateUnavailableError) -> dict[str, object]:
        """Health while the state store is out of reach: an error body that says so."""
        return {
            **down.payload(),
            "status": "unavailable",
            "version": self._context.version,
            "state": "unavailable",
            "store": down.store,
            "unjournaled": self._context.store.unjournaled,
        }

    async def reset(self, request: web.Request) -> web.Response:
        # a namespace not yet created has nothing to reset: this does not create it
        removed = await (await self._context.scope(request)).reset()
        return ok({"reset": True, "removed_stubs": removed})

    async def namespaces(self, request: web.Request) -> web.Response:
        store = self._context.store
        listed = []
        for name in await store.namespaces():
            scope = await store.peek(name)
            stats = await scope.state.journal.stats()
            listed.append({"name": name, "requests": stats.size, "stubs": len(scope.stubs)})
        return ok({"namespaces": listed, "limit": self._context.settings.max_namespaces})

    async def remove_namespace(self, request: web.Request) -> web.Response:
        name = request.match_info[NAMESPACE_PARAM]
        if not await self._context.store.remove_namespace(name):
            raise NotFoundError(f"no namespace {name!r}")
        return ok({"removed": name})

    async def schema(self, request: web.Request) -> web.Response:
        if self._schema is None:
            self._schema = stub_file_schema()
        return ok(self._schema)

    async def openapi(self, request: web.Request) -> web.Response:
        return ok(self._describe_api())
