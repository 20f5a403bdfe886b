"""The admin API: one module per resource, all routes in one table (also the OpenAPI document)."""

from __future__ import annotations

import hmac
import re
from typing import Any

from aiohttp import web

from mockserver.admin.callbacks import CallbacksResource
from mockserver.admin.clock import ClockResource
from mockserver.admin.context import (
    NAMESPACE_ROUTE,
    NAMESPACE_SEGMENT,
    AdminContext,
    AdminRoute,
    Handler,
    admin_handler,
)
from mockserver.admin.meta import MetaResource
from mockserver.admin.recordings import RecordingsResource
from mockserver.admin.requests import RequestsResource
from mockserver.admin.scenarios import ScenariosResource
from mockserver.admin.stream import StreamResource
from mockserver.admin.stubs import StubsResource
from mockserver.admin.ui import PUBLIC_ROUTES, UiResource, cookie_admits
from mockserver.admin.verify import VerifyResource
from mockserver.delivery import CallbackSender
from mockserver.incoming import NAMESPACE_NAME
from mockserver.responder import json_response

__all__ = ["AdminApi", "AdminContext"]


class AdminApi:
    """Every admin route under the configured prefix."""

    def __init__(self, context: AdminContext, callbacks: CallbackSender | None = None) -> None:
        self._context = context
        if callbacks is None:
            callbacks = CallbackSender(context.settings)
        self._document: dict[str, Any] | None = None
        self._stream = StreamResource(context)
        self.routes: list[AdminRoute] = [
            *MetaResource(context, self.document).routes(),
            *StubsResource(context, callbacks.reload_events).routes(),
            *RequestsResource(context).routes(),
            *VerifyResource(context).routes(),
            *ScenariosResource(context).routes(),
            *ClockResource(context).routes(),
            *CallbacksResource(context, callbacks).routes(),
            *RecordingsResource(context).routes(),
            *self._stream.routes(),
            *UiResource(context).routes(),
        ]

    def document(self) -> dict[str, Any]:
        if self._document is None:
            # imported here: only GET openapi.json needs it, not start-up
            from mockserver.admin.openapi import openapi_document

            self._document = openapi_document(
                self.routes, self._context.settings.admin_prefix, self._context.version
            )
        return self._document

    def register(self, app: web.Application) -> None:
        prefix = self._context.settings.admin_prefix
        token = self._context.settings.admin_token
        for route in self.routes:
            handler = route.handler
            public = (route.method, route.path) in PUBLIC_ROUTES | {("GET", "/health")}
            if token is not None and not public:
                handler = require_token(handler, token)
            path = route.path.replace(NAMESPACE_SEGMENT, NAMESPACE_ROUTE)
            app.router.add_route(route.method, prefix + path, handler)
            if route.scoped:
                app.router.add_route(route.method, prefix + NAMESPACE_ROUTE + route.path, handler)
        # anything else under the prefix is an admin mistake, not a mocked request
        unknown = admin_handler(self._unknown)
        if token is not None:
            unknown = require_token(unknown, token)
        app.router.add_route("*", prefix + "{tail:(/[\\s\\S]*)?}", unknown)
        app.on_shutdown.append(self._stream.close_all)  # open live feeds end before the wait

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


def require_token(handler: Handler, token: str) -> Handler:
    """Refuse calls without `Authorization: Bearer <token>` (compared in constant time), or
    the live view's cookie (`admin.ui.cookie_admits`).

    Never a token in the query string: it would end up in logs and proxies.
    """
    expected = f"Bearer {token}".encode()

    async def guarded(request: web.Request) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, expected) or cookie_admits(request, token):
            return await handler(request)
        reason = "missing" if not given else "wrong"
        return web.json_response(
            {
                "error": f"admin API: {reason} bearer token",
                "details": [
                    {"field": "Authorization", "message": "send 'Authorization: Bearer <token>'"}
                ],
            },
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="mockserver admin"'},
        )

    guarded.__name__ = handler.__name__
    return guarded


def _same_route(template: str, path: str) -> bool:
    """ "/__admin/stubs/{id}" names "/__admin/stubs/x"; "{namespace}" only a valid name."""
    parts, wanted = template.split("/"), path.split("/")
    return len(parts) == len(wanted) and all(
        part == got
        or (part == "{namespace}" and bool(_NAMESPACE_NAME.fullmatch(got)))
        or (part.startswith("{") and part != "{namespace}" and bool(got))
        for part, got in zip(parts, wanted, strict=True)
    )


_NAMESPACE_NAME = re.compile(NAMESPACE_NAME)
