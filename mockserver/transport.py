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
from typing import Any, Final

from aiohttp import HttpVersion10, HttpVersion11, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.http_parser import RawRequestMessage
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest

from mockserver.config import Settings
from mockserver.refused import RefusedHead, read_refused_heads

LostRequest = Callable[[RawRequestMessage], None]
"""Told of each request that was read off the wire but never reached a handler."""
RefusedRequest = Callable[[RefusedHead, int, str], Awaitable[None]]
"""Told of each request the HTTP parser refused: what was read of it, the status it got and why
(awaited before the refusal is sent, so a client that has it can read the journal entry)."""

_HEAD_KEPT: Final = 65536
"""Bytes of a request head still arriving that a connection keeps, so that a head the parser
refuses can be journaled with what was read of it (a request line past the limit included)."""


class _JsonErrorHandler(RequestHandler):
    # the bytes since the last request the parser completed (up to _HEAD_KEPT), and those of
    # the head it refused; class defaults, set per connection only when there is something
    _arriving: bytes = b""
    _refused: bytes = b""
    _to_journal: list[tuple[RefusedHead, int, str]] | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            # a refused head waits for its error handler, which may run a loop turn later: the
            # connection closes after that answer, and bytes read meanwhile must not replace
            # the head to journal (nor be parsed into a second refusal)
            return
        parsed = self._request_count
        super().data_received(data)
        if self._request_count == parsed:  # a head (or a body) still arriving
            if len(self._arriving) < _HEAD_KEPT:
                self._arriving += data
            return
        messages = self._messages
        last = messages[-1][0] if messages else None
        if not isinstance(last, RawRequestMessage):  # refused by the parser
            self._refused = self._arriving + data
        elif last.version is not HttpVersion11 and last.version != HttpVersion10:
            # HTTP/0.9 or 1.2+: aiohttp would answer in that version (b"HTTP/0.9 404"), which
            # no client reads; refused 505 instead, in HTTP/1.0
            self._refused = self._arriving + data
            refusal = BadHttpMessage(f"HTTP/{last.version.major}.{last.version.minor}")
            messages[-1] = (_ErrInfo(505, refusal, refusal.message), messages[-1][1])
        # what follows the last head in these bytes may begin the next request
        end = data.rfind(b"\r\n\r\n")
        self._arriving = data[end + 4 :] if end >= 0 else b""

    def _make_error_handler(
        self, err_info: _ErrInfo
    ) -> Callable[[BaseRequest], Awaitable[web.StreamResponse]]:
        # aiohttp's own, plus the journal entry of the refused request, recorded before the
        # answer goes out (as a mocked request's is)
        async def handler(request: BaseRequest) -> web.StreamResponse:
            response = self.handle_error(request, err_info.status, err_info.exc, err_info.message)
            refused = getattr(self._manager, "refused_request", None)
            entries, self._to_journal = self._to_journal, None
            if entries is not None and refused is not None:
                for entry in entries:
                    await refused(*entry)
            return response

        return handler

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
        heads = read_refused_heads(self._refused, self.max_headers, self.max_field_size)
        head = heads[-1] if heads else None
        self._refused = b""
        details: list[dict[str, str]] = []
        if status == 505:
            error = f"HTTP version {text} is not supported: send HTTP/1.1 or HTTP/1.0"
            details = [{"field": "request line", "message": "the version is HTTP/1.1 or 1.0"}]
        elif isinstance(exc, LineTooLong) and _in_request_line(exc, head):
            status, error = 414, f"request line longer than {self.max_line_size} bytes"
            details = [{"field": "request line", "message": "raise it with --max-line-size"}]
        elif _headers_too_large(exc, text):
            if isinstance(exc, LineTooLong):
                limit, flag = f"a header line over {self.max_field_size} bytes", "--max-field-size"
            elif "too many headers" in text.lower():
                limit, flag = f"more than {self.max_headers} headers", "--max-headers"
            else:
                limit, flag = text, "--max-field-size"
            status, error = 431, f"request headers too large: {limit}"
            details = [{"field": "headers", "message": f"raise it with {flag}"}]
        else:
            error = f"malformed HTTP request: {text}"
        if head is not None:  # by the error handler, before the answer
            # complete requests read with the refused one were dropped with it: the client
            # reads this answer as the first one's, and each is journaled with it
            dropped = f"{error} (in what followed this request in the same read)"
            self._to_journal = [
                *((earlier, status, dropped) for earlier in heads[:-1]),
                (head, status, error),
            ]
        text = json.dumps({"error": error, "details": details})
        if heads and heads[0].method == "HEAD":  # its answer has no body, this one too (the
            # client reads it as the answer to the first request of the read)
            text = ""
        response = web.Response(status=status, content_type="application/json", text=text)
        response.force_close()
        return response


def _in_request_line(exc: LineTooLong, head: RefusedHead | None) -> bool:
    """Whether the line too long is the request line (414) rather than a header line (431):
    aiohttp's parser puts the start of the line it refused in the error, and a request line's
    long part is its target."""
    cut = exc.args[0] if exc.args else b""
    if isinstance(cut, str):
        cut = cut.encode("utf-8", "surrogateescape")
    cut = cut.removesuffix(b"...")[:32]
    if head is None or not head.line_complete:
        return True
    return head.target.encode("utf-8", "surrogateescape").startswith(cut)


def _headers_too_large(exc: BaseException | None, text: str) -> bool:
    if isinstance(exc, LineTooLong):
        return True
    lowered = text.lower()
    return isinstance(exc, BadHttpMessage) and (
        "too many headers" in lowered or ("header" in lowered and "too" in lowered)
    )


class _JsonErrorServer(web.Server):
    lost_request: LostRequest | None = None
    refused_request: RefusedRequest | None = None

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
        refused: RefusedRequest | None = None,
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
        self._refused = refused
        self._admin_prefix = admin_prefix

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds the Server inside Application._make_handler; retyping the instance is
        # the one way to choose its connection handler class without copying that method
        server.__class__ = _JsonErrorServer
        server.lost_request = self._lost  # type: ignore[attr-defined]  # retyped just above
        server.refused_request = self._refused  # type: ignore[attr-defined]  # likewise
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
    return {"keepalive_timeout": settings.client_timeout, **parser_limits(settings)}


def parser_limits(settings: Settings) -> dict[str, int]:
    """--max-line-size (the request line), --max-field-size (one header line), --max-headers:
    a request over them is answered 414 or 431 JSON and journaled with what was read."""
    return {
        "max_headers": settings.max_headers,
        "max_field_size": settings.max_field_size,
        "max_line_size": settings.max_line_size,
    }
