"""Responder: the wire format of mocked answers, as aiohttp responses or bytes written.

Prepared stub responses (fixed bytes in one write, streams, faults), the explanatory 404, the
413 and 408 for bodies over the limits, a template's 500. Everything here was decided elsewhere
(`plan`); this module only writes.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Sequence
from email.utils import formatdate
from typing import Any, Final

from aiohttp import HttpVersion11, web
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict

from mockserver.errors import TemplateError
from mockserver.incoming import IncomingRequest, header_bytes
from mockserver.nearmiss import NearMiss
from mockserver.stub import PreparedResponse, ResponseTemplates, json_bytes
from mockserver.templating import render_header, render_text

_JSON_HEADERS = {"Content-Type": "application/json"}
_NOT_HTTP: Final = b"\x00\x7fNOT-HTTP garbage \xff\xfe\r\n\r\n"
_RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class FaultSent(Exception):  # a signal to the handler, not an error
    """The connection was broken on purpose; there is no response to return."""


def body_timeout_response(size: int, timeout: float) -> web.Response:
    response = json_response(
        408,
        {
            "error": f"request body not received within {timeout:g} s ({size} bytes arrived)",
            "details": [{"field": "body", "message": "raise it with --client-timeout"}],
        },
    )
    response.force_close()
    return response


class _IsoHeaders(web.StreamResponse):
    """Writes its header values as ISO-8859-1, HTTP's rule (aiohttp writes UTF-8): "café" goes
    out as b"caf\xe9", as in a pre-serialised head. Used only for heads that hold text beyond
    ASCII; the rest keep aiohttp's serialiser."""

    async def _write_headers(self) -> None:
        request, writer = self._req, self._payload_writer
        assert request is not None
        assert writer is not None
        version = request.version
        status_line = f"HTTP/{version[0]}.{version[1]} {self._status} {self._reason}"
        await writer.write_headers(status_line, self._headers)  # aiohttp's checks and hooks
        # the same lines, each re-encoded: aiohttp's write_headers only buffers them, to be
        # written with the body (StreamWriter._headers_buf)
        lines = [status_line, *(f"{name}: {value}" for name, value in self._headers.items())]
        head = b"".join(header_bytes(line) + b"\r\n" for line in lines) + b"\r\n"
        writer._headers_buf = head  # type: ignore[attr-defined]  # see above
        if self._send_headers_immediately:
            writer.send_headers()


class _IsoResponse(_IsoHeaders, web.Response):
    """`web.Response` with ISO-8859-1 header values."""


def _beyond_ascii(headers: Sequence[tuple[str, str]]) -> bool:
    return any(not value.isascii() for _, value in headers)


def stub_response(prepared: PreparedResponse) -> web.Response:
    # web.Response copies the headers into its own CIMultiDict: no copy of ours first
    kind = _IsoResponse if _beyond_ascii(prepared.headers) else web.Response
    response = kind(status=prepared.status, headers=prepared.headers, body=prepared.body)
    if prepared.close:
        response.force_close()  # aiohttp writes `Connection: close` and closes after the answer
    return response


class _Written(web.StreamResponse):
    """What the handler returns once it has written a whole answer itself: aiohttp's prepare
    and write_eof have nothing left to do but wait for a slow reader, and the connection stays
    open. Stateless, so one instance serves every such request."""

    async def prepare(self, request: web.BaseRequest) -> None:
        if request.protocol.writing_paused:  # the client reads slower than it asks
            await request.writer.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        return None

    @property
    def keep_alive(self) -> bool:
        return True


_WRITTEN: Final = _Written()


class _DateLines:
    """The Date and Server lines that end a head, formatted once a second."""

    __slots__ = ("lines", "second")

    def __init__(self) -> None:
        self.second = -1
        self.lines = b""

    def at(self, now: float) -> bytes:
        second = int(now)
        if second != self.second:
            date = formatdate(second, usegmt=True)
            self.lines = f"Date: {date}\r\nServer: {SERVER_SOFTWARE}\r\n\r\n".encode()
            self.second = second
        return self.lines


_date_lines: Final = _DateLines()


def send_prepared(
    request: web.BaseRequest, prepared: PreparedResponse, now: float
) -> web.StreamResponse:
    """Send a fixed answer: its head serialised at load, the date, the body, in one write.

    Building an aiohttp Response for the same bytes costs about a quarter of a plain answer's
    time. Only a keep-alive HTTP/1.1 exchange qualifies; anything else (HEAD, HTTP/1.0,
    `Connection: close`, a head the HTTP layer must write) goes through aiohttp's Response."""
    head = prepared.head
    transport = request.transport
    if (
        head is None
        or transport is None
        or transport.is_closing()
        or request.version != HttpVersion11
        or not request.keep_alive
        or request.method == "HEAD"
    ):
        response = stub_response(prepared)
        if prepared.head_length is not None and request.method == "HEAD":
            response.headers["Content-Length"] = prepared.head_length  # as the stub says
        return response
    transport.write(b"".join((head, _date_lines.at(now), prepared.body)))
    return _WRITTEN


def render_answer(
    prepared: PreparedResponse, templates: ResponseTemplates, context: dict[str, object]
) -> PreparedResponse:
    """Render a `template: true` response into a fixed one (its head serialised like a stub's
    at load); a TemplateError propagates to the caller."""
    rendered = tuple(
        (name, render_header(renderable, context)) for name, renderable in templates.headers
    )
    replaced = {name.lower() for name, _ in rendered}
    headers = (
        tuple((name, value) for name, value in prepared.headers if name.lower() not in replaced)
        + rendered
    )
    body = prepared.body
    if templates.body is not None:
        if templates.body_is_json:
            value = templates.body.render(context)
            body = json_bytes(value)
        else:
            body = render_text(templates.body, context).encode("utf-8")
    return PreparedResponse(prepared.status, headers, body, close=prepared.close)


def template_error_response(stub_id: str, error: TemplateError) -> web.Response:
    """500 naming the stub and the template's failure; the server goes on serving."""
    return json_response(
        500,
        {
            "error": f"template error in stub {stub_id!r}: {error.message}",
            "stub_id": stub_id,
            "details": [{"field": error.field, "message": error.reason}],
        },
    )


def break_connection(request: web.BaseRequest, fault: str) -> FaultSent:
    """Break the connection as the fault says; the caller raises the returned FaultSent.

    connection_reset: TCP RST (the client sees "connection reset by peer");
    empty_response: a clean close with no bytes; malformed_response: bytes that are not HTTP.
    """
    transport = request.transport
    if transport is not None:
        if fault == "connection_reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            transport.abort()
        elif fault == "malformed_response":
            transport.write(_NOT_HTTP)
            transport.close()
        else:
            transport.close()
    return FaultSent(fault)


async def stream_response(
    request: web.BaseRequest, prepared: PreparedResponse, parts: Sequence[bytes]
) -> web.StreamResponse:
    """Send SSE frames or chunks one by one, flushed, `interval_ms` apart.

    A client that hangs up ends the stream quietly: it was journaled before the first byte.
    HTTP/1.1 gets chunked encoding; HTTP/1.0 has none, so the stream is close-delimited: no
    length, and the end of the body is the end of the connection.
    """
    kind = _IsoHeaders if _beyond_ascii(prepared.headers) else web.StreamResponse
    response = kind(status=prepared.status, headers=CIMultiDict(prepared.headers))
    if request.method == "HEAD":  # the head a GET would get, and no body: nothing to stream
        await response.prepare(request)
        await response.write_eof()
        return response
    if prepared.close or request.version < HttpVersion11:
        response.force_close()
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    interval = prepared.interval_ms / 1000
    try:
        for index, part in enumerate(parts):
            if index and interval:
                await asyncio.sleep(interval)
            await response.write(part)
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client went away mid-stream
    return response


def json_response(status: int, payload: Any) -> web.Response:
    return web.Response(
        status=status,
        headers=_JSON_HEADERS,
        body=json_bytes(payload, compact=False),
    )


def request_summary(request: IncomingRequest) -> dict[str, Any]:
    """The request as received, for the 404 body."""
    text = request.text
    summary: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": dict(request.headers),
        "body": text if text is not None else f"<{request.body_size} bytes of binary data>",
    }
    return summary


def unmatched_body(request: IncomingRequest, near_misses: Sequence[NearMiss]) -> dict[str, Any]:
    """The 404's body: the request as received and the stubs that came closest."""
    return {
        "error": f"no stub matched {request.method} {request.path}",
        "request": request_summary(request),
        "near_misses": [near_miss.to_json() for near_miss in near_misses],
    }


def unmatched_explanation(
    request: IncomingRequest, near_misses: Sequence[NearMiss]
) -> dict[str, Any]:
    """Why nothing matched, as `miss` in an `unmatched: true` stub's templates: the 404's body,
    plus `message`, the same on one line (for an error message an SDK shows)."""
    explanation = unmatched_body(request, near_misses)
    message = explanation["error"]
    if near_misses:
        message += f"; closest: {near_misses[0].describe()}"
    explanation["message"] = message
    return explanation


def unmatched_response(request: IncomingRequest, near_misses: Sequence[NearMiss]) -> web.Response:
    """404 that explains itself: the request and the stubs that came closest."""
    return json_response(404, unmatched_body(request, near_misses))


def too_large_response(size: int, limit: int) -> web.Response:
    return json_response(
        413,
        {
            "error": f"request body of {size} bytes exceeds the limit of {limit} bytes",
            "details": [{"field": "body", "message": "raise it with --max-body"}],
        },
    )
