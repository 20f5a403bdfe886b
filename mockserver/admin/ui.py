"""The live view: `GET /ui` (the page) and `/ui/session` (the admin token kept in a cookie).

The page holds no data, so it is served without the token; everything it shows comes from the
admin API, which asks for the token. The page asks for it once and `POST /ui/session` sets it in
an `HttpOnly`, `SameSite=Strict` cookie scoped to the admin prefix (never in a URL, out of the
script's reach); the admin API accepts the cookie beside the `Authorization` header, for reads,
and for writes when the `X-Mockserver-UI` header comes with it (a cross-site form cannot send a
header, and a cross-site script would need a CORS preflight the admin API never grants).
The cookie holds a value derived from the token, not the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from mockserver.admin.context import AdminContext, AdminRoute, admin_handler, ok, read_json_object
from mockserver.errors import AdminInputError
from mockserver.responder import json_response

if TYPE_CHECKING:
    from mockserver.ui import Page

COOKIE: Final = "mockserver_admin"
UI_HEADER: Final = "X-Mockserver-UI"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
SESSION_BODY: Final[dict[str, Any]] = {
    "description": '{"token": "..."}: the server\'s --admin-token',
    "schema": {
        "type": "object",
        "required": ["token"],
        "additionalProperties": False,
        "properties": {"token": {"type": "string"}},
    },
}
PUBLIC_ROUTES: Final = frozenset(
    {("GET", "/ui"), ("POST", "/ui/session"), ("DELETE", "/ui/session")}
)
"""Served without the token: the page, and the calls that check the token themselves."""


def cookie_value(token: str) -> str:
    """What the cookie holds: a value the token derives, so the cookie never carries the token
    (it only opens the admin API from the browser that holds it)."""
    return hmac.new(token.encode(), b"mockserver admin ui", hashlib.sha256).hexdigest()


def cookie_admits(request: web.BaseRequest, token: str) -> bool:
    """Whether the request's cookie stands for `token`: any read, and a write that carries the
    page's header."""
    given = request.cookies.get(COOKIE)
    if given is None or not hmac.compare_digest(given.encode(), cookie_value(token).encode()):
        return False
    return request.method in _SAFE_METHODS or request.headers.get(UI_HEADER) == "1"


class UiResource:
    def __init__(self, context: AdminContext) -> None:
        self._context = context
        self._page: Page | None = None  # assembled on the first visit: start-up stays lean

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute(
                "GET",
                "/ui",
                admin_handler(self.page),
                "The live view: the journal, stubs, scenarios, namespaces and clock in a browser",
                scoped=False,
            ),
            AdminRoute(
                "POST",
                "/ui/session",
                admin_handler(self.sign_in),
                "Keep the admin token in an HttpOnly cookie for the live view",
                body=SESSION_BODY,
                responses=(200, 400, 401),
                scoped=False,
            ),
            AdminRoute(
                "DELETE",
                "/ui/session",
                admin_handler(self.sign_out),
                "Forget the live view's admin token cookie",
                scoped=False,
            ),
        ]

    async def page(self, request: web.Request) -> web.Response:
        settings = self._context.settings
        if self._page is None:
            from mockserver.ui import live_page  # the first visit reads the page's files

            self._page = live_page(
                settings.admin_prefix, token_required=settings.admin_token is not None
            )
        return web.Response(
            text=self._page.html,
            content_type="text/html",
            headers={
                "Content-Security-Policy": self._page.content_security_policy,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )

    async def sign_in(self, request: web.Request) -> web.Response:
        data = await read_json_object(request, self._context.settings, what='{"token": "..."}')
        given = data.get("token")
        if not isinstance(given, str) or set(data) != {"token"}:
            raise AdminInputError(
                'expected {"token": "..."} with a string',
                [{"field": "token", "message": "expected a string"}],
            )
        token = self._context.settings.admin_token
        if token is None:
            return ok({"token_required": False})
        if not hmac.compare_digest(given.encode(), token.encode()):
            return json_response(
                401,
                {
                    "error": "wrong admin token",
                    "details": [{"field": "token", "message": "not the server's --admin-token"}],
                },
            )
        response = ok({"token_required": True})
        response.set_cookie(COOKIE, cookie_value(token), **self._cookie(request))
        return response

    async def sign_out(self, request: web.Request) -> web.Response:
        response = ok({"token_required": self._context.settings.admin_token is not None})
        response.del_cookie(COOKIE, **self._cookie(request))
        return response

    def _cookie(self, request: web.Request) -> dict[str, Any]:
        return {
            "path": self._context.settings.admin_prefix,
            "httponly": True,
            "samesite": "Strict",
            "secure": request.secure,
        }
