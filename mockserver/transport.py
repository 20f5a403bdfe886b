"""The connection layer under the app: TLS, and JSON answers to requests that are not HTTP.

aiohttp answers a request it cannot parse with a plain-text 400 before any handler runs. A mock
server's users read every answer as JSON, and a header block that is too large deserves 431, so
the runner here builds its connection handlers from a subclass that renders those errors as
`{"error", "details"}`. The connection is closed after such an answer; other connections are
untouched.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.http_parser import RawRequestMessage
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from mockserver.config import Settings

LostRequest = Callable[[RawRequestMessage], None]
"""Told of each request that was read off the wire but never reached a handler."""


class _JsonErrorHandler(RequestHandler):
    def connection_lost(self, exc: BaseException | None) -> None:
        # aiohttp drops requests it has parsed but not yet handed to a handler when their
        # connection goes (a client that resets right after sending, or pipelined requests
        # behind a cut one). A mock's journal must not under-count: tell the app first.
        manager = self._manager
        lost = getattr(manager, "lost_request", None)
        if lost is not None and self._messages:
            for message, _payload in self._messages:
                if isinstance(message, RawRequestMessage):
                    lost(message)
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status == 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        text = str(getattr(exc, "message", None) or message or exc or "malformed request")
        if _headers_too_large(exc, text):
            status, error = 431, f"request headers too large: {text}"
        else:
            error = f"malformed HTTP request: {text}"
        response = web.Response(
            status=status,
            content_type="application/json",
            text=json.dumps({"error": error, "details": []}),
        )
        response.force_close()
        return response


def _headers_too_large(exc: BaseException | None, text: str) -> bool:
    if isinstance(exc, LineTooLong):
        return True
    lowered = text.lower()
    return isinstance(exc, BadHttpMessage) and (
        "too many headers" in lowered or ("header" in lowered and "too" in lowered)
    )


class _JsonErrorServer(web.Server):
    lost_request: LostRequest | None = None

    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


MockedHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class MockServerRunner(web.AppRunner):
    """An AppRunner whose connections answer unparseable requests with JSON and hand every
    request outside the admin prefix straight to the mocked surface's handler.

    The admin API is an ordinary aiohttp application (router, per-route handlers). Mocked
    requests skip it: one prefix test instead of the application's router, match info and
    handler wrapping, which cost a third of a mocked request's time. `app.mock_runner` builds
    one for an app of `build_app`: that is the one way mocked requests reach their handler.
    """

    def __init__(
        self,
        app: web.Application,
        *,
        mocked: MockedHandler | None = None,
        lost: LostRequest | None = None,
        admin_prefix: str = "/__admin",
        **kwargs: Any,
    ) -> None:
        # a compressed request body reaches the handler as it arrived: the mocked surface
        # decodes it itself (intake), so that it can journal the bytes and answer JSON when
        # they do not decode; aiohttp's parser would refuse it before any handler runs
        kwargs.setdefault("auto_decompress", False)
        super().__init__(app, **kwargs)
        self._mocked = mocked
        self._lost = lost
        self._admin_prefix = admin_prefix

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds the Server inside Application._make_handler; retyping the instance is
        # the one way to choose its connection handler class without copying that method
        server.__class__ = _JsonErrorServer
        server.lost_request = self._lost  # type: ignore[attr-defined]  # retyped just above
        if self._mocked is not None:
            server.request_handler = _by_prefix(
                self._admin_prefix, server.request_handler, self._mocked
            )
        return server


def _by_prefix(prefix: str, admin: MockedHandler, mocked: MockedHandler) -> MockedHandler:
    """Admin paths (the prefix itself or below it) to the application, the rest to `mocked`.
    Returns the handler's awaitable without awaiting it: no extra coroutine per request."""
    below = prefix + "/"

    def dispatch(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        path = request.path
        if path.startswith(prefix) and (path == prefix or path.startswith(below)):
            return admin(request)
        return mocked(request)

    return dispatch


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context when --tls-cert is given; requires client certificates (mTLS)
    when --tls-client-ca is given too."""
    if settings.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca is not None:
        context.load_verify_locations(cafile=settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def runner_options(settings: Settings) -> dict[str, Any]:
    """Connection limits: a client that does not finish its headers within the timeout is cut
    off (aiohttp closes a connection with no complete request when its keep-alive timer fires)."""
    return {
        "keepalive_timeout": settings.client_timeout,
        "max_headers": settings.max_headers,
        "max_field_size": settings.max_header_bytes,
        "max_line_size": settings.max_header_bytes,
    }
