"""Admin calls about the server itself: health, reset, the stub schema, the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from mockserver.admin.context import AdminContext, AdminRoute, admin_handler, ok
from mockserver.spec import stub_file_schema


class MetaResource:
    def __init__(self, context: AdminContext, describe_api: Callable[[], dict[str, Any]]) -> None:
        self._context = context
        self._describe_api = describe_api
        self._schema = stub_file_schema()

    def routes(self) -> Sequence[AdminRoute]:
        return [
            AdminRoute("GET", "/health", admin_handler(self.health), "Liveness and counts"),
            AdminRoute(
                "POST",
                "/reset",
                admin_handler(self.reset),
                "Clear the journal and counters, remove API-added stubs",
            ),
            AdminRoute("GET", "/schema", admin_handler(self.schema), "The stub JSON Schema"),
            AdminRoute(
                "GET", "/openapi.json", admin_handler(self.openapi), "This API's description"
            ),
        ]

    async def health(self, request: web.Request) -> web.Response:
        journal = self._context.state.journal
        return ok(
            {
                "status": "ok",
                "version": self._context.version,
                "stubs": len(self._context.store.stubs),
                "requests": len(journal),
                "dropped": journal.dropped,
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        removed = self._context.store.remove_api_stubs()
        self._context.state.reset()
        return ok({"reset": True, "removed_stubs": removed})

    async def schema(self, request: web.Request) -> web.Response:
        return ok(self._schema)

    async def openapi(self, request: web.Request) -> web.Response:
        return ok(self._describe_api())
