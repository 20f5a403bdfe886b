"""The admin API: one module per resource, all routes in one table (also the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockserver.admin.context import (
    NAMESPACE_ROUTE,
    NAMESPACE_SEGMENT,
    AdminContext,
    AdminRoute,
    admin_handler,
)
from mockserver.admin.meta import MetaResource
from mockserver.admin.openapi import openapi_document
from mockserver.admin.requests import RequestsResource
from mockserver.admin.scenarios import ScenariosResource
from mockserver.admin.stubs import StubsResource
from mockserver.admin.verify import VerifyResource
from mockserver.responder import json_response

__all__ = ["AdminApi", "AdminContext"]


class AdminApi:
    """Every admin route under the configured prefix."""

    def __init__(self, context: AdminContext) -> None:
        self._context = context
        self._document: dict[str, Any] | None = None
        self.routes: list[AdminRoute] = [
            *MetaResource(context, self.document).routes(),
            *StubsResource(context).routes(),
            *RequestsResource(context).routes(),
            *VerifyResource(context).routes(),
            *ScenariosResource(context).routes(),
        ]

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = openapi_document(
                self.routes, self._context.settings.admin_prefix, self._context.version
            )
        return self._document

    def register(self, app: web.Application) -> None:
        prefix = self._context.settings.admin_prefix
        for route in self.routes:
            path = route.path.replace(NAMESPACE_SEGMENT, NAMESPACE_ROUTE)
            app.router.add_route(route.method, prefix + path, route.handler)
            if route.scoped:
                app.router.add_route(
                    route.method, prefix + NAMESPACE_ROUTE + route.path, route.handler
                )
        # anything else under the prefix is an admin mistake, not a mocked request
        app.router.add_route("*", prefix + "{tail:(/.*)?}", admin_handler(self._unknown))

    async def _unknown(self, request: web.Request) -> web.Response:
        prefix = self._context.settings.admin_prefix
        known = sorted(
            {
                route.method
                for route in self.routes
                for path in (prefix + route.path, prefix + NAMESPACE_SEGMENT + route.path)
                if _same_route(path, request.path)
            }
        )
        if known:
            return json_response(
                405,
                {
                    "error": f"{request.method} is not allowed on {request.path}",
                    "details": [{"field": "method", "message": f"allowed: {', '.join(known)}"}],
                },
            )
        return json_response(
            404,
            {
                "error": f"no admin call {request.method} {request.path}",
                "details": [{"field": "path", "message": f"see {prefix}/openapi.json"}],
            },
        )


def _same_route(template: str, path: str) -> bool:
    """ "/__admin/stubs/{id}" names "/__admin/stubs/x"."""
    parts, wanted = template.split("/"), path.split("/")
    return len(parts) == len(wanted) and all(
        part == got or (part.startswith("{") and bool(got))
        for part, got in zip(parts, wanted, strict=True)
    )
